// Command hostile is a test plugin that does what a function must not, on demand, to
// check that the function hosts contain it:
//
//	"pid"      answers the process id it runs in (no harm: to see where it runs)
//	"panic"    panics in a goroutine of its own, which nothing recovers
//	"exit"     calls os.Exit(1)
//	"alloc"    allocates without bound and keeps it all
//	"spin"     logs its process id, then loops without looking at its context
//	"leak"     leaves a goroutine running behind it, and answers the process id
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/burstgo/burst/comm"
)

var kept [][]byte

// Burst misbehaves as its input says.
func Burst(ctx context.Context, w *comm.Worker, input json.RawMessage) (any, error) {
	var do string
	if err := json.Unmarshal(input, &do); err != nil {
		return nil, fmt.Errorf("hostile: input: %w", err)
	}
	switch do {
	case "pid":
		return map[string]int{"pid": os.Getpid(), "rank": w.Rank()}, nil
	case "panic":
		go func() { panic(fmt.Sprintf("hostile goroutine of rank %d", w.Rank())) }()
		<-ctx.Done()
		return nil, ctx.Err()
	case "exit":
		os.Exit(1)
	case "alloc":
		for {
			b := make([]byte, 8<<20)
			for i := range b {
				b[i] = byte(i)
			}
			kept = append(kept, b)
		}
	case "spin":
		w.Logger().Info("spinning", "pid", os.Getpid())
		n := 0
		for {
			n++
		}
	case "leak":
		go func() { time.Sleep(time.Hour) }()
		return map[string]int{"pid": os.Getpid(), "rank": w.Rank()}, nil
	}
	return nil, fmt.Errorf("hostile: unknown %q", do)
}

func main() {}
