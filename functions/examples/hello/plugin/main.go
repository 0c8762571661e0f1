// Command plugin is hello built as a Burst plugin: `burst fn build ./functions/examples/hello/plugin`.
package main

import (
	"context"
	"encoding/json"

	"github.com/burstgo/burst/comm"
	"github.com/burstgo/burst/functions/examples/hello"
)

// Burst is hello.Burst.
func Burst(ctx context.Context, w *comm.Worker, input json.RawMessage) (any, error) {
	return hello.Burst(ctx, w, input)
}

func main() {}
