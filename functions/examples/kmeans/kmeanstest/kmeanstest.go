package kmeanstest

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/burstgo/burst/comm"
	"github.com/burstgo/burst/functions/examples/flaretest"
	"github.com/burstgo/burst/functions/examples/kmeans"
)

// An Assign is a sequential assignment step: it gives each of the points (row after
// row, dims numbers each) the index of a cluster of centroids (k rows).
type Assign func(points []float64, dims int, centroids []float64) []int

// Nearest gives each point its nearest centroid, the lowest index on a tie.
func Nearest(points []float64, dims int, centroids []float64) []int {
	k := len(centroids) / dims
	labels := make([]int, len(points)/dims)
	for i := range labels {
		best, bestD := 0, math.Inf(1)
		for j := range k {
			if d := dist2(points, i, centroids, j, dims); d < bestD {
				best, bestD = j, d
			}
		}
		labels[i] = best
	}
	return labels
}

// dist2 is the squared distance between point i and centroid j.
func dist2(points []float64, i int, centroids []float64, j, dims int) float64 {
	d := 0.0
	for t := range dims {
		x := points[i*dims+t] - centroids[j*dims+t]
		d += x * x
	}
	return d
}

// Lloyd is sequential Lloyd's k-means over every point from the initial centroids init:
// each iteration gives every point a cluster with assign and moves each centroid to its
// points' mean (an empty cluster keeps its own), until no centroid moved more than tol
// or after iters updates. The model's sizes and inertia are those of one more
// assignment, to the final centroids, as kmeans.Run measures them; its Rank and Points
// are left zero.
func Lloyd(points []float64, dims int, init []float64, iters int, tol float64, assign Assign) kmeans.Model {
	k := len(init) / dims
	c := append([]float64(nil), init...)
	m := kmeans.Model{Total: int64(len(points) / dims)}
	for m.Iterations < iters {
		sums, sizes := make([]float64, k*dims), make([]int64, k)
		for i, j := range assign(points, dims, c) {
			for t := range dims {
				sums[j*dims+t] += points[i*dims+t]
			}
			sizes[j]++
		}
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
	m.Sizes = make([]int64, k)
	for i, j := range assign(points, dims, c) {
		m.Sizes[j]++
		m.Inertia += dist2(points, i, c, j, dims)
	}
	for j := range k {
		m.Centroids = append(m.Centroids, c[j*dims:(j+1)*dims])
	}
	return m
}

// near reports whether a and b agree within rel relative to b's magnitude (and a tiny
// absolute amount, for numbers near zero).
func near(a, b, rel float64) bool { return math.Abs(a-b) <= rel*math.Abs(b)+1e-300 }

// Diff says how got differs from want, its iterations, convergence, total points and
// cluster sizes exactly, its inertia and centroids beyond rel relative; "" if it does
// not.
func Diff(got, want kmeans.Model, rel float64) string {
	switch {
	case got.Iterations != want.Iterations || got.Converged != want.Converged:
		return fmt.Sprintf("%d iterations (converged %v), want %d (%v)", got.Iterations, got.Converged, want.Iterations, want.Converged)
	case got.Total != want.Total:
		return fmt.Sprintf("%d points in all, want %d", got.Total, want.Total)
	case !near(got.Inertia, want.Inertia, rel):
		return fmt.Sprintf("inertia %v, want %v", got.Inertia, want.Inertia)
	case len(got.Centroids) != len(want.Centroids) || len(got.Sizes) != len(want.Sizes):
		return fmt.Sprintf("%d centroids and %d sizes, want %d and %d", len(got.Centroids), len(got.Sizes), len(want.Centroids), len(want.Sizes))
	}
	for j, c := range want.Centroids {
		if got.Sizes[j] != want.Sizes[j] {
			return fmt.Sprintf("cluster %d has %d points, want %d", j, got.Sizes[j], want.Sizes[j])
		}
		if len(got.Centroids[j]) != len(c) {
			return fmt.Sprintf("centroid %d = %v, want %v", j, got.Centroids[j], c)
		}
		for t, x := range c {
			if !near(got.Centroids[j][t], x, rel) {
				return fmt.Sprintf("centroid %d = %v, want %v", j, got.Centroids[j], c)
			}
		}
	}
	return ""
}

// Run runs kmeans.Run with the assignment step assign on a flare of layout l over
// backend b, fails the test if a rank fails, if the ranks' models differ or if their
// points do not add up to the total, and returns rank 0's model.
func Run(tb testing.TB, l flaretest.Layout, b flaretest.Backend, name string, in kmeans.Input, assign kmeans.Assigner) kmeans.Model {
	tb.Helper()
	models, _, err := flaretest.Run(tb, l, b, func(ctx context.Context, w *comm.Worker) (kmeans.Model, error) {
		return kmeans.Run(ctx, w, name, in, assign)
	})
	if err != nil {
		tb.Fatalf("%v: %v", l, err)
	}
	var points int64
	for r, m := range models {
		points += m.Points
		if diff := Diff(m, models[0], 0); diff != "" {
			tb.Fatalf("%v: rank %d differs from rank 0: %s", l, r, diff)
		}
	}
	if points != models[0].Total {
		tb.Fatalf("%v: the ranks hold %d points of %d", l, points, models[0].Total)
	}
	return models[0]
}

// Benchmark puts flares of kmeans.Run with the assignment step assign, over NATS through
// an embedded server with each pack on its own connection, beside Lloyd with ref, the
// same step done sequentially, on the same input: in.Generate's points, from its first
// in.K points, for in.Iterations iterations. Both make the points in the timed loop.
func Benchmark(b *testing.B, name string, in kmeans.Input, assign kmeans.Assigner, ref Assign) {
	g := in.Generate.WithDefaults()
	in.Generate = &g
	b.Run("reference", func(b *testing.B) {
		for b.Loop() {
			m := Lloyd(g.Generate(0, g.N), g.Dims, g.Generate(0, int64(in.K)), in.Iterations, in.Tolerance, ref)
			b.ReportMetric(float64(m.Iterations), "iterations")
		}
	})
	nats := flaretest.NATS(b)
	for _, l := range []flaretest.Layout{{Size: 1, Granularity: 1}, {Size: 2, Granularity: 1}, {Size: 2, Granularity: 2}} {
		b.Run(l.String(), func(b *testing.B) {
			for b.Loop() {
				models, c, err := flaretest.Run(b, l, nats, func(ctx context.Context, w *comm.Worker) (kmeans.Model, error) {
					return kmeans.Run(ctx, w, name, in, assign)
				})
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(models[0].Iterations), "iterations")
				b.ReportMetric(float64(c.RemoteBytes), "remote-bytes")
			}
		})
	}
}

