// Package bench is the middleware's micro-benchmark tool behind `burst bench`, after
// the benchmark binary of the Burst Communication Middleware: one process per group
// (pack) of a burst, or one process for all groups, timing one collective over repeats
// and verifying every byte it received before it reports a figure.
package bench

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/burstgo/burst/cluster"
	"github.com/burstgo/burst/comm"
)

// Benchmarks lists the benchmark names: the original's, then Burst's extra collectives.
var Benchmarks = []string{"pair", "broadcast", "scatter", "gather", "all-to-all", "allgather", "reduce", "allreduce", "barrier"}

// Backends lists the transports: Burst's three; raw for plain nats.go publish/subscribe
// of the same bytes, the baseline; and tcp and unix for a plain byte stream between the
// groups, the floor (stream.go). The baselines do pair and broadcast only.
var Backends = []string{"nats", "jetstream", "memory", "raw", "tcp", "unix"}

// baseline reports whether backend is one of the baselines, not Burst.
func baseline(backend string) bool { return backend == "raw" || backend == "tcp" || backend == "unix" }

// Options are the tool's flags.
type Options struct {
	Benchmark   string `json:"benchmark"`
	Backend     string `json:"backend"`
	BurstID     string `json:"burst_id"`
	BurstSize   int    `json:"burst_size"`
	Groups      int    `json:"groups"`
	GroupID     int    `json:"group_id"` // -1: this process runs every group
	PayloadSize int    `json:"payload_size"`
	ChunkSize   int    `json:"chunk_size"`
	Server      string `json:"server"`
	Embed       bool   `json:"embed"`
	Repeat      int    `json:"repeat"`
	Warmup      int    `json:"warmup"`
	// Lane, "unix" or "tcp", gives each group direct lanes of that kind (comm's
	// Lanes); LaneHost is the address a tcp lane listens on, by default this host's
	// on the way to the NATS server. The groups' secret is derived from the burst
	// id: a benchmark's, not a flare's.
	Lane     string `json:"lane,omitempty"`
	LaneHost string `json:"lane_host,omitempty"`
	// Timeout bounds the whole run, waiting for peer groups included.
	Timeout time.Duration `json:"timeout"`
}

// DefaultOptions are the original's defaults.
func DefaultOptions() Options {
	return Options{
		Benchmark: "pair", Backend: "nats", BurstID: "bench", BurstSize: 2, Groups: 2, GroupID: -1,
		PayloadSize: 1 << 20, ChunkSize: comm.DefaultChunkSize, Server: "nats://127.0.0.1:4222",
		Repeat: 10, Warmup: 1, Timeout: 2 * time.Minute,
	}
}

// Granularity is the number of contiguous ranks per group.
func (o Options) Granularity() int { return (o.BurstSize + o.Groups - 1) / o.Groups }

