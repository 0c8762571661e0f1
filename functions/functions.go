package functions

import (
	"context"
	"encoding/json"

	"github.com/burstgo/burst/comm"
)

// Func is the ABI of a Burst function: the type of the Burst entry point. It runs once per
// worker; the result is marshalled to JSON, and an error or a panic fails the worker and
// aborts the flare.
type Func func(ctx context.Context, w *comm.Worker, input json.RawMessage) (any, error)
