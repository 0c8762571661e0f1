// Command burstvar is a plugin whose Burst is a variable holding a function of the ABI's
// type, which plugin.Lookup returns as a pointer.
package main

import (
	"context"
	"encoding/json"

	"github.com/burstgo/burst/comm"
)

// Burst answers {"rank":R,"var":true}.
var Burst = func(_ context.Context, w *comm.Worker, _ json.RawMessage) (any, error) {
	return map[string]any{"rank": w.Rank(), "var": true}, nil
}

func main() {}
