// Command hellov2 is a second version of the hello plugin, for the test that two versions
// of a function load side by side in one process.
package main

import (
	"context"
	"encoding/json"

	"github.com/burstgo/burst/comm"
	"github.com/burstgo/burst/functions/examples/hello"
)

// Burst answers {"version":2,"hello":<hello's answer>}.
func Burst(ctx context.Context, w *comm.Worker, input json.RawMessage) (any, error) {
	r, err := hello.Burst(ctx, w, input)
	if err != nil {
		return nil, err
	}
	return map[string]any{"version": 2, "hello": r}, nil
}

func main() {}
