package pagerank

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/burstgo/burst/comm"
	"github.com/burstgo/burst/functions/examples/dataset"
	"github.com/burstgo/burst/functions/examples/flareinput"
)

// Defaults and limits of the input.
const (
	DefaultDamping    = 0.85
	DefaultTolerance  = 1e-8
	DefaultIterations = 200
	MaxIterations     = 100000
	DefaultTop        = 10
	MaxTop            = 10000
)

// Input is the input of pagerank (see the package doc).
type Input struct {
	Generate   *dataset.Graph `json:"generate,omitempty"`
	File       string         `json:"file,omitempty"`
	Dataset    string         `json:"dataset,omitempty"`
	Nodes      int64          `json:"nodes,omitempty"`
	Damping    float64        `json:"damping,omitempty"`
	Tolerance  float64        `json:"tolerance,omitempty"`
	Iterations int            `json:"iterations,omitempty"`
	Top        int            `json:"top,omitempty"`
	// Output, a directory, gets every node's PageRank: part-RRRRR of each rank holds
	// "node pagerank" lines of its nodes, in node order (the API answers only the top).
	Output string `json:"output,omitempty"`
}

// Node is a node and its PageRank.
type Node struct {
	Node     int64   `json:"node"`
	PageRank float64 `json:"pagerank"`
}

// Result is what a rank of pagerank answers (see the package doc).
type Result struct {
	Rank       int           `json:"rank"`
	Nodes      int64         `json:"nodes"`
	Edges      int64         `json:"edges"`
	Iterations int           `json:"iterations"`
	Delta      float64       `json:"delta"`
	Converged  bool          `json:"converged"`
	Comm       comm.Counters `json:"comm"`
	TotalNodes int64         `json:"total_nodes,omitempty"`
	Top        []Node        `json:"top,omitempty"`
	// File is the rank's part of Output.
	File string `json:"file,omitempty"`
}

// ParseInput decodes and checks an input.
func ParseInput(raw json.RawMessage) (Input, error) {
	var in Input
	if err := flareinput.Decode("pagerank", raw, &in, `{"generate": {"nodes": 100000, "seed": 1}} or {"file": "edges.txt"} or {"dataset": "edges"}`); err != nil {
		return in, err
	}
	in.Damping = cmp.Or(in.Damping, DefaultDamping)
	in.Tolerance = cmp.Or(in.Tolerance, DefaultTolerance)
	in.Iterations = cmp.Or(in.Iterations, DefaultIterations)
	in.Top = cmp.Or(in.Top, DefaultTop)
	if err := flareinput.OneSource("pagerank", in.Generate != nil, in.File, in.Dataset); err != nil {
		return in, err
	}
	switch {
	case in.Generate != nil && in.Nodes != 0:
		return in, fmt.Errorf("pagerank: \"nodes\" goes with \"file\" or \"dataset\"; a generated graph has \"generate\": {\"nodes\": ...}")
	case in.Nodes < 0 || in.Nodes > dataset.MaxNodes:
		return in, fmt.Errorf("pagerank: %d nodes, want 1 to %d", in.Nodes, dataset.MaxNodes)
	case !(in.Damping > 0 && in.Damping < 1):
		return in, fmt.Errorf("pagerank: damping %v, want between 0 and 1", in.Damping)
	case !(in.Tolerance > 0 && in.Tolerance < 2):
		return in, fmt.Errorf("pagerank: tolerance %v, want an L1 distance between 0 and 2", in.Tolerance)
	case in.Iterations < 1 || in.Iterations > MaxIterations:
		return in, fmt.Errorf("pagerank: %d iterations, want 1 to %d", in.Iterations, MaxIterations)
	case in.Top < 1 || in.Top > MaxTop:
		return in, fmt.Errorf("pagerank: top %d, want 1 to %d", in.Top, MaxTop)
	}
	if in.Generate != nil {
		g := in.Generate.WithDefaults()
		in.Generate = &g
		if err := g.Validate(); err != nil {
			return in, fmt.Errorf("pagerank: generate: %w", err)
		}
	}
	return in, nil
}

