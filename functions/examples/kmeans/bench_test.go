package kmeans_test

import (
	"testing"

	"github.com/burstgo/burst/functions/examples/dataset"
	"github.com/burstgo/burst/functions/examples/kmeans"
	"github.com/burstgo/burst/functions/examples/kmeans/kmeanstest"
)

// BenchmarkKMeans puts the flare beside the sequential reference on the same 1 Mi
// points (both generate the points and run 20 iterations), over NATS through an
// embedded server, each pack on its own connection:
//
//	go test -run '^$' -bench . -benchtime 1x ./functions/examples/kmeans
func BenchmarkKMeans(b *testing.B) {
	g := dataset.Points{N: 1 << 20, Dims: 4, Clusters: 8, Spread: 3, Seed: 1}
	kmeanstest.Benchmark(b, "kmeans", kmeans.Input{K: 8, Generate: &g, Iterations: 20}, kmeans.Nearest, kmeanstest.Nearest)
}
