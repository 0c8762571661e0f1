package kmeanstest

import (
	"strings"
	"testing"

	"github.com/burstgo/burst/functions/examples/dataset"
	"github.com/burstgo/burst/functions/examples/flaretest"
	"github.com/burstgo/burst/functions/examples/kmeans"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Lloyd on four points on a line, worked by hand.
func TestLloyd(t *testing.T) {
	points := []float64{0, 1, 10, 11}
	tests := []struct {
		name  string
		init  []float64
		iters int
		want  kmeans.Model
	}{
		{"to convergence", []float64{0, 1}, 10, kmeans.Model{Total: 4, Iterations: 3, Converged: true,
			Centroids: [][]float64{{0.5}, {10.5}}, Sizes: []int64{2, 2}, Inertia: 1}},
		{"one iteration", []float64{0, 1}, 1, kmeans.Model{Total: 4, Iterations: 1,
			Centroids: [][]float64{{0}, {22.0 / 3}}, Sizes: []int64{2, 2}, Inertia: 1 + 185.0/9}},
		{"empty cluster keeps its centroid", []float64{0, 100}, 10, kmeans.Model{Total: 4, Iterations: 2, Converged: true,
			Centroids: [][]float64{{5.5}, {100}}, Sizes: []int64{4, 0}, Inertia: 101}},
	}
	for _, tt := range tests {
		if diff := Diff(Lloyd(points, 1, tt.init, tt.iters, 0, Nearest), tt.want, 1e-15); diff != "" {
			t.Errorf("%s: %s", tt.name, diff)
		}
	}
}

func TestNearest(t *testing.T) {
	// Three 2-d points and centroids at (0,0), (2,0), (0,2); (1,0) ties between the
	// first two and goes to the first.
	got := Nearest([]float64{1, 0, 2, 1, -1, 3}, 2, []float64{0, 0, 2, 0, 0, 2})
	if want := []int{0, 1, 2}; len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestDiff(t *testing.T) {
	base := func() kmeans.Model {
		return kmeans.Model{Total: 10, Iterations: 4, Converged: true, Centroids: [][]float64{{1, 2}, {3, 4}}, Sizes: []int64{6, 4}, Inertia: 100}
	}
	tests := []struct {
		name   string
		change func(m *kmeans.Model)
		want   string
	}{
		{"same", func(*kmeans.Model) {}, ""},
		{"within rel", func(m *kmeans.Model) { m.Inertia *= 1 + 1e-10; m.Centroids[1][0] *= 1 - 1e-10 }, ""},
		{"iterations", func(m *kmeans.Model) { m.Iterations++ }, "5 iterations"},
		{"converged", func(m *kmeans.Model) { m.Converged = false }, "converged false"},
		{"total", func(m *kmeans.Model) { m.Total = 9 }, "9 points in all"},
		{"inertia", func(m *kmeans.Model) { m.Inertia = 100.01 }, "inertia 100.01"},
		{"no centroids", func(m *kmeans.Model) { m.Centroids, m.Sizes = nil, nil }, "0 centroids"},
		{"size", func(m *kmeans.Model) { m.Sizes[1] = 5 }, "cluster 1 has 5 points"},
		{"centroid", func(m *kmeans.Model) { m.Centroids[0][1] = 2.001 }, "centroid 0"},
		{"centroid dims", func(m *kmeans.Model) { m.Centroids[1] = m.Centroids[1][:1] }, "centroid 1"},
	}
	for _, tt := range tests {
		got := base()
		tt.change(&got)
		diff := Diff(got, base(), 1e-9)
		if tt.want == "" && diff != "" || tt.want != "" && !strings.Contains(diff, tt.want) {
			t.Errorf("%s: got %q, want %q", tt.name, diff, tt.want)
		}
	}
}

// Run's flares agree with Lloyd from the same initial centroids, whatever the layout.
func TestRun(t *testing.T) {
	g := dataset.Points{N: 700, Dims: 2, Clusters: 3, Seed: 2}.WithDefaults()
	want := Lloyd(g.Generate(0, g.N), g.Dims, g.Generate(0, 3), 50, 0, Nearest)
	for _, l := range []flaretest.Layout{{Size: 1, Granularity: 1}, {Size: 5, Granularity: 2}} {
		got := Run(t, l, flaretest.Memory, "kmeans", kmeans.Input{K: 3, Generate: &g, Iterations: 50}, kmeans.Nearest)
		if diff := Diff(got, want, 1e-9); diff != "" {
			t.Errorf("%v: %s", l, diff)
		}
	}
}

// CheckLayouts passes for kmeans.Nearest against Nearest, with given centroids or not,
// and returns Lloyd's model.
func TestCheckLayouts(t *testing.T) {
	g := dataset.Points{N: 400, Dims: 2, Clusters: 2, Seed: 3}
	tests := []struct {
		name string
		in   kmeans.Input
		init []float64
	}{
		{"first points", kmeans.Input{K: 2, Generate: &g, Iterations: 20}, g.Generate(0, 2)},
		{"given centroids", kmeans.Input{K: 2, Generate: &g, Iterations: 20, Centroids: [][]float64{{-5, -5}, {5, 5}}}, []float64{-5, -5, 5, 5}},
	}
	for _, tt := range tests {
		want := Lloyd(g.Generate(0, g.N), 2, tt.init, 20, 0, Nearest)
		if got := CheckLayouts(t, "kmeans", tt.in, kmeans.Nearest, Nearest); Diff(got, want, 0) != "" {
			t.Errorf("%s: returned %+v, want %+v", tt.name, got, want)
		}
	}
}
