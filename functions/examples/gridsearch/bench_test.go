package gridsearch

import (
	"context"
	"testing"

	"github.com/burstgo/burst/comm"
	"github.com/burstgo/burst/functions/examples/flaretest"
)

// benchInput is a grid of 4 degrees × 16 alphas, 5-fold, on 50 000 samples of 8
// features.
const benchInput = `{"generate": {"samples": 50000, "features": 8, "seed": 1}, "degrees": [1, 2, 3, 4],
 "alphas": [1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3, 1, 3, 10, 30, 100, 300, 1000, 3000]}`

// BenchmarkGridSearch puts the flare beside the sequential loop over the grid, on the
// same data, over NATS through an embedded server:
//
//	go test -run '^$' -bench . -benchtime 1x ./functions/examples/gridsearch
func BenchmarkGridSearch(b *testing.B) {
	in, err := ParseInput([]byte(benchInput))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("reference", func(b *testing.B) {
		for b.Loop() {
			x, y := in.Generate.Generate()
			best := -1.0
			for _, d := range in.Degrees {
				for _, a := range in.Alphas {
					mse, err := CrossValidate(x, y, in.Generate.Features, d, a, in.Folds)
					if err != nil {
						b.Fatal(err)
					}
					if best < 0 || mse < best {
						best = mse
					}
				}
			}
		}
	})
	nats := flaretest.NATS(b)
	for _, l := range []flaretest.Layout{{Size: 1, Granularity: 1}, {Size: 2, Granularity: 1}, {Size: 2, Granularity: 2}} {
		b.Run(l.String(), func(b *testing.B) {
			for b.Loop() {
				if _, _, err := flaretest.Run(b, l, nats, func(ctx context.Context, w *comm.Worker) (Result, error) {
					return run(ctx, w, in)
				}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
