package kmeansbalanced

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/burstgo/burst/comm"
	"github.com/burstgo/burst/functions/examples/dataset"
	"github.com/burstgo/burst/functions/examples/flaretest"
	"github.com/burstgo/burst/functions/examples/kmeans"
	"github.com/burstgo/burst/functions/examples/kmeans/kmeanstest"
)

// referenceAssign is sequential greedy filling over all points, written apart from the
// package's code: cluster j takes the cap_j unplaced points of smallest
// d(x, c_j)² − min_{l>j} d(x, c_l)², the earlier point first on a tie; the last cluster
// takes the rest.
func referenceAssign(points []float64, dims int, c []float64) []int {
	k, n := len(c)/dims, len(points)/dims
	d := func(i, j int) float64 {
		s := 0.0
		for t := range dims {
			s += (points[i*dims+t] - c[j*dims+t]) * (points[i*dims+t] - c[j*dims+t])
		}
		return s
	}
	labels := make([]int, n)
	for i := range labels {
		labels[i] = -1
	}
	type cand struct {
		key float64
		i   int
	}
	for j := range k - 1 {
		var cs []cand
		for i := range n {
			if labels[i] >= 0 {
				continue
			}
			best := math.Inf(1)
			for l := j + 1; l < k; l++ {
				best = min(best, d(i, l))
			}
			cs = append(cs, cand{d(i, j) - best, i})
		}
		slices.SortFunc(cs, func(a, b cand) int { return cmp.Or(cmp.Compare(a.key, b.key), cmp.Compare(a.i, b.i)) })
		capj := n / k
		if j < n%k {
			capj++
		}
		for _, c := range cs[:capj] {
			labels[c.i] = j
		}
	}
	for i := range labels {
		if labels[i] < 0 {
			labels[i] = k - 1
		}
	}
	return labels
}

// reference is Lloyd's iteration with the reference assignment, as kmeans.Run runs it
// with Balanced.
func reference(points []float64, dims int, init []float64, iters int, tol float64) kmeans.Model {
	return kmeanstest.Lloyd(points, dims, init, iters, tol, referenceAssign)
}

// The flare matches Lloyd's iteration with the sequential greedy filling from the same
// initial centroids, whatever the layout, and granularity does not change the answer.
func TestBalancedMatchesReference(t *testing.T) {
	tests := []struct {
		name string
		in   kmeans.Input
	}{
		{"uneven mixture", kmeans.Input{K: 5, Generate: &dataset.Points{N: 1203, Dims: 2, Clusters: 3, Seed: 1}, Iterations: 30}},
		{"more clusters than groups", kmeans.Input{K: 8, Generate: &dataset.Points{N: 997, Dims: 3, Clusters: 2, Spread: 2, Seed: 2}, Iterations: 10}},
		{"tolerance", kmeans.Input{K: 3, Generate: &dataset.Points{N: 800, Dims: 4, Clusters: 3, Seed: 3}, Iterations: 50, Tolerance: 0.01}},
		{"two", kmeans.Input{K: 2, Generate: &dataset.Points{N: 301, Dims: 1, Clusters: 1, Seed: 4}, Iterations: 50}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := kmeanstest.CheckLayouts(t, name, tt.in, Balanced, referenceAssign)
			if !slices.Equal(want.Sizes, Caps(tt.in.Generate.N, tt.in.K)) {
				t.Errorf("the reference has sizes %v", want.Sizes)
			}
		})
	}
}

func TestCaps(t *testing.T) {
	tests := []struct {
		n    int64
		k    int
		want []int64
	}{
		{10, 3, []int64{4, 3, 3}}, {9, 3, []int64{3, 3, 3}}, {5, 5, []int64{1, 1, 1, 1, 1}}, {7, 1, []int64{7}},
	}
	for _, tt := range tests {
		if got := Caps(tt.n, tt.k); !slices.Equal(got, tt.want) {
			t.Errorf("Caps(%d, %d) = %v, want %v", tt.n, tt.k, got, tt.want)
		}
	}
}

// Smallest picks the same keys as a global sort by (key, rank, position), ties and all
// (m is cut to the number of keys; 0 means all of them).
func TestSmallest(t *testing.T) {
	tests := []struct {
		name string
		key  func(rank, i int) uint64
		n    int // keys per rank
		m    int64
	}{
		{"distinct", func(r, i int) uint64 { return uint64(r*7919+i*104729) % 100003 }, 50, 77},
		{"all equal", func(r, i int) uint64 { return 42 }, 20, 33},
		{"few values", func(r, i int) uint64 { return uint64((r + i) % 3) }, 30, 50},
		{"extremes", func(r, i int) uint64 { return []uint64{0, math.MaxUint64, 1 << 63}[(r+i)%3] }, 10, 25},
		{"float keys", func(r, i int) uint64 { return OrderKey(float64(i%9-4) * 0.5) }, 20, 41},
		{"take all", func(r, i int) uint64 { return uint64(i) }, 5, 0}, // m = all keys
		{"take one", func(r, i int) uint64 { return uint64(100 - i) }, 5, 1},
	}
	for _, tt := range tests {
		for _, l := range []flaretest.Layout{{Size: 1, Granularity: 1}, {Size: 4, Granularity: 2}, {Size: 5, Granularity: 1}, {Size: 8, Granularity: 8}} {
			n := tt.n
			m := min(tt.m, int64(l.Size*n))
			if m == 0 {
				m = int64(l.Size * n)
			}
			type item struct {
				key     uint64
				rank, i int
			}
			var all []item
			for r := range l.Size {
				for i := range n {
					all = append(all, item{tt.key(r, i), r, i})
				}
			}
			slices.SortFunc(all, func(a, b item) int {
				return cmp.Or(cmp.Compare(a.key, b.key), cmp.Compare(a.rank, b.rank), cmp.Compare(a.i, b.i))
			})
			want := map[[2]int]bool{}
			for _, it := range all[:m] {
				want[[2]int{it.rank, it.i}] = true
			}
			picked, _, err := flaretest.Run(t, l, flaretest.Memory, func(ctx context.Context, w *comm.Worker) ([]int, error) {
				keys := make([]uint64, n)
				for i := range keys {
					keys[i] = tt.key(w.Rank(), i)
				}
				limit, take, err := Smallest(ctx, w, keys, m)
				var mine []int
				for i, k := range keys {
					if k < limit || k == limit && take > 0 {
						if k == limit {
							take--
						}
						mine = append(mine, i)
					}
				}
				return mine, err
			})
			if err != nil {
				t.Fatalf("%s, size %d: %v", tt.name, l.Size, err)
			}
			got := 0
			for r, mine := range picked {
				for _, i := range mine {
					got++
					if !want[[2]int{r, i}] {
						t.Errorf("%s, size %d, g %d: picked key %d of rank %d, which is not among the %d smallest", tt.name, l.Size, l.Granularity, i, r, m)
					}
				}
			}
			if int64(got) != m {
				t.Errorf("%s, size %d, g %d: picked %d keys, want %d", tt.name, l.Size, l.Granularity, got, m)
			}
		}
	}
}

