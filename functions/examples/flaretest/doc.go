// Package flaretest runs flares in one process, for the tests and benchmarks of the
// example functions: every pack of a flare is built with comm.NewPack, on the memory
// transport or on its own connection to an embedded NATS server, as packs on different
// invokers would be, and the workers' results come back in rank order.
//
//	results, counters, err := flaretest.Run(t, flaretest.Layout{Size: 8, Granularity: 4}, flaretest.Memory,
//		func(ctx context.Context, w *comm.Worker) (int, error) { return w.Rank(), nil })
//
// Run is the general form; RunParts joins the ranks' shares of a whole (a vector, a
// sorted file) in rank order, Burst and BurstEach call a function's entry point with
// its JSON input as the platform does, and TempFile and TempFileOf make the input files
// of functions that read one.
package flaretest
