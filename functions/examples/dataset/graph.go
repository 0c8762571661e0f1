package dataset

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"math"
	"strconv"
)

// Limits of graphs.
const (
	MaxNodes  = 1<<31 - 1
	MaxDegree = 1 << 14
)

// Graph describes a seeded directed graph with power-law degrees. Node u has no out-edge
// with probability 1/16 (a dangling node) and otherwise a Pareto-distributed number of
// them (shape 2, at most MaxDegree), so that the mean out-degree is about Degree;
// targets follow a power law too (node ranks drawn as n·U³, in-degree tail exponent
// about 2.5), their ids scattered by a fixed permutation so the hubs do not all fall in
// one rank's share. Self-loops and repeated edges may occur. As JSON:
//
//	{"nodes": 1000000, "degree": 8, "seed": 7}
//
// A zero degree means 8.
type Graph struct {
	Nodes  int64   `json:"nodes"`
	Degree float64 `json:"degree,omitempty"`
	Seed   uint64  `json:"seed"`
}

// WithDefaults returns g with its zero fields set to their defaults.
func (g Graph) WithDefaults() Graph {
	g.Degree = cmp.Or(g.Degree, 8)
	return g
}

// Validate checks g, defaults applied.
func (g Graph) Validate() error {
	g = g.WithDefaults()
	switch {
	case g.Nodes < 1 || g.Nodes > MaxNodes:
		return fmt.Errorf("dataset: %d nodes, want 1 to %d", g.Nodes, MaxNodes)
	case !(g.Degree >= 1 && g.Degree <= 1000):
		return fmt.Errorf("dataset: mean degree %v, want 1 to 1000", g.Degree)
	}
	return nil
}

// scatter is a multiplier coprime with every node count (a prime above MaxNodes).
const scatter = 2654435761

// OutEdges appends the targets of node u's out-edges to dst.
func (g Graph) OutEdges(u int64, dst []uint32) []uint32 {
	g = g.WithDefaults()
	s := newStream(g.Seed, saltNode, uint64(u))
	if s.intn(16) == 0 {
		return dst
	}
	// ceil(xm·U^(-1/2)) has mean about 2·xm + 1/2; 15/16 of the nodes have edges.
	xm := (g.Degree*16/15 - 0.5) / 2
	deg := int64(math.Ceil(xm / math.Sqrt(s.open())))
	deg = max(1, min(deg, MaxDegree, g.Nodes))
	n := uint64(g.Nodes)
	ss := newStream(g.Seed, saltNode, math.MaxUint64)
	shift := ss.intn(n)
	for range deg {
		x := s.float64()
		t := uint64(float64(n) * x * x * x)
		dst = append(dst, uint32((t*scatter+shift)%n))
	}
	return dst
}

// Generate returns the out-edges of nodes lo..hi-1 in compressed sparse row form:
// node lo+i's targets are targets[offsets[i]:offsets[i+1]].
func (g Graph) Generate(lo, hi int64) (offsets []int64, targets []uint32) {
	offsets = make([]int64, 1, hi-lo+1)
	targets = make([]uint32, 0, int64(g.WithDefaults().Degree*float64(hi-lo)*1.1))
	for u := lo; u < hi; u++ {
		targets = g.OutEdges(u, targets)
		offsets = append(offsets, int64(len(targets)))
	}
	return offsets, targets
}

// WriteEdgeList writes every edge to w, one "source target" line each, in source order.
func (g Graph) WriteEdgeList(w io.Writer) error {
	if err := g.Validate(); err != nil {
		return err
	}
	g = g.WithDefaults()
	lw := newLineWriter(w)
	lw.line = fmt.Appendf(lw.line, "# burst graph: nodes=%d degree=%v seed=%d", g.Nodes, g.Degree, g.Seed)
	lw.end()
	var targets []uint32
	for u := range g.Nodes {
		targets = g.OutEdges(u, targets[:0])
		for _, v := range targets {
			lw.line = strconv.AppendInt(lw.line, u, 10)
			lw.line = append(lw.line, ' ')
			lw.line = strconv.AppendUint(lw.line, uint64(v), 10)
			lw.end()
		}
	}
	return lw.flush()
}

// ReadEdges reads part part of parts of an edge list: one directed edge a line, the
// source and target node ids (0 to MaxNodes-1) separated by spaces, tabs or a comma;
// further fields (a weight) are ignored, and so are blank lines and lines starting with
// '#' or '%'. It returns the part's edges in file order.
func ReadEdges(from Source, part, parts int) (src, dst []uint32, err error) {
	err = readLines(from, part, parts, func(offset int64, line []byte) error {
		if skippable(line) {
			return nil
		}
		fields := bytes.FieldsFunc(line, func(r rune) bool { return r == ' ' || r == '\t' || r == ',' })
		if len(fields) < 2 {
			return fmt.Errorf("dataset: %s: line at byte %d: want \"source target\", got %s", from.Name(), offset, excerpt(line))
		}
		var ids [2]uint32
		for i, f := range fields[:2] {
			id, err := strconv.ParseUint(string(f), 10, 32)
			if err != nil || id >= MaxNodes {
				return fmt.Errorf("dataset: %s: line at byte %d: node id %s, want 0 to %d", from.Name(), offset, excerpt(f), MaxNodes-1)
			}
			ids[i] = uint32(id)
		}
		src = append(src, ids[0])
		dst = append(dst, ids[1])
		return nil
	})
	return src, dst, err
}
