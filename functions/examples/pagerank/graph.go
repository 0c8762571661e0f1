package pagerank

import (
	"context"
	"fmt"
	"slices"

	"github.com/burstgo/burst/comm"
	"github.com/burstgo/burst/functions/examples/dataset"
	"github.com/burstgo/burst/functions/examples/flareinput"
)

// MaxWorkerEdges and MaxWorkerNodes bound the edges (about 2 GiB with the plan) and
// the nodes (about 2 GiB with their offsets and PageRanks) that one worker holds, so
// that a large graph asks for a larger burst rather than exhausting an invoker.
const (
	MaxWorkerEdges = 1 << 28
	MaxWorkerNodes = 1 << 26
)

// part is one rank's share of the graph: nodes [lo, hi) of n and their out-edges, node
// lo+i's targets being targets[offsets[i]:offsets[i+1]].
type part struct {
	n, lo, hi int64
	offsets   []int64
	targets   []uint32
}

// owner is the rank whose block holds node v, the inverse of dataset.Split.
func owner(v, n int64, size int) int {
	return int(((v+1)*int64(size) - 1) / n)
}

// largestBlock is the most nodes dataset.Split gives one of size ranks.
func largestBlock(n int64, size int) int64 { return (n + int64(size) - 1) / int64(size) }

// checkNodes refuses a graph whose largest block of nodes is over MaxWorkerNodes. It
// looks at the largest block, not the rank's own, so that every rank says the same.
func checkNodes(n int64, size int) error {
	if most := largestBlock(n, size); most > MaxWorkerNodes {
		return fmt.Errorf("pagerank: %d nodes per worker is too many: use a larger burst", most)
	}
	return nil
}

// loadPart makes or reads this rank's share of the graph.
func loadPart(ctx context.Context, w *comm.Worker, in Input) (*part, error) {
	if g := in.Generate; g != nil {
		p := &part{n: g.Nodes}
		if err := checkNodes(g.Nodes, w.Size()); err != nil {
			return nil, err
		}
		if most := largestBlock(g.Nodes, w.Size()); float64(most)*g.Degree > MaxWorkerEdges {
			return nil, fmt.Errorf("pagerank: about %.0f edges per worker is too many: use a larger burst", float64(most)*g.Degree)
		}
		p.lo, p.hi = dataset.Split(g.Nodes, w.Size(), w.Rank())
		p.offsets, p.targets = g.Generate(p.lo, p.hi)
		return p, nil
	}
	from, close, err := flareinput.Open(ctx, w, in.File, in.Dataset)
	if err != nil {
		return nil, fmt.Errorf("pagerank: %w", err)
	}
	src, dst, err := dataset.ReadEdges(from, w.Rank(), w.Size())
	close()
	if err != nil {
		return nil, fmt.Errorf("pagerank: %w", err)
	}
	largest := int64(-1)
	for i := range src {
		largest = max(largest, int64(src[i]), int64(dst[i]))
	}
	// Every rank decides on the same figures, the largest over the flare, so that a
	// bad input fails with one message whichever rank gets there first.
	all, err := comm.AllReduceSlice(ctx, w, []int64{largest, int64(len(src))}, comm.Max[int64])
	if err != nil {
		return nil, err
	}
	if all[1] > MaxWorkerEdges {
		return nil, fmt.Errorf("pagerank: %d edges per worker is too many: use a larger burst", all[1])
	}
	p := &part{n: all[0] + 1}
	if in.Nodes > 0 {
		if all[0] >= in.Nodes {
			return nil, fmt.Errorf("pagerank: %s has node id %d, but \"nodes\" is %d", from.Name(), all[0], in.Nodes)
		}
		p.n = in.Nodes
	}
	if p.n == 0 {
		return nil, fmt.Errorf("pagerank: %s has no edges; give \"nodes\" for a graph without any", from.Name())
	}
	if int64(w.Size()) > p.n {
		return nil, fmt.Errorf("pagerank: %d workers for %d nodes: use at most one worker per node", w.Size(), p.n)
	}
	if err := checkNodes(p.n, w.Size()); err != nil {
		return nil, err
	}
	p.lo, p.hi = dataset.Split(p.n, w.Size(), w.Rank())
	// Shuffle each edge to its source's owner: (source, target) pairs, in file order.
	pairs := make([][]uint32, w.Size())
	for i, s := range src {
		o := owner(int64(s), p.n, w.Size())
		pairs[o] = append(pairs[o], s, dst[i])
	}
	parts := make([][]byte, w.Size())
	for o, ps := range pairs {
		parts[o] = comm.Bytes(ps)
	}
	got, err := w.AllToAll(ctx, parts)
	if err != nil {
		return nil, err
	}
	// A stable counting sort by source keeps each node's edges in file order.
	m := p.hi - p.lo
	p.offsets = make([]int64, m+1)
	edges := 0
	for _, b := range got {
		ps := comm.Elements[uint32](b)
		for i := 0; i+1 < len(ps); i += 2 {
			if s := int64(ps[i]); s < p.lo || s >= p.hi {
				return nil, fmt.Errorf("pagerank: got an edge of node %d, not in [%d, %d)", s, p.lo, p.hi)
			}
			p.offsets[int64(ps[i])-p.lo+1]++
		}
		edges += len(ps) / 2
	}
	if edges > MaxWorkerEdges {
		return nil, fmt.Errorf("pagerank: %d edges per worker is too many: use a larger burst", edges)
	}
	for i := range m {
		p.offsets[i+1] += p.offsets[i]
	}
	p.targets = make([]uint32, edges)
	next := slices.Clone(p.offsets[:m])
	for _, b := range got {
		ps := comm.Elements[uint32](b)
		for i := 0; i+1 < len(ps); i += 2 {
			u := int64(ps[i]) - p.lo
			p.targets[next[u]] = ps[i+1]
			next[u]++
		}
	}
	return p, nil
}