// Burst is the entry point of the function "pagerank".
func Burst(ctx context.Context, w *comm.Worker, input json.RawMessage) (any, error) {
	in, err := ParseInput(input)
	if err != nil {
		return nil, err
	}
	res, _, err := run(ctx, w, in)
	return res, err
}

// run computes PageRank and returns the rank's result and its nodes' PageRanks.
func run(ctx context.Context, w *comm.Worker, in Input) (Result, []float64, error) {
	if err := flareinput.Agree(ctx, w, "pagerank", in); err != nil {
		return Result{}, nil, err
	}
	if in.Generate != nil && int64(w.Size()) > in.Generate.Nodes {
		return Result{}, nil, fmt.Errorf("pagerank: %d workers for %d nodes: use at most one worker per node", w.Size(), in.Generate.Nodes)
	}

	p, err := loadPart(ctx, w, in)
	if err != nil {
		return Result{}, nil, err
	}
	pl, err := newPlan(ctx, w, p)
	if err != nil {
		return Result{}, nil, err
	}
	m := p.hi - p.lo
	res := Result{Rank: w.Rank(), Nodes: m, Edges: int64(len(p.targets))}
	n, d := float64(p.n), in.Damping
	pr := make([]float64, m)
	for i := range pr {
		pr[i] = 1 / n
	}
	_, dangling, err := sums(ctx, w, 0, danglingMass(p, pr))
	if err != nil {
		return Result{}, nil, err
	}
	inflow := make([]float64, m) // contributions received, reused: never given to comm
	for res.Iterations < in.Iterations {
		send := make([]float64, pl.slots)
		for u := range m {
			edges := p.targets[p.offsets[u]:p.offsets[u+1]]
			if len(edges) == 0 {
				continue
			}
			c := pr[u] / float64(len(edges))
			for _, e := range pl.slot[p.offsets[u]:p.offsets[u+1]] {
				send[e] += c
			}
		}
		got, err := pl.exchange(ctx, w, send)
		if err != nil {
			return Result{}, nil, err
		}
		clear(inflow)
		for s, b := range got {
			vals := comm.Elements[float64](b)
			if len(vals) != len(pl.recv[s]) {
				return Result{}, nil, fmt.Errorf("pagerank: rank %d sent %d values, want %d", s, len(vals), len(pl.recv[s]))
			}
			for j, v := range vals {
				inflow[pl.recv[s][j]] += v
			}
		}
		base := (1-d)/n + d*dangling/n
		next := make([]float64, m)
		delta := 0.0
		for v := range next {
			next[v] = base + d*inflow[v]
			delta += math.Abs(next[v] - pr[v])
		}
		pr = next
		res.Iterations++
		if res.Delta, dangling, err = sums(ctx, w, delta, danglingMass(p, pr)); err != nil {
			return Result{}, nil, err
		}
		if w.Rank() == 0 {
			w.Logger().Debug("pagerank iteration", "iteration", res.Iterations, "delta", res.Delta)
		}
		if res.Delta <= in.Tolerance {
			res.Converged = true
			break
		}
	}
	top, err := gatherTop(ctx, w, p, pr, in.Top)
	if err != nil {
		return Result{}, nil, err
	}
	if w.Rank() == 0 {
		res.TotalNodes, res.Top = p.n, top
	}
	if in.Output != "" {
		if res.File, err = writeRanks(in.Output, w.Rank(), p.lo, pr); err != nil {
			return Result{}, nil, err
		}
	}
	res.Comm = w.Counters()
	return res, pr, nil
}

