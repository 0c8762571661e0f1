package functions_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/burstgo/burst/comm"
	"github.com/burstgo/burst/functions"
	"github.com/burstgo/burst/functions/examples"
)

// A built-in function runs on the workers of a flare, here three workers in packs of two
// on the memory transport, as an invoker runs them.
func Example() {
	hello := examples.Builtins()["hello"]
	ctx := context.Background()
	g, err := comm.NewGroup(ctx, comm.Config{Flare: "example", Size: 3, Granularity: 2, Transport: comm.NewMemoryTransport()})
	if err != nil {
		panic(err)
	}
	defer g.Close()
	results := make([][]byte, 3)
	err = g.Run(ctx, func(ctx context.Context, w *comm.Worker) error {
		r, err := hello(ctx, w, json.RawMessage(`{"x":1}`))
		if err != nil {
			return err
		}
		results[w.Rank()], err = json.Marshal(r)
		return err
	})
	if err != nil {
		panic(err)
	}
	for _, r := range results {
		fmt.Println(string(r))
	}
	// Output:
	// {"rank":0,"size":3,"pack":0,"input":{"x":1}}
	// {"rank":1,"size":3,"pack":0,"input":{"x":1}}
	// {"rank":2,"size":3,"pack":1,"input":{"x":1}}
}

// Build a plugin, check it in a child process as the gateway does, and load it as an
// invoker does. (Not run: building takes seconds, and the child is the burst binary.)
func ExampleBuild() {
	ctx := context.Background()
	if err := functions.Build(ctx, "./functions/examples/hello/plugin", "hello.so"); err != nil {
		fmt.Println(err) // the compiler's output
		return
	}
	info, err := functions.CheckInChild(ctx, "/usr/local/bin/burst", "hello.so")
	if err != nil {
		fmt.Println(functions.ErrorCode(err), err) // e.g. mismatch: module ... v1 vs v2
		return
	}
	fn, err := functions.Load("hello.so")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(info.Digest, fn != nil)
}
