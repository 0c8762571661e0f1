// Command initpanic is a plugin whose init panics in a function host (it passes the
// gateway's upload check).
package main

import (
	"context"
	"encoding/json"
	"os"

	"github.com/burstgo/burst/comm"
)

func init() {
	if os.Getenv("BURST_FUNCTION_HOST") != "" {
		panic("init of a broken plugin")
	}
}

func Burst(ctx context.Context, w *comm.Worker, input json.RawMessage) (any, error) { return "ok", nil }

func main() {}
