package kmeansbalanced

import (
	"context"
	"testing"

	"github.com/burstgo/burst/comm"
	"github.com/burstgo/burst/functions/examples/dataset"
	"github.com/burstgo/burst/functions/examples/flaretest"
	"github.com/burstgo/burst/functions/examples/kmeans"
)

// BenchmarkBalanced puts the flare beside the sequential reference (which sorts the
// candidates of each cluster instead of selecting them by histogram) on the same 1 Mi
// points, 5 iterations, over NATS through an embedded server:
//
//	go test -run '^$' -bench . -benchtime 1x ./functions/examples/kmeansbalanced
func BenchmarkBalanced(b *testing.B) {
	g := dataset.Points{N: 1 << 20, Dims: 4, Clusters: 8, Spread: 3, Seed: 1}.WithDefaults()
	in := kmeans.Input{K: 8, Generate: &g, Iterations: 5}
	b.Run("reference", func(b *testing.B) {
		for b.Loop() {
			reference(g.Generate(0, g.N), g.Dims, g.Generate(0, 8), in.Iterations, 0)
		}
	})
	nats := flaretest.NATS(b)
	for _, l := range []flaretest.Layout{{Size: 1, Granularity: 1}, {Size: 2, Granularity: 1}, {Size: 2, Granularity: 2}} {
		b.Run(l.String(), func(b *testing.B) {
			for b.Loop() {
				_, c, err := flaretest.Run(b, l, nats, func(ctx context.Context, w *comm.Worker) (kmeans.Model, error) {
					return kmeans.Run(ctx, w, name, in, Balanced)
				})
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(c.RemoteBytes), "remote-bytes")
			}
		})
	}
}
