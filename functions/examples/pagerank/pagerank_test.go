package pagerank

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/burstgo/burst/comm"
	"github.com/burstgo/burst/functions/examples/dataset"
	"github.com/burstgo/burst/functions/examples/flaretest"
)

// reference is sequential PageRank by power iteration over the whole graph, written
// apart from the package's code. It returns the ranks and the iterations done.
func reference(n int64, offsets []int64, targets []uint32, d, tol float64, iters int) ([]float64, int) {
	pr := make([]float64, n)
	for i := range pr {
		pr[i] = 1 / float64(n)
	}
	for it := 1; ; it++ {
		next := make([]float64, n)
		dangling := 0.0
		for u := range n {
			deg := offsets[u+1] - offsets[u]
			if deg == 0 {
				dangling += pr[u]
				continue
			}
			for _, v := range targets[offsets[u]:offsets[u+1]] {
				next[v] += pr[u] / float64(deg)
			}
		}
		delta := 0.0
		for v := range next {
			next[v] = (1-d)/float64(n) + d*(next[v]+dangling/float64(n))
			delta += math.Abs(next[v] - pr[v])
		}
		pr = next
		if delta <= tol || it == iters {
			return pr, it
		}
	}
}

func l1(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += math.Abs(a[i] - b[i])
	}
	return s
}

// topOf returns the k nodes of highest rank, ties by lower id.
func topOf(pr []float64, k int) []int64 {
	ids := make([]int64, len(pr))
	for i := range ids {
		ids[i] = int64(i)
	}
	slices.SortStableFunc(ids, func(a, b int64) int {
		if pr[a] != pr[b] {
			if pr[a] > pr[b] {
				return -1
			}
			return 1
		}
		return 0
	})
	return ids[:min(k, len(ids))]
}

// runFlare runs PageRank on a flare and returns every rank's result and the whole
// PageRank vector, the ranks' shares put together.
func runFlare(t *testing.T, l flaretest.Layout, b flaretest.Backend, in Input) ([]Result, []float64) {
	t.Helper()
	results, pr, _, err := flaretest.RunParts(t, l, b, func(ctx context.Context, w *comm.Worker) (Result, []float64, error) {
		return run(ctx, w, in)
	})
	if err != nil {
		t.Fatalf("%v: %v", l, err)
	}
	return results, pr
}

