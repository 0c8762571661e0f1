// Command initpanic is a plugin whose init code panics, which kills the process that
// opens it: the reason plugins are checked in a child process.
package main

import (
	"context"
	"encoding/json"

	"github.com/burstgo/burst/comm"
)

func init() { panic("initpanic: refusing to start") }

// Burst is never reached.
func Burst(context.Context, *comm.Worker, json.RawMessage) (any, error) { return nil, nil }

func main() {}