// CheckLayouts is the acceptance test of a k-means function: it runs kmeans.Run with
// the assignment step assign on a flare of every flaretest.Layout, over the memory
// transport, and checks each model against Lloyd with ref, the same step done
// sequentially, from the same initial centroids (in.Centroids, else the first in.K
// generated points) within 1e-9 relative, and against the model of the same size at
// granularity 1 within 1e-12, since granularity only regroups the allreduce's sums. It
// returns Lloyd's model. The input must be generated.
func CheckLayouts(t *testing.T, name string, in kmeans.Input, assign kmeans.Assigner, ref Assign) kmeans.Model {
	t.Helper()
	g := in.Generate.WithDefaults()
	in.Generate = &g
	init := g.Generate(0, int64(in.K))
	if in.Centroids != nil {
		init = slices.Concat(in.Centroids...)
	}
	want := Lloyd(g.Generate(0, g.N), g.Dims, init, in.Iterations, in.Tolerance, ref)
	bySize := map[int]kmeans.Model{}
	for _, l := range flaretest.Layouts {
		got := Run(t, l, flaretest.Memory, name, in, assign)
		if diff := Diff(got, want, 1e-9); diff != "" {
			t.Errorf("%v: %s", l, diff)
		}
		if first, ok := bySize[l.Size]; !ok {
			bySize[l.Size] = got
		} else if diff := Diff(got, first, 1e-12); diff != "" {
			t.Errorf("%v differs from g=1: %s", l, diff)
		}
	}
	return want
}
