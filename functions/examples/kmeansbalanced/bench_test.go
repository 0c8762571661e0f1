package kmeansbalanced

import (
	"testing"

	"github.com/burstgo/burst/functions/examples/dataset"
	"github.com/burstgo/burst/functions/examples/kmeans"
	"github.com/burstgo/burst/functions/examples/kmeans/kmeanstest"
)

// BenchmarkBalanced puts the flare beside the sequential reference (which sorts the
// candidates of each cluster instead of selecting them by histogram) on the same 1 Mi
// points, 5 iterations, over NATS through an embedded server:
//
//	go test -run '^$' -bench . -benchtime 1x ./functions/examples/kmeansbalanced
func BenchmarkBalanced(b *testing.B) {
	g := dataset.Points{N: 1 << 20, Dims: 4, Clusters: 8, Spread: 3, Seed: 1}
	kmeanstest.Benchmark(b, name, kmeans.Input{K: 8, Generate: &g, Iterations: 5}, Balanced, referenceAssign)
}
