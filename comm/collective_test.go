package comm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
)

// payload is rank r's deterministic contribution to step op: some empty, most not,
// of varying length.
func payload(r, op int) []byte {
	n := (r*7 + op*3) % 13
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r*31 + op*17 + i)
	}
	return b
}

// part is what rank src sends rank dst in a scatter or all-to-all.
func part(src, dst int) []byte { return payload(src*1000+dst, 5) }

func concat(a, b []byte) []byte { return append(append(make([]byte, 0, len(a)+len(b)), a...), b...) }

func equalParts(got, want [][]byte) error {
	if len(got) != len(want) {
		return fmt.Errorf("%d parts, want %d", len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			return fmt.Errorf("part %d = %v, want %v", i, got[i], want[i])
		}
	}
	return nil
}

// reference is what a plain sequential program computes for the checks below.
type reference struct {
	n         int
	roots     []int
	all       [][]byte // payload(r, opGather) for every r
	concatAll []byte
	sum, mn   []int64
	mx        []int64
	fsum      []float64
}

const (
	opBroadcast = iota
	opGather
	opReduce
)

func contribution(r int) []int64 {
	return []int64{int64(r), int64(r * r), int64(-r), int64(1000 - 3*r), int64(r % 5)}
}

func newReference(n int) *reference {
	ref := &reference{n: n, roots: slices.Compact([]int{0, n - 1, n / 2})}
	var mn, mx []int64
	sum := make([]int64, 5)
	fsum := make([]float64, 5)
	for r := range n {
		ref.all = append(ref.all, payload(r, opGather))
		ref.concatAll = concat(ref.concatAll, payload(r, opReduce))
		v := contribution(r)
		if r == 0 {
			mn, mx = slices.Clone(v), slices.Clone(v)
		}
		for i := range v {
			sum[i] += v[i]
			fsum[i] += float64(v[i])
			mn[i], mx[i] = min(mn[i], v[i]), max(mx[i], v[i])
		}
	}
	ref.sum, ref.mn, ref.mx, ref.fsum = sum, mn, mx, fsum
	return ref
}

// check runs every operation on one worker and compares it with the reference.
func (ref *reference) check(ctx context.Context, w *Worker) error {
	r, n := w.Rank(), w.Size()
	// Point-to-point, interleaved with the collectives: sent now, received at the end.
	next, prev := (r+1)%n, (r-1+n)%n
	if err := w.Send(ctx, next, payload(r, 100)); err != nil {
		return err
	}
	if err := w.Send(ctx, next, payload(r, 101)); err != nil {
		return err
	}
	if err := w.Send(ctx, r, payload(r, 102)); err != nil {
		return err
	}
	for _, root := range ref.roots {
		got, err := w.Broadcast(ctx, root, payload(root, opBroadcast))
		if err != nil {
			return err
		}
		if want := payload(root, opBroadcast); !bytes.Equal(got, want) {
			return fmt.Errorf("broadcast from %d: got %v, want %v", root, got, want)
		}
	}
	for _, root := range ref.roots {
		var parts [][]byte
		if r == root {
			for d := range n {
				parts = append(parts, part(root, d))
			}
		}
		got, err := w.Scatter(ctx, root, parts)
		if err != nil {
			return err
		}
		if want := part(root, r); !bytes.Equal(got, want) {
			return fmt.Errorf("scatter from %d: got %v, want %v", root, got, want)
		}
	}
	for _, root := range ref.roots {
		got, err := w.Gather(ctx, root, payload(r, opGather))
		if err != nil {
			return err
		}
		if r != root && got != nil {
			return fmt.Errorf("gather to %d: non-root got %d parts", root, len(got))
		}
		if r == root {
			if err := equalParts(got, ref.all); err != nil {
				return fmt.Errorf("gather to %d: %w", root, err)
			}
		}
	}
	all, err := w.AllGather(ctx, payload(r, opGather))
	if err != nil {
		return err
	}
	if err := equalParts(all, ref.all); err != nil {
		return fmt.Errorf("allgather: %w", err)
	}
	parts := make([][]byte, n)
	for d := range n {
		parts[d] = part(r, d)
	}
	got, err := w.AllToAll(ctx, parts)
	if err != nil {
		return err
	}
	want := make([][]byte, n)
	for s := range n {
		want[s] = part(s, r)
	}
	if err := equalParts(got, want); err != nil {
		return fmt.Errorf("all-to-all: %w", err)
	}
	for _, root := range ref.roots {
		red, err := w.Reduce(ctx, root, payload(r, opReduce), concat)
		if err != nil {
			return err
		}
		if r == root && !bytes.Equal(red, ref.concatAll) {
			return fmt.Errorf("reduce to %d: got %v, want %v", root, red, ref.concatAll)
		}
		if r != root && red != nil {
			return fmt.Errorf("reduce to %d: non-root got %v", root, red)
		}
	}
	red, err := w.AllReduce(ctx, payload(r, opReduce), concat)
	if err != nil {
		return err
	}
	if !bytes.Equal(red, ref.concatAll) {
		return fmt.Errorf("allreduce: got %v, want %v", red, ref.concatAll)
	}
	if err := w.Barrier(ctx); err != nil {
		return err
	}
	for _, c := range []struct {
		name string
		op   func(a, b int64) int64
		want []int64
	}{{"sum", Sum[int64], ref.sum}, {"min", Min[int64], ref.mn}, {"max", Max[int64], ref.mx}} {
		got, err := AllReduceSlice(ctx, w, contribution(r), c.op)
		if err != nil {
			return err
		}
		if !slices.Equal(got, c.want) {
			return fmt.Errorf("allreduce %s: got %v, want %v", c.name, got, c.want)
		}
		root := n - 1
		got, err = ReduceSlice(ctx, w, root, contribution(r), c.op)
		if err != nil {
			return err
		}
		if r == root && !slices.Equal(got, c.want) {
			return fmt.Errorf("reduce %s: got %v, want %v", c.name, got, c.want)
		}
	}
	fv := make([]float64, 5)
	for i, x := range contribution(r) {
		fv[i] = float64(x)
	}
	fsum, err := AllReduceSlice(ctx, w, fv, Sum[float64])
	if err != nil {
		return err
	}
	if !slices.Equal(fsum, ref.fsum) {
		return fmt.Errorf("allreduce float64 sum: got %v, want %v", fsum, ref.fsum)
	}
	for i, op := range []int{100, 101} {
		got, err := w.Recv(ctx, prev)
		if err != nil {
			return err
		}
		if want := payload(prev, op); !bytes.Equal(got, want) {
			return fmt.Errorf("recv %d from %d: got %v, want %v", i, prev, got, want)
		}
	}
	self, err := w.Recv(ctx, r)
	if err != nil {
		return err
	}
	if want := payload(r, 102); !bytes.Equal(self, want) {
		return fmt.Errorf("recv from self: got %v, want %v", self, want)
	}
	return w.Barrier(ctx)
}

