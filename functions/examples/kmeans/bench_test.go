package kmeans

import (
	"context"
	"testing"

	"github.com/burstgo/burst/comm"
	"github.com/burstgo/burst/functions/examples/dataset"
	"github.com/burstgo/burst/functions/examples/flaretest"
)

// BenchmarkKMeans puts the flare beside the sequential reference on the same 1 Mi
// points (both generate the points and run 20 iterations), over NATS through an
// embedded server, each pack on its own connection:
//
//	go test -run '^$' -bench . -benchtime 1x ./functions/examples/kmeans
func BenchmarkKMeans(b *testing.B) {
	g := dataset.Points{N: 1 << 20, Dims: 4, Clusters: 8, Spread: 3, Seed: 1}.WithDefaults()
	in := Input{K: 8, Generate: &g, Iterations: 20}
	b.Run("reference", func(b *testing.B) {
		for b.Loop() {
			m := reference(g.Generate(0, g.N), g.Dims, g.Generate(0, 8), in.Iterations, 0)
			b.ReportMetric(float64(m.Iterations), "iterations")
		}
	})
	nats := flaretest.NATS(b)
	for _, l := range []flaretest.Layout{{Size: 1, Granularity: 1}, {Size: 2, Granularity: 1}, {Size: 2, Granularity: 2}} {
		b.Run(l.String(), func(b *testing.B) {
			for b.Loop() {
				models, c, err := flaretest.Run(b, l, nats, func(ctx context.Context, w *comm.Worker) (Model, error) {
					return Run(ctx, w, "kmeans", in, Nearest)
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
