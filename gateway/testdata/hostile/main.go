// Command hostile is a test plugin that does what a function must not, on demand, to
// check that the function hosts contain it:
//
//	"pid"       answers the process id it runs in (no harm: to see where it runs)
//	"panic"     panics in a goroutine of its own, which nothing recovers
//	"exit"      calls os.Exit(1)
//	"alloc"     allocates without bound and keeps it all
//	"spin"      logs its process id, then loops without looking at its context
//	"leak"      leaves a goroutine running behind it, and answers the process id
//	"latepanic" leaves a goroutine that panics 300 ms later, and answers the process id
//	"wait"      waits a second, and answers the process id
//	"child"     starts `sleep 3600.25` with its stdout, and calls os.Exit(1)
//	"forge"     writes messages as its host's to the host's invoker, and answers the process id
//	"garble"    writes what is not a message to the host's invoker, and waits for its context
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/burstgo/burst/comm"
)

var kept [][]byte

// childSleep is the argument of the process that "child" starts, for a test to find it.
const childSleep = "3600.25"

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
	case "child":
		// A process that holds the host's output open, and outlives it unless killed.
		c := exec.Command("sleep", childSleep)
		c.Stdout = os.Stdout
		if err := c.Start(); err != nil {
			return nil, err
		}
		os.Exit(1)
	case "latepanic":
		go func() { time.Sleep(300 * time.Millisecond); panic("left behind by an earlier flare") }()
		return map[string]int{"pid": os.Getpid(), "rank": w.Rank()}, nil
	case "wait":
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return map[string]int{"pid": os.Getpid(), "rank": w.Rank()}, nil
	case "forge":
		// Messages as the host sends them to its invoker, on the host's pipe: a host
		// ready again, a pack of another flare set up and ended.
		other := `{"flare":"01a00000-0000-7000-8000-000000000000","pack":0`
		writeMessages(`{"op":"ready"}` + "\n" +
			`{"op":"setup",` + other[1:] + "}\n" +
			`{"op":"event",` + other[1:] + `,"event":{"kind":"ended","status":"succeeded"}}` + "\n")
		return map[string]int{"pid": os.Getpid(), "rank": w.Rank()}, nil
	case "garble":
		writeMessages("not a message\n")
		<-ctx.Done()
		return nil, ctx.Err()
	case "leak":
		go func() { time.Sleep(time.Hour) }()
		return map[string]int{"pid": os.Getpid(), "rank": w.Rank()}, nil
	}
	return nil, fmt.Errorf("hostile: unknown %q", do)
}

// writeMessages writes s to the host's pipe to its invoker (descriptor 4). It writes
// to the descriptor itself: an *os.File made for it would close it when collected,
// and the host would lose its pipe.
func writeMessages(s string) {
	syscall.Write(4, []byte(s))
}

func main() {}
