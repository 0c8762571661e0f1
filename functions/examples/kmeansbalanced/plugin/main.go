// Command plugin is kmeans-balanced built as a Burst plugin: `burst fn build ./functions/examples/kmeansbalanced/plugin`.
package main

import (
	"context"
	"encoding/json"

	"github.com/burstgo/burst/comm"
	"github.com/burstgo/burst/functions/examples/kmeansbalanced"
)

// Burst is kmeansbalanced.Burst.
func Burst(ctx context.Context, w *comm.Worker, input json.RawMessage) (any, error) {
	return kmeansbalanced.Burst(ctx, w, input)
}

func main() {}
