// Command plugin is kmeans built as a Burst plugin: `burst fn build ./functions/examples/kmeans/plugin`.
package main

import (
	"context"
	"encoding/json"

	"github.com/burstgo/burst/comm"
	"github.com/burstgo/burst/functions/examples/kmeans"
)

// Burst is kmeans.Burst.
func Burst(ctx context.Context, w *comm.Worker, input json.RawMessage) (any, error) {
	return kmeans.Burst(ctx, w, input)
}

func main() {}
