// Command plugin is sleep built as a Burst plugin: `burst fn build ./functions/examples/sleep/plugin`.
package main

import (
	"context"
	"encoding/json"

	"github.com/burstgo/burst/comm"
	"github.com/burstgo/burst/functions/examples/sleep"
)

// Burst is sleep.Burst.
func Burst(ctx context.Context, w *comm.Worker, input json.RawMessage) (any, error) {
	return sleep.Burst(ctx, w, input)
}

func main() {}
