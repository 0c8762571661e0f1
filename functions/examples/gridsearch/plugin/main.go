// Command plugin is gridsearch built as a Burst plugin: `burst fn build ./functions/examples/gridsearch/plugin`.
package main

import (
	"context"
	"encoding/json"

	"github.com/burstgo/burst/comm"
	"github.com/burstgo/burst/functions/examples/gridsearch"
)

// Burst is gridsearch.Burst.
func Burst(ctx context.Context, w *comm.Worker, input json.RawMessage) (any, error) {
	return gridsearch.Burst(ctx, w, input)
}

func main() {}
