package kmeansbalanced

import (
	"context"
	"encoding/json"
	"fmt"
	"math"

	"github.com/burstgo/burst/comm"
	"github.com/burstgo/burst/functions/examples/kmeans"
)

const name = "kmeans-balanced"

// Burst is the entry point of the function "kmeans-balanced".
func Burst(ctx context.Context, w *comm.Worker, input json.RawMessage) (any, error) {
	in, err := kmeans.ParseInput(name, input)
	if err != nil {
		return nil, err
	}
	m, err := kmeans.Run(ctx, w, name, in, Balanced)
	if err != nil {
		return nil, err
	}
	if w.Rank() != 0 {
		return kmeans.Share{Rank: m.Rank, Points: m.Points}, nil
	}
	return m, nil
}

// Caps returns the sizes of k balanced clusters of n points: n/k each, the first n mod
// k one more.
func Caps(n int64, k int) []int64 {
	caps := make([]int64, k)
	for j := range caps {
		caps[j] = n / int64(k)
		if int64(j) < n%int64(k) {
			caps[j]++
		}
	}
	return caps
}

// Balanced is the balanced assignment step, by greedy sequential filling (see the
// package doc). Every rank calls it at the same time.
func Balanced(ctx context.Context, w *comm.Worker, d *kmeans.Data, centroids []float64, labels []int32) error {
	k, n := len(centroids)/d.Dims, d.Len()
	if int64(n)*int64(k) > kmeans.MaxWorkerFloats {
		// The distances of every point to every centroid are held at once.
		return fmt.Errorf("%s: %d points per worker for %d clusters is too many: use a larger burst", name, n, k)
	}
	caps := Caps(d.Total, k)
	dist := make([]float64, n*k)
	for i := range n {
		x := d.Points[i*d.Dims : (i+1)*d.Dims]
		for j := range k {
			dist[i*k+j] = kmeans.Dist2(x, centroids[j*d.Dims:(j+1)*d.Dims])
		}
	}
	for i := range labels {
		labels[i] = int32(k - 1) // what no earlier cluster takes
	}
	placed := make([]bool, n)
	keys, who := make([]uint64, 0, n), make([]int32, 0, n)
	for j := range k - 1 {
		keys, who = keys[:0], who[:0]
		for i := range n {
			if placed[i] {
				continue
			}
			best := math.Inf(1)
			for _, dl := range dist[i*k+j+1 : (i+1)*k] {
				best = min(best, dl)
			}
			keys = append(keys, OrderKey(dist[i*k+j]-best))
			who = append(who, int32(i))
		}
		limit, take, err := Smallest(ctx, w, keys, caps[j])
		if err != nil {
			return fmt.Errorf("%s: cluster %d: %w", name, j, err)
		}
		for p, key := range keys {
			if key < limit || key == limit && take > 0 {
				if key == limit {
					take--
				}
				i := who[p]
				labels[i], placed[i] = int32(j), true
			}
		}
	}
	return nil
}

// OrderKey maps a float64 to a uint64 of the same order (for numbers that are not NaN).
func OrderKey(f float64) uint64 {
	b := math.Float64bits(f)
	if b>>63 != 0 {
		return ^b
	}
	return b | 1<<63
}

// Smallest finds the m smallest of every rank's keys, ties going to lower ranks and,
// within a rank, to earlier keys: this rank's share is its keys below limit and the
// first take of its keys equal to limit. Every rank calls it with its own keys; there
// must be at least m keys in all. It finds limit one byte at a time with an allreduce of
// a histogram, then splits the ties with an allgather.
func Smallest(ctx context.Context, w *comm.Worker, keys []uint64, m int64) (limit uint64, take int64, err error) {
	cand := append([]uint64(nil), keys...)
	need := m
	for shift := 56; shift >= 0; shift -= 8 {
		hist := make([]int64, 256)
		for _, x := range cand {
			hist[x>>shift&0xff]++
		}
		all, err := comm.AllReduceSlice(ctx, w, hist, comm.Sum[int64])
		if err != nil {
			return 0, 0, err
		}
		b := 0
		for ; b < 256 && all[b] < need; b++ {
			need -= all[b]
		}
		if b == 256 {
			return 0, 0, fmt.Errorf("selection of %d keys among fewer", m)
		}
		limit |= uint64(b) << shift
		kept := cand[:0]
		for _, x := range cand {
			if x>>shift&0xff == uint64(b) {
				kept = append(kept, x)
			}
		}
		cand = kept
	}
	// cand now holds this rank's keys equal to limit, need of which go, in rank order.
	ties, err := w.AllGather(ctx, comm.Bytes([]int64{int64(len(cand))}))
	if err != nil {
		return 0, 0, err
	}
	before := int64(0)
	for _, b := range ties[:w.Rank()] {
		if t := comm.Elements[int64](b); len(t) == 1 {
			before += t[0]
		}
	}
	return limit, min(max(need-before, 0), int64(len(cand))), nil
}
