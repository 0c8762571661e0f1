// Command plugin is terasort built as a Burst plugin: `burst fn build ./functions/examples/terasort/plugin`.
package main

import (
	"context"
	"encoding/json"

	"github.com/burstgo/burst/comm"
	"github.com/burstgo/burst/functions/examples/terasort"
)

// Burst is terasort.Burst.
func Burst(ctx context.Context, w *comm.Worker, input json.RawMessage) (any, error) {
	return terasort.Burst(ctx, w, input)
}

func main() {}
