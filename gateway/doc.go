// Package gateway is Burst's HTTP front: the function registry, the flare controller that
// places packs on invokers, and the flare records.
//
// A gateway has the nats-server shape: Options, New, Start, Shutdown.
//
//	srv, _ := cluster.RunServer(cluster.ServerOptions{Port: -1, StoreDir: dir}) // JetStream keeps the records
//	nc, _ := cluster.ConnectInProcess(srv)
//	gw, _ := gateway.New(gateway.Options{Addr: "127.0.0.1:8080", Conn: nc})
//	gw.Start(ctx)
//	defer gw.Shutdown(ctx)
//
// The API (JSON in and out; errors are {"error":{"code":"...","message":"..."}} with
// 400 bad input, 404 unknown function or flare, 409 conflict, 413 too large, 422 bad
// plugin, 429 queue full, 503 no capacity; every answer has an X-Request-Id, which the
// request log names):
//
//	PUT    /functions/{name}       register a plugin (.so body), ?memory=&timeout=&log_bytes=&result_bytes=; 201 new, 200 new version
//	GET    /functions              built-ins and plugins; GET/DELETE /functions/{name}
//	PUT    /datasets/{name}        store the body as a dataset (datasets.go); GET /datasets, GET/DELETE /datasets/{name}, GET …/content
//	POST   /flares                 {"function","size","granularity","input"|"inputs","timeout","backend","join"}
//	                               202 and the record, or with ?wait=true 200 and the record with results
//	GET    /flares                 ?status=&function=&limit=&cursor=, newest first; "next" is the next page's cursor
//	GET    /flares/{id}            the record: packs, workers, comm counters
//	GET    /flares/{id}/results    results in rank order
//	GET    /flares/{id}/logs       ?rank=, the lines workers logged through w.Logger()
//	GET    /flares/{id}/events     server-sent events until the flare ends; Last-Event-ID resumes
//	DELETE /flares/{id}            cancel
//	GET    /invokers, /livez, /readyz, /metrics
//
// Decisions (docs/design.md tells the whole way of a flare):
//
//   - size defaults to 1 and granularity to size (one pack); timeout is a Go duration
//     ("30s") or a number of seconds, counted from creation, queueing included.
//   - Placement is gang scheduling with best fit (see placement.go). A flare that cannot
//     ever fit (larger than the cluster's slots, a pack larger than every invoker, a
//     memory flare larger than one invoker, or packs that do not fit on the invokers even
//     when all their slots are free) is refused with 503 no_capacity; one that does not
//     fit now waits in a strict FIFO queue, bounded by Options.QueueLimit (429).
//   - The memory backend runs every pack of the flare on one invoker, whose in-process
//     transport connects them.
//   - ?wait=true answers 200 with the final record whatever the flare's status (a
//     failed flare too: the request worked, the flare did not), as OpenWhisk's blocking
//     invoke does; after Options.Wait it answers 202 like an asynchronous POST.
//   - A failed flare's error is the first failure in rank order that is a worker's own,
//     not the echo of another's abort; the echoing workers have the status "aborted".
//   - A pack that fails is relayed by the gateway to the flare's other packs, so a pack
//     that subscribed after comm's own abort went out is still stopped.
//   - Records live in JetStream key-value buckets (store.go): the flare's header, with
//     its workers and results in the same value when they are small, else in values of
//     at most a few MiB, cut to fit the NATS server's payload limit (1 MiB on a plain
//     server that --nats joins, 8 MiB embedded). They age out after Options.Retention;
//     GET /flares lists the newest Options.IndexLimit from memory (index.go).
//   - A flare's record is written before any invoker hears of it, and the invokers'
//     events wait in a JetStream stream until the gateway has read them (report.go).
//     A gateway that starts takes up the flares recorded as running (recover.go): a
//     gateway killed under a flare and started again finishes it with every result.
//     Shutdown cancels the flares in flight and records them, or with
//     Options.LeaveRunning leaves them to the next gateway.
//   - The built-in functions are those the invokers advertise in their heartbeats; a
//     flare of a built-in goes only to the invokers that have it.
//   - A plugin is checked in a child process (Options.Exe fn check), stored once by
//     SHA-256 digest in the object store, and never loaded in the gateway. Its limits
//     (limits.go) are set with the upload and travel with every flare of it; a new
//     upload of the same plugin with other limits is a new version.
package gateway
