// Package hello is the smallest Burst function: each worker answers with where it runs
// and what it was given. It is linked into the binary as the built-in "hello", and its
// plugin directory builds the same code as a plugin.
package hello

import (
	"context"
	"encoding/json"

	"github.com/burstgo/burst/comm"
)

// Result is what each worker of hello returns.
type Result struct {
	Rank  int             `json:"rank"`
	Size  int             `json:"size"`
	Pack  int             `json:"pack"`
	Input json.RawMessage `json:"input"`
}

// Burst answers {"rank":R,"size":N,"pack":P,"input":INPUT}, where INPUT is the worker's
// input exactly as given (null when there is none). Any JSON input is accepted.
func Burst(_ context.Context, w *comm.Worker, input json.RawMessage) (any, error) {
	if len(input) == 0 {
		input = json.RawMessage("null")
	}
	return Result{Rank: w.Rank(), Size: w.Size(), Pack: w.Pack(), Input: input}, nil
}