// plan is how contributions travel. The rank sums its contributions into send, one
// slot per distinct target node (sorted, so grouped by owner: owner o's slots are
// send[bounds[o]:bounds[o+1]]), edge e adding to slot slot[e].
//
// Contributions to a rank of the same pack go to it as they are (in memory). Those to a
// rank o of another pack are first combined inside the pack: every worker hands its
// part for o to the pack's combiner for o, which adds up the pack's contributions per
// target node, so that one value per (pack, target node) crosses the network rather
// than one per (rank, target node). jobs are the destinations this worker combines for.
//
// From rank s the rank receives the values for its nodes recv[s] (local indices), in
// that order: its own pack's ranks' parts, and each other pack's combined part from
// that pack's combiner for it (nothing from the others).
type plan struct {
	slot   []int32
	bounds []int
	slots  int
	jobs   []job
	recv   [][]int32
}

// job is the combining for destination dest: the slots of the pack's worker i (in rank
// order) for dest add to the combined vector's entries into[i], of size entries.
type job struct {
	dest    int
	entries int
	into    [][]int32
}

// combiner is the worker of this pack that combines the pack's contributions to rank o.
func combiner(w *comm.Worker, o int) int {
	first, end := w.PackRanks()
	return first + o%(end-first)
}

// remote reports whether rank o is in another pack, and the pack has more than one
// worker to combine (for a pack of one, combining would only copy).
func remote(w *comm.Worker, o int) bool {
	first, end := w.PackRanks()
	return (o < first || o >= end) && end-first > 1
}

// handOut starts an exchange of the plan: it returns the all-to-all parts holding this
// worker's part(o) for every rank o it sends to directly, and sends its parts for the
// others to their combiners (their all-to-all parts are empty), leaving nil the parts
// for the ranks that it combines for itself.
func handOut(ctx context.Context, w *comm.Worker, part func(o int) []byte) ([][]byte, error) {
	parts := make([][]byte, w.Size())
	for o := range w.Size() {
		switch {
		case !remote(w, o):
			parts[o] = part(o)
		case combiner(w, o) != w.Rank():
			parts[o] = []byte{}
			if err := w.Send(ctx, combiner(w, o), part(o)); err != nil {
				return nil, err
			}
		}
	}
	return parts, nil
}

// collect returns every pack worker's part for a rank that this worker combines for, in
// rank order: its own, mine, and those the others sent it in handOut. Combiners call it
// for their ranks in increasing order, the order in which handOut sends.
func collect(ctx context.Context, w *comm.Worker, mine []byte) ([][]byte, error) {
	first, end := w.PackRanks()
	got := make([][]byte, end-first)
	for r := first; r < end; r++ {
		if r == w.Rank() {
			got[r-first] = mine
			continue
		}
		b, err := w.Recv(ctx, r)
		if err != nil {
			return nil, err
		}
		got[r-first] = b
	}
	return got, nil
}

