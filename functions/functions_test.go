package functions

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/burstgo/burst/comm"
)

var flareSeq atomic.Int64

// runFunc runs fn as a flare of size workers in packs of granularity on the memory
// transport, every worker with the same input, and returns each rank's result as JSON.
func runFunc(t testing.TB, ctx context.Context, fn Func, size, granularity int, input json.RawMessage) ([]string, error) {
	t.Helper()
	g, err := comm.NewGroup(ctx, comm.Config{
		Flare:       fmt.Sprintf("functions-test-%d", flareSeq.Add(1)),
		Size:        size,
		Granularity: granularity,
		Transport:   comm.NewMemoryTransport(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := g.Close(); err != nil {
			t.Error(err)
		}
	}()
	results := make([]string, size)
	err = g.Run(ctx, func(ctx context.Context, w *comm.Worker) error {
		r, err := fn(ctx, w, input)
		if err != nil {
			return err
		}
		b, err := json.Marshal(r)
		results[w.Rank()] = string(b)
		return err
	})
	return results, err
}
