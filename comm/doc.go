// Package comm is Burst's communication middleware: it lets the N workers of a flare
// talk, MPI-style, with point-to-point messages and collectives, where the workers of
// one pack share memory and only traffic between packs crosses the network.
//
//	g, _ := comm.NewGroup(ctx, comm.Config{
//		Flare: "f1", Size: 8, Granularity: 4, Transport: comm.NewMemoryTransport(),
//	})
//	defer g.Close()
//	err := g.Run(ctx, func(ctx context.Context, w *comm.Worker) error {
//		sum, err := comm.AllReduceSlice(ctx, w, []float64{float64(w.Rank())}, comm.Sum[float64])
//		...
//	})
//
// # Layout
//
// A flare has Size workers with ranks 0..N-1, grouped in packs of Granularity g: pack p
// holds ranks [p·g, min((p+1)·g, N)), any N and any g; or, with Config.Bounds (a joined
// flare's), pack p holds [Bounds[p], Bounds[p+1]). An invoker builds its pack with
// NewPack and runs its workers with Pack.Run; NewGroup builds every pack in one process
// for tests, benchmarks and one-host runs.
//
// # Two levels
//
// Inside a pack a message is handed over in memory: no copy, no serialisation. A slice
// given to Send or to a collective therefore belongs to the middleware and must not be
// changed afterwards, and received slices are read-only, since other workers may hold
// the very same bytes. Between packs, messages go over a Transport, split into frames
// of at most Config.ChunkSize payload bytes (default 1 MiB) with a fixed, versioned,
// little-endian header (see wire.go), and are reassembled on arrival.
//
// Every collective is pack-aware: one worker per pack (the leader, its lowest rank, or
// the root in the root's pack) does the pack's remote sends and receives, so remote
// traffic is one message per pack or per pair of packs, never per worker (see
// collective.go for the count of each). Worker.Counters tells local and remote messages
// and bytes apart, which is how the tests prove it. Reductions combine in rank order
// (within the pack first, then pack partials in pack order), so an Op need only be
// associative; the typed helpers (ReduceSlice, AllReduceSlice with Sum, Min, Max or
// any func(a, b T) T) fold a pack's contributions in one parallel pass over shared
// memory.
//
// Collectives are matched by a per-worker sequence number, so all workers call them in
// the same order, as in MPI; point-to-point messages are matched per pair of ranks and
// can be interleaved freely with collectives.
//
// # Transports
//
// NewMemoryTransport (one process), NewNATSTransport (core NATS, the default; connect in
// process with ConnectInProcess when the server is embedded, by TCP otherwise) and
// NewJetStreamTransport (durable: a work-queue stream per flare, acknowledged consumers,
// deduplication by message id, the stream deleted by EndFlare when the flare ends; a
// publish that goes unanswered is retried, so a flare carries on across a restart of
// the NATS server, which TestJetStreamSurvivesServerRestart checks).
// Subjects are burst.<flare>.<pack> for a pack's frames and burst.<flare>.abort for
// aborts. Package cluster starts an embedded NATS server.
//
// Two mechanisms make core NATS, which drops what nobody listens to, safe to use: a pack
// says hello to another before its first frame to it and waits for the answer (so packs
// may start at different times), and a sender keeps at most Config.Window frames in
// flight to each other pack, refilled by the receiver's credit (so a 1 GiB transfer
// neither overruns a slow consumer nor deadlocks, whatever the receiving worker does).
// The window is per pair of packs, so what one connection may have to absorb grows with
// the number of packs sending to it at once: senders × Window × ChunkSize (32 MiB per
// sender by default) must stay under the server's pending limit per connection, 1 GiB
// in cluster.RunServer.
//
// # Lanes
//
// A pack given Config.Lanes (ListenLanes: a unix socket, TCP) and the flare's
// LaneSecret sends its messages of 64 KiB and more to other packs over direct lanes
// instead of the transport: the same frames, written from the message's own bytes and
// read straight into the message on arrival, where NATS copies them through its server.
// A pack learns another's lane addresses from its hello; each side of a lane proves it
// holds the flare's secret; a lane that cannot be opened leaves the traffic on the
// transport, and one that breaks under a flare aborts it. JetStream takes no lanes
// (see lane.go).
//
// # Failure
//
// A worker that returns an error or panics in Pack.Run aborts the flare: every pack is
// told on burst.<flare>.abort, and every worker blocked in a receive or collective, or
// calling one later, gets an error wrapping ErrAborted that names the failed rank and
// its cause. A caller's context bounds any wait (a peer that never comes, for one).
// Pack.Close releases the pack's subscriptions and goroutines.
package comm