// newPlan works out the slots and the combining, and swaps the target lists with every
// rank, once.
func newPlan(ctx context.Context, w *comm.Worker, p *part) (*plan, error) {
	// Sort the edges by target (a radix sort: linear, where a comparison sort and a
	// binary search per edge took most of a flare's time), then number the distinct
	// targets in order.
	keys := make([]uint64, len(p.targets))
	for e, v := range p.targets {
		keys[e] = uint64(v)<<32 | uint64(e)
	}
	keys = radixSortHigh(keys)
	pl := &plan{slot: make([]int32, len(p.targets)), bounds: make([]int, w.Size()+1)}
	var uniq []uint32
	for _, k := range keys {
		if v := uint32(k >> 32); len(uniq) == 0 || uniq[len(uniq)-1] != v {
			uniq = append(uniq, v)
		}
		pl.slot[uint32(k)] = int32(len(uniq) - 1)
	}
	pl.slots = len(uniq)
	for o := range w.Size() {
		lo, _ := dataset.Split(p.n, w.Size(), o)
		pl.bounds[o], _ = slices.BinarySearch(uniq, uint32(lo))
	}
	pl.bounds[w.Size()] = len(uniq)

	// Hand the target lists for other packs to their combiners, then combine.
	mine := func(o int) []byte { return comm.Bytes(uniq[pl.bounds[o]:pl.bounds[o+1]]) }
	parts, err := handOut(ctx, w, mine)
	if err != nil {
		return nil, err
	}
	for o := range w.Size() {
		if !remote(w, o) || combiner(w, o) != w.Rank() {
			continue
		}
		got, err := collect(ctx, w, mine(o))
		if err != nil {
			return nil, err
		}
		lists := make([][]uint32, len(got))
		var union []uint32
		for i, b := range got {
			lists[i] = comm.Elements[uint32](b)
			union = append(union, lists[i]...)
		}
		slices.Sort(union)
		union = slices.Compact(union)
		jb := job{dest: o, entries: len(union), into: make([][]int32, len(lists))}
		for i, l := range lists {
			jb.into[i] = make([]int32, len(l))
			for j, v := range l {
				at, _ := slices.BinarySearch(union, v)
				jb.into[i][j] = int32(at)
			}
		}
		pl.jobs = append(pl.jobs, jb)
		parts[o] = comm.Bytes(union)
	}

	got, err := w.AllToAll(ctx, parts)
	if err != nil {
		return nil, err
	}
	pl.recv = make([][]int32, w.Size())
	for s, b := range got {
		ids := comm.Elements[uint32](b)
		pl.recv[s] = make([]int32, len(ids))
		for i, v := range ids {
			if int64(v) < p.lo || int64(v) >= p.hi {
				return nil, fmt.Errorf("pagerank: rank %d sends values for node %d, not in [%d, %d)", s, v, p.lo, p.hi)
			}
			pl.recv[s][i] = int32(int64(v) - p.lo)
		}
	}
	return pl, nil
}

// exchange delivers the contributions in send as the plan says and returns what every
// rank sent to this one, in rank order.
func (pl *plan) exchange(ctx context.Context, w *comm.Worker, send []float64) ([][]byte, error) {
	mine := func(o int) []byte { return comm.Bytes(send[pl.bounds[o]:pl.bounds[o+1]]) }
	parts, err := handOut(ctx, w, mine)
	if err != nil {
		return nil, err
	}
	first, _ := w.PackRanks()
	for _, jb := range pl.jobs {
		got, err := collect(ctx, w, mine(jb.dest))
		if err != nil {
			return nil, err
		}
		sum := make([]float64, jb.entries)
		for i, into := range jb.into {
			vals := comm.Elements[float64](got[i])
			if len(vals) != len(into) {
				return nil, fmt.Errorf("pagerank: rank %d handed %d values to combine, want %d", first+i, len(vals), len(into))
			}
			for j, v := range vals {
				sum[into[j]] += v
			}
		}
		parts[jb.dest] = comm.Bytes(sum)
	}
	return w.AllToAll(ctx, parts)
}

// radixSortHigh sorts keys by their upper 32 bits, stably (least significant byte
// first), and returns the sorted slice, which may be keys or a new one.
func radixSortHigh(keys []uint64) []uint64 {
	if len(keys) == 0 {
		return keys
	}
	tmp := make([]uint64, len(keys))
	for shift := 32; shift < 64; shift += 8 {
		var count [257]int
		for _, k := range keys {
			count[k>>shift&0xff+1]++
		}
		if count[keys[0]>>shift&0xff+1] == len(keys) {
			continue // every key has this byte: the pass would change nothing
		}
		for i := 1; i < 257; i++ {
			count[i] += count[i-1]
		}
		for _, k := range keys {
			b := k >> shift & 0xff
			tmp[count[b]] = k
			count[b]++
		}
		keys, tmp = tmp, keys
	}
	return keys
}
