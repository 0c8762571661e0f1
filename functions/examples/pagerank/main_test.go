package pagerank

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/burstgo/burst/comm"
	"github.com/burstgo/burst/functions/examples/flaretest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// burst runs the function on a flare over the memory transport, every rank with the same input.
func burst(t testing.TB, size, g int, input string) ([]any, error) {
	results, _, err := flaretest.Run(t, flaretest.Layout{Size: size, Granularity: g}, flaretest.Memory,
		func(ctx context.Context, w *comm.Worker) (any, error) {
			return Burst(ctx, w, json.RawMessage(input))
		})
	return results, err
}
