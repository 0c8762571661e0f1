package dataset

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

func TestGraphGenerateParts(t *testing.T) {
	g := Graph{Nodes: 5000, Degree: 6, Seed: 2}
	offsets, targets := g.Generate(0, g.Nodes)
	if len(offsets) != 5001 || offsets[5000] != int64(len(targets)) {
		t.Fatalf("offsets of %d entries ending at %d, for %d targets", len(offsets), offsets[len(offsets)-1], len(targets))
	}
	for _, parts := range []int{1, 3, 8} {
		var joined []uint32
		for part := range parts {
			lo, hi := Split(g.Nodes, parts, part)
			off, tg := g.Generate(lo, hi)
			if int64(len(off)) != hi-lo+1 || off[len(off)-1] != int64(len(tg)) {
				t.Fatalf("part %d: bad offsets", part)
			}
			joined = append(joined, tg...)
		}
		if !slices.Equal(joined, targets) {
			t.Errorf("%d parts do not make the whole graph", parts)
		}
	}
}

// The graph has about the asked mean degree, about 1/16 dangling nodes, and a skewed
// in-degree: the top 1 % of nodes get far more than 1 % of the edges.
func TestGraphShape(t *testing.T) {
	g := Graph{Nodes: 20000, Degree: 8, Seed: 3}
	offsets, targets := g.Generate(0, g.Nodes)
	mean := float64(len(targets)) / float64(g.Nodes)
	if mean < 6.5 || mean > 9.5 {
		t.Errorf("mean out-degree %v, want about 8", mean)
	}
	dangling := 0
	for u := range g.Nodes {
		if offsets[u] == offsets[u+1] {
			dangling++
		}
	}
	if frac := float64(dangling) / float64(g.Nodes); frac < 0.05 || frac > 0.08 {
		t.Errorf("%.3f of the nodes are dangling, want about 1/16", frac)
	}
	in := make([]int, g.Nodes)
	for _, v := range targets {
		if int64(v) >= g.Nodes {
			t.Fatalf("target %d out of range", v)
		}
		in[v]++
	}
	slices.Sort(in)
	slices.Reverse(in)
	top := 0
	for _, d := range in[:g.Nodes/100] {
		top += d
	}
	if share := float64(top) / float64(len(targets)); share < 0.1 {
		t.Errorf("the top 1%% of nodes get %.3f of the edges, want a power law's skew", share)
	}
	// The hubs are scattered: the first half of the ids does not hold all of them.
	first := 0
	for _, v := range targets {
		if int64(v) < g.Nodes/2 {
			first++
		}
	}
	if share := float64(first) / float64(len(targets)); share < 0.3 || share > 0.7 {
		t.Errorf("the first half of the ids gets %.3f of the edges", share)
	}
}

func TestGraphValidate(t *testing.T) {
	tests := []struct {
		g    Graph
		want string
	}{
		{Graph{Nodes: 1}, ""},
		{Graph{Nodes: 0}, "0 nodes"},
		{Graph{Nodes: MaxNodes + 1}, "nodes"},
		{Graph{Nodes: 10, Degree: 0.5}, "mean degree"},
		{Graph{Nodes: 10, Degree: 1e6}, "mean degree"},
	}
	for _, tt := range tests {
		err := tt.g.Validate()
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%+v: got %v, want %q", tt.g, err, tt.want)
		}
	}
}

func TestEdgeListRoundTrip(t *testing.T) {
	g := Graph{Nodes: 3000, Degree: 5, Seed: 9}
	var buf bytes.Buffer
	if err := g.WriteEdgeList(&buf); err != nil {
		t.Fatal(err)
	}
	path := writeFile(t, "edges.txt", buf.String())
	offsets, targets := g.Generate(0, g.Nodes)
	for _, parts := range []int{1, 4, 9} {
		var src, dst []uint32
		for part := range parts {
			s, d, err := ReadEdges(path, part, parts)
			if err != nil {
				t.Fatal(err)
			}
			src, dst = append(src, s...), append(dst, d...)
		}
		if !slices.Equal(dst, targets) {
			t.Fatalf("%d parts: targets differ from the generated graph", parts)
		}
		for u := range g.Nodes {
			for _, s := range src[offsets[u]:offsets[u+1]] {
				if int64(s) != u {
					t.Fatalf("%d parts: an edge of node %d has source %d", parts, u, s)
				}
			}
		}
	}
}

func TestReadEdgesFormat(t *testing.T) {
	tests := []struct {
		name     string
		content  string
		src, dst []uint32
		err      string
	}{
		{"spaces tabs commas", "# c\n0 1\n1\t2\n2,0\n% c\n\n3  4 0.5\n", []uint32{0, 1, 2, 3}, []uint32{1, 2, 0, 4}, ""},
		{"one field", "0 1\n2\n", nil, nil, `want "source target"`},
		{"negative", "0 -1\n", nil, nil, "node id"},
		{"too large", "0 2147483647\n", nil, nil, "node id"},
		{"not a number", "a b\n", nil, nil, "node id"},
	}
	for _, tt := range tests {
		path := writeFile(t, "e.txt", tt.content)
		src, dst, err := ReadEdges(path, 0, 1)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: got %v, want %q", tt.name, err, tt.err)
			}
			continue
		}
		if err != nil || !slices.Equal(src, tt.src) || !slices.Equal(dst, tt.dst) {
			t.Errorf("%s: got %v %v %v", tt.name, src, dst, err)
		}
	}
}