// layouts are the burst sizes × granularities of the acceptance list.
func layouts() [][2]int {
	var out [][2]int
	for _, n := range []int{1, 2, 3, 5, 8, 17, 64} {
		var gs []int
		for _, g := range []int{1, 2, 3, n} {
			if g <= n && !slices.Contains(gs, g) {
				gs = append(gs, g)
			}
		}
		for _, g := range gs {
			out = append(out, [2]int{n, g})
		}
	}
	return out
}

func TestCollectives(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			transport := tr.make(t)
			for _, l := range layouts() {
				n, g := l[0], l[1]
				t.Run(fmt.Sprintf("n=%d/g=%d", n, g), func(t *testing.T) {
					if testing.Short() && tr.name == "jetstream" && n > 8 {
						t.Skip("large jetstream layouts in -short mode")
					}
					grp := newGroup(t, Config{Size: n, Granularity: g, Transport: transport})
					ref := newReference(n)
					if err := run(t, grp, ref.check); err != nil {
						t.Fatal(err)
					}
				})
			}
		})
	}
}

// TestSameResultEveryGranularity checks that what every rank receives does not depend on
// how ranks are packed: the digest of everything received is compared across layouts.
func TestSameResultEveryGranularity(t *testing.T) {
	const n = 12
	var first []string
	for _, g := range []int{1, 2, 3, 4, 5, 12} {
		grp := newGroup(t, Config{Size: n, Granularity: g, Transport: NewMemoryTransport()})
		got := make([]string, n)
		err := run(t, grp, func(ctx context.Context, w *Worker) error {
			var b bytes.Buffer
			x, err := w.Broadcast(ctx, 7, payload(7, 1))
			if err != nil {
				return err
			}
			b.Write(x)
			all, err := w.AllGather(ctx, payload(w.Rank(), 2))
			if err != nil {
				return err
			}
			for _, p := range all {
				b.Write(p)
			}
			parts := make([][]byte, n)
			for d := range parts {
				parts[d] = part(w.Rank(), d)
			}
			swapped, err := w.AllToAll(ctx, parts)
			if err != nil {
				return err
			}
			for _, p := range swapped {
				b.Write(p)
			}
			red, err := w.AllReduce(ctx, payload(w.Rank(), 3), concat)
			if err != nil {
				return err
			}
			b.Write(red)
			sum, err := AllReduceSlice(ctx, w, contribution(w.Rank()), Sum[int64])
			if err != nil {
				return err
			}
			b.Write(Bytes(sum))
			got[w.Rank()] = b.String()
			return nil
		})
		if err != nil {
			t.Fatalf("g=%d: %v", g, err)
		}
		if first == nil {
			first = got
			continue
		}
		for r := range got {
			if got[r] != first[r] {
				t.Errorf("g=%d: rank %d received something else than with g=1", g, r)
			}
		}
	}
}

