package kmeans

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/burstgo/burst/comm"
	"github.com/burstgo/burst/functions/examples/dataset"
	"github.com/burstgo/burst/functions/examples/flaretest"
)

// reference is sequential Lloyd's k-means over every point, written apart from the
// package's code: assign each point to its nearest centroid (lowest index on a tie),
// move each centroid to its points' mean (an empty cluster keeps its own), stop when no
// centroid moved more than tol or after iters updates; sizes and inertia are measured
// against the final centroids.
func reference(points []float64, dims int, init []float64, iters int, tol float64) Model {
	k := len(init) / dims
	c := append([]float64(nil), init...)
	assign := func() (sums []float64, sizes []int64, inertia float64) {
		sums, sizes = make([]float64, k*dims), make([]int64, k)
		for i := 0; i < len(points); i += dims {
			best, bestD := 0, math.Inf(1)
			for j := range k {
				d := 0.0
				for t := range dims {
					d += (points[i+t] - c[j*dims+t]) * (points[i+t] - c[j*dims+t])
				}
				if d < bestD {
					best, bestD = j, d
				}
			}
			for t := range dims {
				sums[best*dims+t] += points[i+t]
			}
			sizes[best]++
			inertia += bestD
		}
		return sums, sizes, inertia
	}
	m := Model{Total: int64(len(points) / dims)}
	for m.Iterations < iters {
		sums, sizes, _ := assign()
		shift := 0.0
		for j := range k {
			if sizes[j] == 0 {
				continue
			}
			move := 0.0
			for t := range dims {
				x := sums[j*dims+t] / float64(sizes[j])
				move += (x - c[j*dims+t]) * (x - c[j*dims+t])
				c[j*dims+t] = x
			}
			shift = max(shift, math.Sqrt(move))
		}
		m.Iterations++
		if shift <= tol {
			m.Converged = true
			break
		}
	}
	_, m.Sizes, m.Inertia = assign()
	for j := range k {
		m.Centroids = append(m.Centroids, c[j*dims:(j+1)*dims])
	}
	return m
}

// near reports whether a and b agree within rel relative to b's magnitude (and a tiny
// absolute amount, for numbers near zero).
func near(a, b, rel float64) bool { return math.Abs(a-b) <= rel*math.Abs(b)+1e-300 }

// sameModel says how got differs from want, or "" if it does not beyond rel.
func sameModel(got, want Model, rel float64) string {
	switch {
	case got.Iterations != want.Iterations || got.Converged != want.Converged:
		return fmt.Sprintf("%d iterations (converged %v), want %d (%v)", got.Iterations, got.Converged, want.Iterations, want.Converged)
	case got.Total != want.Total:
		return fmt.Sprintf("%d points in all, want %d", got.Total, want.Total)
	case !near(got.Inertia, want.Inertia, rel):
		return fmt.Sprintf("inertia %v, want %v", got.Inertia, want.Inertia)
	case len(got.Centroids) != len(want.Centroids):
		return fmt.Sprintf("%d centroids, want %d", len(got.Centroids), len(want.Centroids))
	}
	for j := range want.Centroids {
		if got.Sizes[j] != want.Sizes[j] {
			return fmt.Sprintf("cluster %d has %d points, want %d", j, got.Sizes[j], want.Sizes[j])
		}
		for t, x := range want.Centroids[j] {
			if !near(got.Centroids[j][t], x, rel) {
				return fmt.Sprintf("centroid %d = %v, want %v", j, got.Centroids[j], want.Centroids[j])
			}
		}
	}
	return ""
}

// run runs Run on a flare and checks that every rank got the same model.
func run(t *testing.T, l flaretest.Layout, b flaretest.Backend, in Input) Model {
	t.Helper()
	models, _, err := flaretest.Run(t, l, b, func(ctx context.Context, w *comm.Worker) (Model, error) {
		return Run(ctx, w, "kmeans", in, Nearest)
	})
	if err != nil {
		t.Fatalf("%v: %v", l, err)
	}
	var points int64
	for r, m := range models {
		points += m.Points
		if diff := sameModel(m, models[0], 0); diff != "" {
			t.Fatalf("%v: rank %d differs from rank 0: %s", l, r, diff)
		}
	}
	if points != models[0].Total {
		t.Fatalf("%v: the ranks hold %d points of %d", l, points, models[0].Total)
	}
	return models[0]
}