func parse(t *testing.T, input string) Input {
	t.Helper()
	in, err := ParseInput(json.RawMessage(input))
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func TestPageRankMatchesReference(t *testing.T) {
	tests := []struct {
		name  string
		input string
	}{
		{"power law", `{"generate": {"nodes": 3000, "degree": 6, "seed": 1}, "tolerance": 1e-10, "top": 5}`},
		{"dense", `{"generate": {"nodes": 500, "degree": 40, "seed": 2}, "tolerance": 1e-10}`},
		{"iteration bound", `{"generate": {"nodes": 2000, "seed": 3}, "iterations": 4, "damping": 0.5}`},
		{"tiny", `{"generate": {"nodes": 9, "degree": 2, "seed": 4}, "tolerance": 1e-12}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := parse(t, tt.input)
			g := in.Generate
			offsets, targets := g.Generate(0, g.Nodes)
			want, iters := reference(g.Nodes, offsets, targets, in.Damping, in.Tolerance, in.Iterations)
			bySize := map[int][]float64{}
			for _, l := range flaretest.Layouts {
				results, got := runFlare(t, l, flaretest.Memory, in)
				if d := l1(got, want); d > 1e-6 {
					t.Errorf("size %d, g %d: L1 distance %v from the reference", l.Size, l.Granularity, d)
				}
				sum := 0.0
				for _, x := range got {
					sum += x
				}
				if math.Abs(sum-1) > 1e-9 {
					t.Errorf("size %d, g %d: ranks sum to %v", l.Size, l.Granularity, sum)
				}
				r0 := results[0]
				if r0.Iterations < iters-1 || r0.Iterations > iters+1 || r0.TotalNodes != g.Nodes {
					t.Errorf("size %d, g %d: %d iterations of %d nodes; the reference did %d", l.Size, l.Granularity, r0.Iterations, r0.TotalNodes, iters)
				}
				var ids []int64
				for _, nd := range r0.Top {
					ids = append(ids, nd.Node)
					if nd.PageRank != got[nd.Node] {
						t.Errorf("size %d, g %d: top node %d has %v, its rank is %v", l.Size, l.Granularity, nd.Node, nd.PageRank, got[nd.Node])
					}
				}
				if wantTop := topOf(want, in.Top); !slices.Equal(ids, wantTop) {
					t.Errorf("size %d, g %d: top %v, want %v", l.Size, l.Granularity, ids, wantTop)
				}
				var edges int64
				for _, r := range results {
					edges += r.Edges
				}
				if edges != int64(len(targets)) {
					t.Errorf("size %d, g %d: the ranks hold %d edges of %d", l.Size, l.Granularity, edges, len(targets))
				}
				// Granularity only regroups the sums (packs combine first): the same
				// ranks to rounding.
				if prev, ok := bySize[l.Size]; !ok {
					bySize[l.Size] = got
				} else if d := l1(prev, got); d > 1e-12 {
					t.Errorf("size %d: g %d gives other ranks than g 1 (L1 %v)", l.Size, l.Granularity, d)
				}
			}
		})
	}
}

// A small graph worked by hand: a cycle 0→1→2→0 has ranks 1/3 each; node 3 with no
// edges in either direction gets only the teleport and dangling share.
func TestPageRankByHand(t *testing.T) {
	path := flaretest.TempFile(t, "cycle.txt", "0 1\n1 2\n2 0\n")
	for _, tt := range []struct {
		input string
		want  []float64
	}{
		{`{"file": "` + path + `", "tolerance": 1e-14}`, []float64{1.0 / 3, 1.0 / 3, 1.0 / 3}},
		// With node 3 dangling: r3 = 0.15/4 + 0.85·r3/4, so r3 = 0.15/3.15; the cycle
		// shares the rest.
		{`{"file": "` + path + `", "nodes": 4, "tolerance": 1e-14}`, []float64{(1 - 0.15/3.15) / 3, (1 - 0.15/3.15) / 3, (1 - 0.15/3.15) / 3, 0.15 / 3.15}},
	} {
		_, got := runFlare(t, flaretest.Layout{Size: 2, Granularity: 1}, flaretest.Memory, parse(t, tt.input))
		if len(got) != len(tt.want) || l1(got, tt.want) > 1e-12 {
			t.Errorf("%s: got %v, want %v", tt.input, got, tt.want)
		}
	}
}

// An edge list read in byte ranges and shuffled to the sources' owners gives the very
// same ranks as the same graph generated.
func TestPageRankFromFile(t *testing.T) {
	g := dataset.Graph{Nodes: 2500, Degree: 5, Seed: 11}
	path := flaretest.TempFileOf(t, "edges.txt", g.WriteEdgeList)
	gen := parse(t, `{"generate": {"nodes": 2500, "degree": 5, "seed": 11}}`)
	file := parse(t, fmt.Sprintf(`{"file": %q, "nodes": 2500}`, path))
	for _, l := range []flaretest.Layout{{Size: 1, Granularity: 1}, {Size: 4, Granularity: 2}, {Size: 8, Granularity: 8}} {
		_, want := runFlare(t, l, flaretest.Memory, gen)
		_, got := runFlare(t, l, flaretest.Memory, file)
		if !slices.Equal(got, want) {
			t.Errorf("size %d, g %d: the file gives other ranks (L1 %v)", l.Size, l.Granularity, l1(got, want))
		}
	}
}

// Remote traffic falls as granularity grows, and is nil for one pack; the counters
// every rank reports add up to the flare's.
func TestPageRankCounters(t *testing.T) {
	in := parse(t, `{"generate": {"nodes": 4000, "seed": 5}, "iterations": 10}`)
	remote := map[int]int64{}
	for _, g := range []int{1, 2, 4, 8} {
		results, _ := runFlare(t, flaretest.Layout{Size: 8, Granularity: g}, flaretest.Memory, in)
		var c comm.Counters
		for _, r := range results {
			c = c.Add(r.Comm)
		}
		remote[g] = c.RemoteBytes
		if c.LocalMessages+c.RemoteMessages == 0 {
			t.Errorf("g %d: no traffic counted", g)
		}
	}
	if remote[8] != 0 || !(remote[1] > remote[2] && remote[2] > remote[4] && remote[4] > 0) {
		t.Errorf("remote bytes by granularity %v, want falling to 0", remote)
	}
	// Two packs of four combine their contributions per pack: about the traffic of two
	// workers alone (the scalar allgathers add a little), where sending per rank would
	// cost several times more.
	results, _ := runFlare(t, flaretest.Layout{Size: 2, Granularity: 1}, flaretest.Memory, in)
	two := results[0].Comm.RemoteBytes + results[1].Comm.RemoteBytes
	if float64(remote[4]) > 1.1*float64(two) {
		t.Errorf("two packs of 4 send %d remote bytes, two workers %d: the packs do not combine", remote[4], two)
	}
	t.Logf("remote bytes: %v; two workers alone: %d", remote, two)
}

func TestPageRankOverNATS(t *testing.T) {
	nats := flaretest.NATS(t)
	in := parse(t, `{"generate": {"nodes": 3000, "seed": 6}, "tolerance": 1e-10}`)
	offsets, targets := in.Generate.Generate(0, 3000)
	want, _ := reference(3000, offsets, targets, 0.85, 1e-10, 200)
	results, got := runFlare(t, flaretest.Layout{Size: 4, Granularity: 2}, nats, in)
	if d := l1(got, want); d > 1e-6 {
		t.Errorf("L1 distance %v", d)
	}
	if results[0].Comm.RemoteBytes == 0 {
		t.Error("no remote bytes counted over NATS between two packs")
	}
}

func TestBurst(t *testing.T) {
	results, err := flaretest.Burst(t, flaretest.Layout{Size: 3, Granularity: 3}, Burst, `{"generate": {"nodes": 1000, "seed": 1}, "top": 3}`)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(results[0])
	var r0 Result
	if err := json.Unmarshal(b, &r0); err != nil || len(r0.Top) != 3 || r0.TotalNodes != 1000 || !r0.Converged || r0.Comm.LocalMessages == 0 {
		t.Errorf("rank 0 answered %s", b)
	}
	b, _ = json.Marshal(results[2])
	if strings.Contains(string(b), "top") || !strings.Contains(string(b), `"comm":{`) {
		t.Errorf("rank 2 answered %s", b)
	}
}

func TestBurstBadInput(t *testing.T) {
	bad := flaretest.TempFile(t, "bad.txt", "0 1\n1 x\n")
	big := flaretest.TempFile(t, "big.txt", "0 1\n1 99\n")
	empty := flaretest.TempFile(t, "empty.txt", "# nothing\n")
	tests := []struct {
		name, input string
		size        int
		want        string
	}{
		{"no input", ``, 2, "no input"},
		{"unknown field", `{"file": "x", "dampin": 0.8}`, 2, "unknown field"},
		{"no source", `{"top": 3}`, 2, "exactly one"},
		{"nodes with generate", `{"generate": {"nodes": 10}, "nodes": 10}`, 2, `"nodes" goes with "file"`},
		{"damping", `{"file": "x", "damping": 1.5}`, 2, "damping"},
		{"tolerance", `{"file": "x", "tolerance": -1}`, 2, "tolerance"},
		{"top", `{"file": "x", "top": 100000}`, 2, "top"},
		{"bad generator", `{"generate": {"nodes": 0}}`, 2, "0 nodes"},
		{"more workers than nodes", `{"generate": {"nodes": 3}}`, 4, "at most one worker per node"},
		{"missing file", `{"file": "/nonexistent/edges.txt"}`, 2, "no such file"},
		{"bad line", `{"file": "` + bad + `"}`, 2, "node id"},
		{"id beyond nodes", `{"file": "` + big + `", "nodes": 50}`, 2, `node id 99, but "nodes" is 50`},
		{"no edges", `{"file": "` + empty + `"}`, 2, "no edges"},
		{"too many nodes for a file", `{"file": "` + big + `", "nodes": 2147483647}`, 2, "1073741824 nodes per worker is too many"},
		{"too many nodes generated", `{"generate": {"nodes": 2147483647, "degree": 1}}`, 4, "536870912 nodes per worker is too many"},
	}
	for _, tt := range tests {
		_, err := flaretest.Burst(t, flaretest.Layout{Size: tt.size, Granularity: 1}, Burst, tt.input)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want an error with %q", tt.name, err, tt.want)
		}
	}
}

// TestPageRankOutput: "output" writes every node's PageRank, each rank its part, and
// together they are the whole vector, in node order.
func TestPageRankOutput(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ranks")
	in := parse(t, fmt.Sprintf(`{"generate": {"nodes": 1003, "degree": 4, "seed": 5}, "output": %q}`, dir))
	results, want := runFlare(t, flaretest.Layout{Size: 3, Granularity: 2}, flaretest.Memory, in)
	var got []float64
	for r, res := range results {
		if res.File != filepath.Join(dir, fmt.Sprintf("part-%05d", r)) {
			t.Fatalf("rank %d wrote %q", r, res.File)
		}
		b, err := os.ReadFile(res.File)
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.Lines(string(b)) {
			var node int64
			var pr float64
			if _, err := fmt.Sscan(line, &node, &pr); err != nil || node != int64(len(got)) {
				t.Fatalf("rank %d: line %q: %v, want node %d", r, line, err, len(got))
			}
			got = append(got, pr)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("the parts are not the vector: %d values against %d (L1 %v)", len(got), len(want), l1(got, want))
	}
}
