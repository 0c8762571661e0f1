// Package invoker runs the packs of flares: it joins the cluster over NATS, heartbeats
// to the gateway, takes pack assignments by request and reply, finds the function (a
// built-in of Options.Functions by name, or a plugin fetched by digest from the object
// store and cached on disk), builds the pack with comm.NewPack on the flare's transport,
// runs one goroutine per rank and reports every worker to the gateway as events.
//
// Built-ins run in the invoker's process. An uploaded function runs in a function host
// (host.go, hostmain.go): a child process, the burst binary as `burst host`, one per
// flare and function, kept warm for the function's next flare, so that a panic in a
// goroutine of the function's, os.Exit, memory without bound or a loop that ignores its
// context ends that flare and nothing else. Options.Isolation none runs them in the
// invoker too. docs/isolation.md tells what it protects and what not.
//
//	inv, _ := invoker.New(invoker.Options{Conn: nc, Slots: 1024, Functions: examples.Builtins()})
//	inv.Start(ctx)
//	defer inv.Shutdown(ctx)
//
// The protocol it speaks with the gateway is package control: heartbeats (with the
// protocol level and the names of the built-ins), discovery and cancels under
// burst.ctl.>, and the endpoints of a NATS micro service (assign, packs). A pack's
// events go to the JetStream stream control.EventStream through the outbox
// (outbox.go), which retries until the stream has them: packs run on while the gateway
// or the NATS server is away, and what they owe is delivered when it is back. They come
// in this order: started (every worker runs; a pack that ends within startedDelay sends
// none), logs (every 250 ms while lines come), workers (only the workers' ends that do
// not fit in the ended event) and ended (the pack's status, comm counters, the workers
// that fit and how many workers events came before), after which its slots are free.
//
// A worker ends as succeeded, failed (its own error or panic), aborted (stopped by
// another rank's failure), timed_out or cancelled. The invoker keeps each pack's own
// deadline, so a flare times out even if the gateway's cancel is lost. The invoker does
// not refuse work over its slots: the gateway owns placement, and the advertised slots
// are what it places against.
//
// A plugin opens once per process: plugins are remembered by digest across every
// invoker of the process.
package invoker