func TestOrderKey(t *testing.T) {
	xs := []float64{math.Inf(-1), -1e300, -2.5, -1, -1e-300, 0, 1e-300, 0.5, 1, 3, 1e300, math.Inf(1)}
	for i := 1; i < len(xs); i++ {
		if OrderKey(xs[i-1]) >= OrderKey(xs[i]) {
			t.Errorf("OrderKey(%v) ≥ OrderKey(%v)", xs[i-1], xs[i])
		}
	}
}

// Four groups of 25 identical points and the centroids at the groups: the balanced
// assignment is the groups themselves, at once, with zero inertia; a fifth, far group
// of 25 must be split among the clusters to keep them even.
func TestBalancedGroups(t *testing.T) {
	var lines []string
	at := [][2]float64{{0, 0}, {10, 0}, {0, 10}, {10, 10}}
	for i := range 100 {
		p := at[i%4]
		lines = append(lines, fmt.Sprintf("%v,%v", p[0], p[1]))
	}
	path := flaretest.TempFile(t, "groups.csv", "x,y\n"+strings.Join(lines, "\n")+"\n")
	cents := [][]float64{{0, 0}, {10, 0}, {0, 10}, {10, 10}}
	got := kmeanstest.Run(t, flaretest.Layout{Size: 4, Granularity: 2}, flaretest.Memory, name, kmeans.Input{K: 4, File: path, Iterations: 10, Centroids: cents}, Balanced)
	if got.Inertia != 0 || !got.Converged || got.Iterations != 1 || !slices.Equal(got.Sizes, []int64{25, 25, 25, 25}) {
		t.Errorf("groups: %+v", got)
	}

	for range 25 {
		lines = append(lines, "100,100")
	}
	path = flaretest.TempFile(t, "far.csv", strings.Join(lines, "\n"))
	got = kmeanstest.Run(t, flaretest.Layout{Size: 3, Granularity: 1}, flaretest.Memory, name, kmeans.Input{K: 4, File: path, Iterations: 1, Centroids: cents}, Balanced)
	if !slices.Equal(got.Sizes, []int64{32, 31, 31, 31}) {
		t.Errorf("sizes %v with a far group, want 32, 31, 31, 31", got.Sizes)
	}
}

func TestBalancedOverNATS(t *testing.T) {
	nats := flaretest.NATS(t)
	g := dataset.Points{N: 600, Dims: 2, Clusters: 2, Seed: 8}.WithDefaults()
	in := kmeans.Input{K: 4, Generate: &g, Iterations: 20}
	want := reference(g.Generate(0, g.N), 2, g.Generate(0, 4), 20, 0)
	if diff := kmeanstest.Diff(kmeanstest.Run(t, flaretest.Layout{Size: 4, Granularity: 2}, nats, name, in, Balanced), want, 1e-9); diff != "" {
		t.Error(diff)
	}
}

func TestBurst(t *testing.T) {
	results, err := flaretest.Burst(t, flaretest.Layout{Size: 4, Granularity: 2}, Burst, `{"k": 3, "generate": {"points": 1000, "seed": 3}, "iterations": 5}`)
	if err != nil {
		t.Fatal(err)
	}
	var m kmeans.Model
	b, _ := json.Marshal(results[0])
	if err := json.Unmarshal(b, &m); err != nil || !slices.Equal(m.Sizes, []int64{334, 333, 333}) || m.Iterations > 5 {
		t.Errorf("rank 0 answered %s", b)
	}
	if s, ok := results[3].(kmeans.Share); !ok || s.Rank != 3 || s.Points != 250 {
		t.Errorf("rank 3 answered %#v", results[3])
	}
	for _, tt := range []struct{ input, want string }{
		{`{"k": 0, "file": "x"}`, "kmeans-balanced: k 0"},
		{`{"k": 2}`, "exactly one"},
		{`{"k": 9, "generate": {"points": 8}}`, "more than the 8 points"},
		{`{"k": 10000, "generate": {"points": 60000}}`, "30000 points per worker for 10000 clusters is too many"},
	} {
		if _, err := flaretest.Burst(t, flaretest.Layout{Size: 2, Granularity: 1}, Burst, tt.input); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want %q", tt.input, err, tt.want)
		}
	}
}