// Validate checks the options and says what is wrong in the flags' words.
func (o Options) Validate() error {
	switch {
	case !slices.Contains(Benchmarks, o.Benchmark):
		return fmt.Errorf("--benchmark %q: want one of %v", o.Benchmark, Benchmarks)
	case !slices.Contains(Backends, o.Backend):
		return fmt.Errorf("backend %q: want one of %v", o.Backend, Backends)
	case o.BurstSize < 1:
		return fmt.Errorf("--burst-size %d: want at least 1", o.BurstSize)
	case o.Groups < 1 || o.Groups > o.BurstSize:
		return fmt.Errorf("--groups %d: want 1..burst size (%d)", o.Groups, o.BurstSize)
	case (o.BurstSize+o.Granularity()-1)/o.Granularity() != o.Groups:
		return fmt.Errorf("--burst-size %d does not split into %d groups of contiguous ranks", o.BurstSize, o.Groups)
	case o.GroupID < -1 || o.GroupID >= o.Groups:
		return fmt.Errorf("--group-id %d: want 0..%d", o.GroupID, o.Groups-1)
	case o.PayloadSize < 0:
		return fmt.Errorf("--payload-size %d: want at least 0", o.PayloadSize)
	case o.ChunkSize < 1:
		return fmt.Errorf("--chunk-size %d: want at least 1", o.ChunkSize)
	case o.Repeat < 1:
		return fmt.Errorf("--repeat %d: want at least 1", o.Repeat)
	case o.Warmup < 0:
		return fmt.Errorf("--warmup %d: want at least 0", o.Warmup)
	case o.Timeout <= 0:
		return fmt.Errorf("--timeout %v: want more than 0", o.Timeout)
	case o.Benchmark == "pair" && o.BurstSize%2 != 0:
		return fmt.Errorf("pair needs an even burst size: rank r sends to r+N/2")
	case (o.Benchmark == "reduce" || o.Benchmark == "allreduce") && o.PayloadSize%8 != 0:
		return fmt.Errorf("%s reduces float64: --payload-size must be a multiple of 8", o.Benchmark)
	case o.Backend == "memory" && o.GroupID >= 0:
		return errors.New("the memory backend runs every group in one process: drop --group-id")
	case baseline(o.Backend) && o.Benchmark != "pair" && o.Benchmark != "broadcast":
		return fmt.Errorf("the %s backend does pair and broadcast only", o.Backend)
	case o.Lane != "" && o.Lane != "unix" && o.Lane != "tcp":
		return fmt.Errorf("--lane %q: want unix or tcp", o.Lane)
	case o.Lane != "" && o.Backend != "nats" && o.Backend != "memory":
		return fmt.Errorf("--lane: the %s backend takes no lanes", o.Backend)
	case baseline(o.Backend) && o.Granularity() != 1:
		return fmt.Errorf("the %s backend has one worker per group: set --burst-size to --groups", o.Backend)
	}
	return comm.ValidFlareID(o.BurstID)
}

// Run runs the benchmark of o and returns what it measured.
func Run(ctx context.Context, o Options) (*Report, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()

	var srv *server.Server
	if o.Embed && o.Backend != "memory" {
		dir, err := os.MkdirTemp("", "burst-bench-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		if srv, err = embed(o.Server, dir); err != nil {
			return nil, err
		}
		defer srv.Shutdown()
	}
	groups := []int{o.GroupID}
	if o.GroupID < 0 {
		groups = make([]int, o.Groups)
		for i := range groups {
			groups[i] = i
		}
	}
	switch o.Backend {
	case "raw":
		return runRaw(ctx, o, srv, groups)
	case "tcp", "unix":
		return runStream(ctx, o, srv, groups)
	}

	var mem comm.Transport
	var conns []*nats.Conn
	defer func() { closeAll(conns, srv) }()
	packs := make([]*comm.Pack, 0, len(groups))
	var lanes []*comm.Lanes
	defer func() {
		for _, p := range packs {
			p.Close()
		}
		for _, l := range lanes { // after the packs: closing lanes under a pack aborts it
			l.Close()
		}
	}()
	var lastTransport comm.Transport
	for _, gid := range groups {
		tr, nc, err := transport(o, srv, &mem)
		if err != nil {
			return nil, err
		}
		if nc != nil {
			conns = append(conns, nc)
		}
		lastTransport = tr
		cfg := comm.Config{
			Flare: o.BurstID, Size: o.BurstSize, Granularity: o.Granularity(), Transport: tr, ChunkSize: o.ChunkSize,
		}
		if o.Lane != "" {
			l, err := listenLanes(o, nc)
			if err != nil {
				return nil, err
			}
			lanes = append(lanes, l)
			secret := sha256.Sum256([]byte("burst bench " + o.BurstID))
			cfg.Lanes, cfg.LaneSecret = l, secret[:]
		}
		p, err := comm.NewPack(ctx, cfg, gid)
		if err != nil {
			return nil, err
		}
		packs = append(packs, p)
		// Report the chunk size comm uses: it lowers the flag to what the transport carries.
		o.ChunkSize = p.ChunkSize()
	}
	if o.GroupID <= 0 && lastTransport != nil {
		defer lastTransport.EndFlare(context.Background(), o.BurstID)
	}

	exp := newExpectation(o)
	samples := make([][]Sample, o.BurstSize)
	errs := make(chan error, len(packs))
	for _, p := range packs {
		go func() {
			errs <- errors.Join(p.Run(ctx, func(ctx context.Context, w *comm.Worker) error {
				s, err := runWorker(ctx, o, exp, w)
				samples[w.Rank()] = s
				return err
			})...)
		}()
	}
	var failed error
	for range packs {
		if err := <-errs; err != nil && failed == nil {
			failed = err
		}
	}
	if failed != nil {
		if errors.Is(failed, context.DeadlineExceeded) {
			return nil, fmt.Errorf("%w (do all %d groups run with burst id %q on %s?)", failed, o.Groups, o.BurstID, o.Server)
		}
		return nil, failed
	}
	r := &Report{Options: o}
	for _, p := range packs {
		r.LaneBytes += p.LaneBytes()
	}
	for _, s := range samples {
		r.Samples = append(r.Samples, s...)
	}
	r.summarise(groups)
	return r, nil
}

