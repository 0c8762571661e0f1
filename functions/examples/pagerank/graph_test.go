package pagerank

import (
	"cmp"
	"slices"
	"testing"

	"github.com/burstgo/burst/functions/examples/dataset"
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
		{3<<32 | 1, 1<<32 | 2, 3<<32 | 0, 0<<32 | 9, 1<<32 | 1},
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
