package kmeans

import (
	"context"
	"encoding/json"
	"fmt"
	"math"

	"github.com/burstgo/burst/comm"
)

// Model is what rank 0 of kmeans answers (see the package doc).
type Model struct {
	Rank       int         `json:"rank"`
	Points     int64       `json:"points"`
	Total      int64       `json:"total_points"`
	Centroids  [][]float64 `json:"centroids"`
	Sizes      []int64     `json:"sizes"`
	Inertia    float64     `json:"inertia"`
	Iterations int         `json:"iterations"`
	Converged  bool        `json:"converged"`
}

// Share is what the other ranks answer: their share of the points.
type Share struct {
	Rank   int   `json:"rank"`
	Points int64 `json:"points"`
}

// Burst is the entry point of the function "kmeans".
func Burst(ctx context.Context, w *comm.Worker, input json.RawMessage) (any, error) {
	in, err := ParseInput("kmeans", input)
	if err != nil {
		return nil, err
	}
	m, err := Run(ctx, w, "kmeans", in, Nearest)
	if err != nil {
		return nil, err
	}
	if w.Rank() != 0 {
		return Share{Rank: m.Rank, Points: m.Points}, nil
	}
	return m, nil
}

// An Assigner is the assignment step: it gives each of the rank's points a cluster,
// labels[i] for point i, given the centroids (k rows of d.Dims numbers). Every rank
// calls it at the same time, so it may use collectives.
type Assigner func(ctx context.Context, w *comm.Worker, d *Data, centroids []float64, labels []int32) error

// Nearest assigns each point to its nearest centroid, the lowest index on a tie.
func Nearest(_ context.Context, _ *comm.Worker, d *Data, centroids []float64, labels []int32) error {
	k := len(centroids) / d.Dims
	for i := range labels {
		x := d.Points[i*d.Dims : (i+1)*d.Dims]
		best, bestD := int32(0), math.Inf(1)
		for j := range k {
			if dist := Dist2(x, centroids[j*d.Dims:(j+1)*d.Dims]); dist < bestD {
				best, bestD = int32(j), dist
			}
		}
		labels[i] = best
	}
	return nil
}

// Dist2 is the squared Euclidean distance between x and y.
func Dist2(x, y []float64) float64 {
	s := 0.0
	for i, v := range x {
		t := v - y[i]
		s += t * t
	}
	return s
}

// Run loads the rank's points and runs Lloyd's iterations with the given assignment
// step. Every rank calls it and gets the same model; name prefixes errors.
func Run(ctx context.Context, w *comm.Worker, name string, in Input, assign Assigner) (Model, error) {
	d, centroids, err := Load(ctx, w, name, in)
	if err != nil {
		return Model{}, err
	}
	k, dims := in.K, d.Dims
	labels := make([]int32, d.Len())
	m := Model{Rank: w.Rank(), Points: int64(d.Len()), Total: d.Total}
	for m.Iterations < in.Iterations {
		stats, err := measure(ctx, w, d, k, centroids, labels, assign)
		if err != nil {
			return Model{}, err
		}
		next := make([]float64, k*dims)
		shift := 0.0
		for j := range k {
			c, old := next[j*dims:(j+1)*dims], centroids[j*dims:(j+1)*dims]
			n := stats[k*dims+j]
			if n == 0 {
				copy(c, old) // an empty cluster keeps its centroid
				continue
			}
			for i := range c {
				c[i] = stats[j*dims+i] / n
			}
			shift = max(shift, math.Sqrt(Dist2(c, old)))
		}
		centroids = next
		m.Iterations++
		if w.Rank() == 0 {
			w.Logger().Debug(name+" iteration", "iteration", m.Iterations, "shift", shift, "inertia", stats[len(stats)-1])
		}
		if shift <= in.Tolerance {
			m.Converged = true
			break
		}
	}
	// Sizes and inertia are those of the final centroids, after one more assignment.
	stats, err := measure(ctx, w, d, k, centroids, labels, assign)
	if err != nil {
		return Model{}, err
	}
	m.Centroids = make([][]float64, k)
	m.Sizes = make([]int64, k)
	for j := range k {
		m.Centroids[j] = centroids[j*dims : (j+1)*dims]
		m.Sizes[j] = int64(stats[k*dims+j])
	}
	m.Inertia = stats[len(stats)-1]
	if math.IsInf(m.Inertia, 0) || math.IsNaN(m.Inertia) {
		// JSON has no infinity: say why rather than fail to encode the result.
		return Model{}, fmt.Errorf("%s: squared distances overflow: coordinates are too large", name)
	}
	return m, nil
}

// measure assigns the rank's points and returns, summed over every rank, the
// coordinates of each cluster's points (k rows), the clusters' sizes (k) and the
// inertia (1): one allreduce. The result is read-only, shared by the pack.
func measure(ctx context.Context, w *comm.Worker, d *Data, k int, centroids []float64, labels []int32, assign Assigner) ([]float64, error) {
	if err := assign(ctx, w, d, centroids, labels); err != nil {
		return nil, err
	}
	dims := d.Dims
	stats := make([]float64, k*dims+k+1)
	sums, counts := stats[:k*dims], stats[k*dims:k*dims+k]
	inertia := 0.0
	for i, c := range labels {
		if c < 0 || int(c) >= k {
			return nil, fmt.Errorf("kmeans: point %d assigned to cluster %d of %d", i, c, k)
		}
		x := d.Points[i*dims : (i+1)*dims]
		s := sums[int(c)*dims : (int(c)+1)*dims]
		for t, v := range x {
			s[t] += v
		}
		counts[c]++
		inertia += Dist2(x, centroids[int(c)*dims:(int(c)+1)*dims])
	}
	stats[len(stats)-1] = inertia
	return comm.AllReduceSlice(ctx, w, stats, comm.Sum[float64])
}