func TestKMeansMatchesReference(t *testing.T) {
	tests := []struct {
		name string
		in   Input
	}{
		{"to convergence", Input{K: 5, Generate: &dataset.Points{N: 3000, Dims: 3, Clusters: 5, Seed: 1}, Iterations: 100}},
		{"iteration bound", Input{K: 7, Generate: &dataset.Points{N: 2001, Dims: 2, Clusters: 4, Spread: 3, Seed: 2}, Iterations: 3}},
		{"tolerance", Input{K: 4, Generate: &dataset.Points{N: 1500, Dims: 5, Clusters: 6, Seed: 3}, Iterations: 100, Tolerance: 0.05}},
		{"one cluster", Input{K: 1, Generate: &dataset.Points{N: 500, Dims: 2, Seed: 4}, Iterations: 10}},
		{"given centroids", Input{K: 3, Generate: &dataset.Points{N: 900, Dims: 2, Clusters: 3, Seed: 5}, Iterations: 50,
			Centroids: [][]float64{{0, 0}, {1, 1}, {100, 100}}}}, // the far one stays empty
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := tt.in.Generate.WithDefaults()
			tt.in.Generate = &g
			points := g.Generate(0, g.N)
			init := g.Generate(0, int64(tt.in.K))
			if tt.in.Centroids != nil {
				init = nil
				for _, c := range tt.in.Centroids {
					init = append(init, c...)
				}
			}
			want := reference(points, g.Dims, init, tt.in.Iterations, tt.in.Tolerance)
			byG := map[int]Model{}
			for _, l := range flaretest.Layouts {
				got := run(t, l, flaretest.Memory, tt.in)
				if diff := sameModel(got, want, 1e-9); diff != "" {
					t.Errorf("size %d, g %d: %s", l.Size, l.Granularity, diff)
				}
				// Granularity only regroups the allreduce's sums: the same answer to
				// the last bits or nearly.
				if prev, ok := byG[l.Size]; ok {
					if diff := sameModel(got, prev, 1e-12); diff != "" {
						t.Errorf("size %d: g %d differs from g 1: %s", l.Size, l.Granularity, diff)
					}
				} else {
					byG[l.Size] = got
				}
			}
		})
	}
}

// The points of a CSV file, read in byte ranges by the ranks, give the same model as
// the same points generated.
func TestKMeansFromFile(t *testing.T) {
	g := dataset.Points{N: 2500, Dims: 3, Clusters: 4, Seed: 9}.WithDefaults()
	path := filepath.Join(t.TempDir(), "points.csv")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.WriteCSV(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	want := reference(g.Generate(0, g.N), g.Dims, g.Generate(0, 4), 100, 0)
	for _, l := range []flaretest.Layout{{Size: 1, Granularity: 1}, {Size: 4, Granularity: 2}, {Size: 8, Granularity: 8}} {
		got := run(t, l, flaretest.Memory, Input{K: 4, File: path, Iterations: 100})
		if diff := sameModel(got, want, 1e-9); diff != "" {
			t.Errorf("size %d, g %d: %s", l.Size, l.Granularity, diff)
		}
	}
}

// Over the NATS transport, through an embedded server, the model is the same.
func TestKMeansOverNATS(t *testing.T) {
	nats := flaretest.NATS(t)
	g := dataset.Points{N: 2000, Dims: 2, Clusters: 3, Seed: 6}.WithDefaults()
	in := Input{K: 3, Generate: &g, Iterations: 100}
	want := reference(g.Generate(0, g.N), 2, g.Generate(0, 3), 100, 0)
	got := run(t, flaretest.Layout{Size: 4, Granularity: 2}, nats, in)
	if diff := sameModel(got, want, 1e-9); diff != "" {
		t.Error(diff)
	}
}

// Burst answers the model at rank 0 and each rank's share elsewhere, as JSON.
func TestBurstOutput(t *testing.T) {
	input := `{"k": 2, "generate": {"points": 1000, "clusters": 2, "seed": 1}}`
	results, err := burst(t, 3, 2, func(int) string { return input })
	if err != nil {
		t.Fatal(err)
	}
	var m Model
	b, _ := json.Marshal(results[0])
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m.Total != 1000 || len(m.Centroids) != 2 || len(m.Centroids[0]) != 2 || m.Sizes[0]+m.Sizes[1] != 1000 || !m.Converged {
		t.Errorf("rank 0 answered %s", b)
	}
	total := m.Points
	for r, res := range results[1:] {
		b, _ := json.Marshal(res)
		if strings.Contains(string(b), "centroids") {
			t.Errorf("rank %d answered the model: %s", r+1, b)
		}
		var s Share
		if err := json.Unmarshal(b, &s); err != nil || s.Rank != r+1 {
			t.Errorf("rank %d answered %s", r+1, b)
		}
		total += s.Points
	}
	if total != 1000 {
		t.Errorf("the shares add up to %d points", total)
	}
}
