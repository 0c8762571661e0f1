// Package invoker runs the packs of flares: it joins the cluster over NATS, heartbeats
// to the gateway, takes pack assignments by request and reply, finds the function (a
// built-in by name, or a plugin fetched by digest from the object store and cached on
// disk), builds the pack with comm.NewPack on the flare's transport, runs one goroutine
// per rank and reports every worker to the gateway as events.
//
//	inv, _ := invoker.New(invoker.Options{Conn: nc, Slots: 1024})
//	inv.Start(ctx)
//	defer inv.Shutdown(ctx)
//
// The control plane, which the gateway speaks too, is in protocol.go: heartbeats,
// discovery and cancels under burst.ctl.>, assignments on burst.ctl.assign.<invoker>,
// and each flare's events on burst.evt.<flare>. A pack's events come in this order:
// started (once every worker runs, with their start times), logs (every 250 ms while
// lines come), workers (each worker's end, status, error and JSON result, cut to stay
// under the NATS payload limit) and ended (the pack's comm counters and status), after
// which its slots are free.
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