func TestBadArguments(t *testing.T) {
	grp := newGroup(t, Config{Size: 4, Granularity: 2, Transport: NewMemoryTransport()})
	w := grp.Workers()[1]
	ctx := context.Background()
	tests := []struct {
		name string
		call func() error
	}{
		{"send to -1", func() error { return w.Send(ctx, -1, nil) }},
		{"send to size", func() error { return w.Send(ctx, 4, nil) }},
		{"recv from 9", func() error { _, err := w.Recv(ctx, 9); return err }},
		{"broadcast root 4", func() error { _, err := w.Broadcast(ctx, 4, nil); return err }},
		{"scatter wrong parts at root", func() error { _, err := w.Scatter(ctx, 1, make([][]byte, 3)); return err }},
		{"gather root -2", func() error { _, err := w.Gather(ctx, -2, nil); return err }},
		{"all-to-all wrong parts", func() error { _, err := w.AllToAll(ctx, make([][]byte, 5)); return err }},
		{"reduce nil op", func() error { _, err := w.Reduce(ctx, 0, nil, nil); return err }},
		{"allreduce nil op", func() error { _, err := w.AllReduce(ctx, nil, nil); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); err == nil || !errorsIs(err, ErrBadArgument) {
				t.Fatalf("err = %v, want ErrBadArgument", err)
			}
		})
	}
	configs := []struct {
		name string
		cfg  Config
	}{
		{"size 0", Config{Flare: "f", Size: 0, Granularity: 1, Transport: NewMemoryTransport()}},
		{"granularity 0", Config{Flare: "f", Size: 2, Granularity: 0, Transport: NewMemoryTransport()}},
		{"granularity > size", Config{Flare: "f", Size: 2, Granularity: 3, Transport: NewMemoryTransport()}},
		{"no transport", Config{Flare: "f", Size: 2, Granularity: 1}},
		{"flare with a dot", Config{Flare: "a.b", Size: 2, Granularity: 1, Transport: NewMemoryTransport()}},
		{"empty flare", Config{Size: 2, Granularity: 1, Transport: NewMemoryTransport()}},
	}
	for _, c := range configs {
		t.Run(c.name, func(t *testing.T) {
			if _, err := NewGroup(ctx, c.cfg); !errorsIs(err, ErrBadArgument) {
				t.Fatalf("err = %v, want ErrBadArgument", err)
			}
		})
	}
	if _, err := NewPack(ctx, Config{Flare: "f", Size: 4, Granularity: 2, Transport: NewMemoryTransport()}, 2); !errorsIs(err, ErrBadArgument) {
		t.Fatalf("pack 2 of 2: err = %v, want ErrBadArgument", err)
	}
}

// Packs of uneven sizes (Config.Bounds, as a joined flare's packs placed together are)
// give every collective the reference's answers, on every transport.
func TestUnevenPacks(t *testing.T) {
	cases := []struct {
		n      int
		bounds []int
	}{
		{8, []int{0, 5}},
		{8, []int{0, 1, 4}},
		{8, []int{0, 2, 3, 7}},
		{17, []int{0, 8, 9, 16}},
		{5, []int{0}},
	}
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			transport := tr.make(t)
			for _, c := range cases {
				t.Run(fmt.Sprintf("n=%d/bounds=%v", c.n, c.bounds), func(t *testing.T) {
					grp := newGroup(t, Config{Size: c.n, Granularity: 1, Bounds: c.bounds, Transport: transport})
					if got := len(grp.Packs()); got != len(c.bounds) {
						t.Fatalf("%d packs, want %d", got, len(c.bounds))
					}
					if err := run(t, grp, newReference(c.n).check); err != nil {
						t.Fatal(err)
					}
				})
			}
		})
	}
}

func TestBadBounds(t *testing.T) {
	for _, bounds := range [][]int{{}, {1, 4}, {0, 4, 4}, {0, 5, 3}, {0, 8}, {0, -1}} {
		_, err := NewPack(context.Background(), Config{Flare: "f", Size: 8, Granularity: 1, Bounds: bounds, Transport: NewMemoryTransport()}, 0)
		if !errors.Is(err, ErrBadArgument) {
			t.Errorf("bounds %v: %v", bounds, err)
		}
	}
	cfg := Config{Size: 10, Bounds: []int{0, 3, 7}}
	for r, want := range []int{0, 0, 0, 1, 1, 1, 1, 2, 2, 2} {
		if got := cfg.PackOf(r); got != want {
			t.Errorf("PackOf(%d) = %d, want %d", r, got, want)
		}
	}
	if first, end := cfg.PackRanks(2); first != 7 || end != 10 {
		t.Errorf("PackRanks(2) = %d, %d", first, end)
	}
}
