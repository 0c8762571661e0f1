package kmeans_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/burstgo/burst/functions/examples/dataset"
	"github.com/burstgo/burst/functions/examples/flaretest"
	"github.com/burstgo/burst/functions/examples/kmeans"
	"github.com/burstgo/burst/functions/examples/kmeans/kmeanstest"
)

// The flare matches sequential Lloyd's k-means (kmeanstest.Lloyd, written apart from
// the package) from the same initial centroids, whatever the layout, and granularity
// does not change the answer.
func TestKMeansMatchesReference(t *testing.T) {
	tests := []struct {
		name string
		in   kmeans.Input
	}{
		{"to convergence", kmeans.Input{K: 5, Generate: &dataset.Points{N: 3000, Dims: 3, Clusters: 5, Seed: 1}, Iterations: 100}},
		{"iteration bound", kmeans.Input{K: 7, Generate: &dataset.Points{N: 2001, Dims: 2, Clusters: 4, Spread: 3, Seed: 2}, Iterations: 3}},
		{"tolerance", kmeans.Input{K: 4, Generate: &dataset.Points{N: 1500, Dims: 5, Clusters: 6, Seed: 3}, Iterations: 100, Tolerance: 0.05}},
		{"one cluster", kmeans.Input{K: 1, Generate: &dataset.Points{N: 500, Dims: 2, Seed: 4}, Iterations: 10}},
		{"given centroids", kmeans.Input{K: 3, Generate: &dataset.Points{N: 900, Dims: 2, Clusters: 3, Seed: 5}, Iterations: 50,
			Centroids: [][]float64{{0, 0}, {1, 1}, {100, 100}}}}, // the far one stays empty
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kmeanstest.CheckLayouts(t, "kmeans", tt.in, kmeans.Nearest, kmeanstest.Nearest)
		})
	}
}

// The points of a CSV file, read in byte ranges by the ranks, give the same model as
// the same points generated.
func TestKMeansFromFile(t *testing.T) {
	g := dataset.Points{N: 2500, Dims: 3, Clusters: 4, Seed: 9}.WithDefaults()
	path := flaretest.TempFileOf(t, "points.csv", g.WriteCSV)
	want := kmeanstest.Lloyd(g.Generate(0, g.N), g.Dims, g.Generate(0, 4), 100, 0, kmeanstest.Nearest)
	for _, l := range []flaretest.Layout{{Size: 1, Granularity: 1}, {Size: 4, Granularity: 2}, {Size: 8, Granularity: 8}} {
		got := kmeanstest.Run(t, l, flaretest.Memory, "kmeans", kmeans.Input{K: 4, File: path, Iterations: 100}, kmeans.Nearest)
		if diff := kmeanstest.Diff(got, want, 1e-9); diff != "" {
			t.Errorf("size %d, g %d: %s", l.Size, l.Granularity, diff)
		}
	}
}

// Over the NATS transport, through an embedded server, the model is the same.
func TestKMeansOverNATS(t *testing.T) {
	nats := flaretest.NATS(t)
	g := dataset.Points{N: 2000, Dims: 2, Clusters: 3, Seed: 6}.WithDefaults()
	in := kmeans.Input{K: 3, Generate: &g, Iterations: 100}
	want := kmeanstest.Lloyd(g.Generate(0, g.N), 2, g.Generate(0, 3), 100, 0, kmeanstest.Nearest)
	got := kmeanstest.Run(t, flaretest.Layout{Size: 4, Granularity: 2}, nats, "kmeans", in, kmeans.Nearest)
	if diff := kmeanstest.Diff(got, want, 1e-9); diff != "" {
		t.Error(diff)
	}
}

// Burst answers the model at rank 0 and each rank's share elsewhere, as JSON.
func TestBurstOutput(t *testing.T) {
	input := `{"k": 2, "generate": {"points": 1000, "clusters": 2, "seed": 1}}`
	results, err := flaretest.Burst(t, flaretest.Layout{Size: 3, Granularity: 2}, kmeans.Burst, input)
	if err != nil {
		t.Fatal(err)
	}
	var m kmeans.Model
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
		var s kmeans.Share
		if err := json.Unmarshal(b, &s); err != nil || s.Rank != r+1 {
			t.Errorf("rank %d answered %s", r+1, b)
		}
		total += s.Points
	}
	if total != 1000 {
		t.Errorf("the shares add up to %d points", total)
	}
}