// listenLanes opens one group's lanes, as its own process would; nc is its connection,
// nil for the memory backend.
func listenLanes(o Options, nc *nats.Conn) (*comm.Lanes, error) {
	if o.Lane == "unix" {
		return comm.ListenLanes(comm.LaneOptions{Unix: true})
	}
	host := o.LaneHost
	if host == "" {
		host = "127.0.0.1"
		if nc != nil {
			host = hostToward(nc)
		}
	}
	return comm.ListenLanes(comm.LaneOptions{TCP: net.JoinHostPort(host, "0")})
}

// transport makes one group's transport, each on its own connection as if in its own
// process; memory transports are shared, since that backend is one process.
func transport(o Options, srv *server.Server, mem *comm.Transport) (comm.Transport, *nats.Conn, error) {
	if o.Backend == "memory" {
		if *mem == nil {
			*mem = comm.NewMemoryTransport()
		}
		return *mem, nil, nil
	}
	nc, err := connect(o.Server, srv)
	if err != nil {
		return nil, nil, err
	}
	if o.Backend == "jetstream" {
		tr, err := comm.NewJetStreamTransport(nc, comm.JetStreamOptions{})
		return tr, nc, err
	}
	return comm.NewNATSTransport(nc), nc, nil
}

// closeAll flushes and closes this process's connections; an embedded server then
// stays up until the peer processes have left it (or 10 s), since they may still be
// reading the last messages.
func closeAll(conns []*nats.Conn, srv *server.Server) {
	for _, nc := range conns {
		nc.FlushTimeout(5 * time.Second)
		nc.Close()
	}
	if srv == nil {
		return
	}
	for deadline := time.Now().Add(10 * time.Second); srv.NumClients() > 0 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
}

// connect connects in process to an embedded server, else over TCP.
func connect(url string, srv *server.Server) (*nats.Conn, error) {
	if srv != nil {
		return cluster.ConnectInProcess(srv)
	}
	nc, err := nats.Connect(url, nats.Name("burst bench"))
	if errors.Is(err, nats.ErrAuthorization) {
		return nil, fmt.Errorf("connect to %s: %w: the server takes no anonymous connection (a Burst node's bus is closed, "+
			"see SECURITY.md); run the first group with --embed, a server of the benchmark's own", url, err)
	}
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w (is a server there? pass --embed to the first group to start one)", url, err)
	}
	return nc, nil
}

// embed starts a NATS server on the address of --server (port -1: any free port), with
// JetStream in a temporary store.
func embed(addr, dir string) (*server.Server, error) {
	host, p, err := net.SplitHostPort(strings.TrimPrefix(addr, "nats://"))
	if err != nil {
		return nil, fmt.Errorf("--server %q: %w", addr, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return nil, fmt.Errorf("--server %q: port %q is not a number", addr, p)
	}
	return cluster.RunServer(cluster.ServerOptions{Host: host, Port: port, StoreDir: dir})
}