// writeRanks writes the PageRanks of the nodes from lo on to dir/part-RRRRR, a
// "node pagerank" line each.
func writeRanks(dir string, rank int, lo int64, pr []float64) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("pagerank: output: %w", err)
	}
	path := filepath.Join(dir, fmt.Sprintf("part-%05d", rank))
	f, err := os.Create(path)
	if err != nil {
		return "", fmt.Errorf("pagerank: output: %w", err)
	}
	bw := bufio.NewWriterSize(f, 1<<16)
	var line []byte
	for i, x := range pr {
		line = strconv.AppendInt(line[:0], lo+int64(i), 10)
		line = append(line, ' ')
		line = strconv.AppendFloat(line, x, 'g', -1, 64)
		line = append(line, '\n')
		bw.Write(line)
	}
	if err := errors.Join(bw.Flush(), f.Close()); err != nil {
		return "", fmt.Errorf("pagerank: output: %w", err)
	}
	return path, nil
}

func danglingMass(p *part, pr []float64) float64 {
	s := 0.0
	for u := range pr {
		if p.offsets[u] == p.offsets[u+1] {
			s += pr[u]
		}
	}
	return s
}

// sums adds two numbers over every rank, in rank order, so that the result does not
// depend on how ranks are grouped in packs (an allreduce combines per pack first).
func sums(ctx context.Context, w *comm.Worker, a, b float64) (float64, float64, error) {
	all, err := w.AllGather(ctx, comm.Bytes([]float64{a, b}))
	if err != nil {
		return 0, 0, err
	}
	var sa, sb float64
	for r, x := range all {
		v := comm.Elements[float64](x)
		if len(v) != 2 {
			return 0, 0, fmt.Errorf("pagerank: rank %d sent %d bytes for its sums", r, len(x))
		}
		sa += v[0]
		sb += v[1]
	}
	return sa, sb, nil
}

// byPageRank orders nodes by PageRank, highest first, then by id.
func byPageRank(a, b Node) int {
	return cmp.Or(cmp.Compare(b.PageRank, a.PageRank), cmp.Compare(a.Node, b.Node))
}

// gatherTop returns the top k nodes of every rank at rank 0 (nil elsewhere).
func gatherTop(ctx context.Context, w *comm.Worker, p *part, pr []float64, k int) ([]Node, error) {
	local := topK(p.lo, pr, k)
	flat := make([]float64, 0, 2*len(local))
	for _, nd := range local {
		flat = append(flat, float64(nd.Node), nd.PageRank) // ids < 2³¹ are exact
	}
	all, err := w.Gather(ctx, 0, comm.Bytes(flat))
	if err != nil || w.Rank() != 0 {
		return nil, err
	}
	var top []Node
	for _, b := range all {
		v := comm.Elements[float64](b)
		for i := 0; i+1 < len(v); i += 2 {
			top = append(top, Node{Node: int64(v[i]), PageRank: v[i+1]})
		}
	}
	slices.SortFunc(top, byPageRank)
	return top[:min(k, len(top))], nil
}

// topK returns the k best of nodes first, first+1, … with ranks pr, best first, keeping
// the k best so far in a heap whose root is the worst of them.
func topK(first int64, pr []float64, k int) []Node {
	h := make([]Node, 0, k)
	worse := func(i, j int) bool { return byPageRank(h[i], h[j]) > 0 }
	down := func(i int) {
		for {
			c := 2*i + 1
			if c >= len(h) {
				return
			}
			if c+1 < len(h) && worse(c+1, c) {
				c++
			}
			if !worse(c, i) {
				return
			}
			h[i], h[c] = h[c], h[i]
			i = c
		}
	}
	for i, x := range pr {
		nd := Node{Node: first + int64(i), PageRank: x}
		switch {
		case len(h) < k:
			h = append(h, nd)
			for j := len(h) - 1; j > 0 && worse(j, (j-1)/2); j = (j - 1) / 2 {
				h[j], h[(j-1)/2] = h[(j-1)/2], h[j]
			}
		case byPageRank(nd, h[0]) < 0:
			h[0] = nd
			down(0)
		}
	}
	slices.SortFunc(h, byPageRank)
	return h
}
