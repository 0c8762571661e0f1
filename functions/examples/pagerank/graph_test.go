package pagerank

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/burstgo/burst/comm"
	"github.com/burstgo/burst/functions/examples/dataset"
	"github.com/burstgo/burst/functions/examples/flaretest"
)

// owner inverts dataset.Split: every node belongs to the block that holds it, empty
// blocks and all.
func TestOwner(t *testing.T) {
	tests := []struct {
		n    int64
		size int
	}{
		{1, 1}, {10, 3}, {7, 7}, {1000, 16}, {dataset.MaxNodes, 1000}, {101, 100},
	}
	for _, tt := range tests {
		for r := range tt.size {
			lo, hi := dataset.Split(tt.n, tt.size, r)
			for _, v := range []int64{lo, (lo + hi) / 2, hi - 1} {
				if v < lo || v >= hi {
					continue
				}
				if got := owner(v, tt.n, tt.size); got != r {
					t.Errorf("owner(%d, %d, %d) = %d, want %d", v, tt.n, tt.size, got, r)
				}
			}
		}
	}
}

func TestRadixSortHigh(t *testing.T) {
	tests := [][]uint64{
		nil,
		{5 << 32},
		{3<<32 | 1, 1<<32 | 2, 3 << 32, 0<<32 | 9, 1<<32 | 1},
		{1<<63 | 4, 1<<32 | 7, 1<<63 | 2, 0xffffffff<<32 | 1, 0x00ff00ff<<32 | 3},
	}
	for _, keys := range tests {
		want := slices.Clone(keys)
		slices.SortStableFunc(want, func(a, b uint64) int { return cmp.Compare(a>>32, b>>32) })
		if got := radixSortHigh(slices.Clone(keys)); !slices.Equal(got, want) {
			t.Errorf("radixSortHigh(%x) = %x, want %x", keys, got, want)
		}
	}
}

func TestTopK(t *testing.T) {
	pr := []float64{0.1, 0.5, 0.2, 0.5, 0.05, 0.3}
	tests := []struct {
		k    int
		want []int64
	}{
		{1, []int64{11}}, {3, []int64{11, 13, 15}}, {6, []int64{11, 13, 15, 12, 10, 14}}, {10, []int64{11, 13, 15, 12, 10, 14}},
	}
	for _, tt := range tests {
		var got []int64
		for _, nd := range topK(10, pr, tt.k) {
			got = append(got, nd.Node)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("topK(%d) = %v, want %v", tt.k, got, tt.want)
		}
	}
}

// handOut gives a worker's parts for its own pack straight to the all-to-all and those
// for other packs to their combiners, which collect them in rank order.
func TestHandOutCollect(t *testing.T) {
	for _, l := range []flaretest.Layout{{Size: 1, Granularity: 1}, {Size: 4, Granularity: 1}, {Size: 6, Granularity: 3}, {Size: 7, Granularity: 4}, {Size: 5, Granularity: 5}} {
		// Each worker notes what its all-to-all parts hold and what it collected.
		notes, _, err := flaretest.Run(t, l, flaretest.Memory, func(ctx context.Context, w *comm.Worker) ([]string, error) {
			part := func(o int) []byte { return comm.Bytes([]int32{int32(w.Rank()), int32(o)}) }
			parts, err := handOut(ctx, w, part)
			if err != nil {
				return nil, err
			}
			var notes []string
			for o, p := range parts {
				notes = append(notes, fmt.Sprintf("%d:%v", o, comm.Elements[int32](p)))
			}
			for o := range w.Size() {
				if !remote(w, o) || combiner(w, o) != w.Rank() {
					continue
				}
				got, err := collect(ctx, w, part(o))
				if err != nil {
					return nil, err
				}
				for _, b := range got {
					notes = append(notes, fmt.Sprintf("for %d:%v", o, comm.Elements[int32](b)))
				}
			}
			return notes, nil
		})
		if err != nil {
			t.Fatalf("%v: %v", l, err)
		}
		for r, got := range notes {
			first, end := r/l.Granularity*l.Granularity, min(r/l.Granularity*l.Granularity+l.Granularity, l.Size)
			var want, collected []string
			for o := range l.Size {
				switch {
				case o >= first && o < end || end-first == 1:
					want = append(want, fmt.Sprintf("%d:[%d %d]", o, r, o))
				case first+o%(end-first) == r:
					want = append(want, fmt.Sprintf("%d:[]", o))
					for s := first; s < end; s++ {
						collected = append(collected, fmt.Sprintf("for %d:[%d %d]", o, s, o))
					}
				default:
					want = append(want, fmt.Sprintf("%d:[]", o))
				}
			}
			if want = append(want, collected...); !slices.Equal(got, want) {
				t.Errorf("%v, rank %d: got %v, want %v", l, r, got, want)
			}
		}
	}
}
