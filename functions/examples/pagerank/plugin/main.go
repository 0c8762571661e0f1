// Command plugin is pagerank built as a Burst plugin: `burst fn build ./functions/examples/pagerank/plugin`.
package main

import (
	"context"
	"encoding/json"

	"github.com/burstgo/burst/comm"
	"github.com/burstgo/burst/functions/examples/pagerank"
)

// Burst is pagerank.Burst.
func Burst(ctx context.Context, w *comm.Worker, input json.RawMessage) (any, error) {
	return pagerank.Burst(ctx, w, input)
}

func main() {}
