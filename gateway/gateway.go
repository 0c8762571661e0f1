package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/burstgo/burst/comm"
	"github.com/burstgo/burst/control"
	"github.com/burstgo/burst/datasets"
)

// Defaults for Options.
const (
	DefaultAddr           = "127.0.0.1:8080"
	DefaultMaxBody        = 4 << 20
	DefaultMaxPlugin      = 256 << 20
	DefaultMaxDataset     = 64 << 30
	DefaultWait           = 60 * time.Second
	DefaultTimeout        = 5 * time.Minute
	DefaultMaxTimeout     = 24 * time.Hour
	DefaultAssignTimeout  = 30 * time.Second
	DefaultGrace          = 3 * time.Second
	DefaultQueueLimit     = 10000
	DefaultLogLines       = 10000
	DefaultCheckTimeout   = time.Minute
	DefaultRetention      = 7 * 24 * time.Hour
	DefaultIndexLimit     = 100000
	DefaultRecoverWait    = 10 * time.Second
	defaultLostHeartbeats = 3
	minLostAfter          = 2 * time.Second
)

// Options configure a Gateway.
type Options struct {
	// Addr is the HTTP listen address; ":0" or "127.0.0.1:0" picks a free port.
	// Empty means DefaultAddr.
	Addr string
	// Conn is the NATS connection; its server must have JetStream, which keeps the
	// records and the invokers' events.
	Conn *nats.Conn
	// Exe is the burst executable that checks a plugin in a child process
	// (`burst fn check`); empty means this process's own executable.
	Exe string
	// TempDir holds uploads while they are checked; empty means the system's.
	TempDir string
	// Logger gets the gateway's log. Nil discards it.
	Logger *slog.Logger
	// MaxBody bounds a POST /flares body, in bytes (413 above). Zero means
	// DefaultMaxBody.
	MaxBody int64
	// MaxPlugin bounds an uploaded plugin, in bytes. Zero means DefaultMaxPlugin.
	MaxPlugin int64
	// MaxDataset bounds an uploaded dataset, in bytes. Zero means DefaultMaxDataset.
	MaxDataset int64
	// Join is the default of a flare request's "join": run the packs that are placed
	// on one invoker as one pack.
	Join bool
	// Wait bounds how long POST /flares?wait=true blocks before it answers 202. Zero
	// means DefaultWait.
	Wait time.Duration
	// DefaultTimeout is a flare's timeout when the request gives none, and
	// MaxTimeout the largest one may ask for.
	DefaultTimeout, MaxTimeout time.Duration
	// AssignTimeout bounds an invoker's answer to a pack assignment (it may fetch a
	// plugin first). Zero means DefaultAssignTimeout.
	AssignTimeout time.Duration
	// LostAfter is how long without a heartbeat makes an invoker lost; zero means
	// three of the invoker's own heartbeat intervals, and at least two seconds.
	LostAfter time.Duration
	// RecoverWait is how long a gateway that starts with flares in flight waits for
	// the invokers that ran them to come back before it counts them lost. Zero means
	// DefaultRecoverWait.
	RecoverWait time.Duration
	// Grace is how long a cancelled or timed-out flare waits for its packs' last
	// reports before it is recorded without them. Zero means DefaultGrace, a second
	// more than an invoker gives a function host to stop before it kills it, so that
	// the kill is in the record.
	Grace time.Duration
	// QueueLimit bounds the flares waiting for slots (429 above). Zero means
	// DefaultQueueLimit.
	QueueLimit int
	// LogLines bounds the log lines kept per flare. Zero means DefaultLogLines.
	LogLines int
	// CheckTimeout bounds the child process that checks an uploaded plugin. Zero
	// means DefaultCheckTimeout.
	CheckTimeout time.Duration
	// Retention is how long the records, results and logs of a flare are kept after
	// its last change. Zero means DefaultRetention.
	Retention time.Duration
	// IndexLimit bounds the flares that GET /flares lists, newest first; older ones
	// are still read by id until Retention ages them out. Zero means
	// DefaultIndexLimit.
	IndexLimit int
	// FunctionLimits are the limits of a function whose upload sets none, and
	// MaxFunctionLimits the most an upload may set. Zero means DefaultLimits and
	// MaxLimits.
	FunctionLimits, MaxFunctionLimits Limits
	// LeaveRunning makes Shutdown leave the flares that run on invokers running,
	// recorded as they are, for the next gateway on the same store to finish; without
	// it Shutdown cancels them. Queued flares are cancelled either way.
	LeaveRunning bool
	// Auth is AuthAuto (empty) or AuthRequired: when requests need an API key.
	Auth string
	// KeyFile is where the gateway writes the first admin key when keys are enforced
	// and no admin key exists; empty means it makes none.
	KeyFile string
	// TLSCert and TLSKey are the files of the HTTP listener's certificate: with them
	// it speaks HTTPS only.
	TLSCert, TLSKey string
	// Replicas is the replication factor of the gateway's buckets and streams (records,
	// functions, plugins, keys, namespaces, events, jetstream flares) in a NATS cluster;
	// zero means 1. Three servers with JetStream lose no record with one of them.
	Replicas int
	// Revoked, if set, is called with a NATS user whose connections must end: the
	// invoker of a revoked join key, a flare that ended (bus.go).
	Revoked func(natsUser string)
}

// A Gateway is Burst's HTTP front: the function registry, the flare controller that
// places packs on invokers, and the records.
type Gateway struct {
	opts     Options
	nc       *nats.Conn
	log      *slog.Logger
	store    *store
	datasets *datasets.Store
	keys     *keys
	// flareSecret makes the flares' NATS credentials (bus.go).
	flareSecret []byte
	nsKV        jetstream.KeyValue
	metrics     *metrics
	router      chi.Router
	index       *index
	// jetstream ends the streams of jetstream flares, which only the gateway knows
	// to be over.
	jetstream comm.Transport

	// base is the context of everything the gateway does on its own; Shutdown cancels
	// it last.
	base       context.Context
	cancelBase context.CancelFunc
	// tasks counts every goroutine the gateway starts; Shutdown waits for them.
	taskMu    sync.Mutex
	tasks     sync.WaitGroup
	tasksDone bool

	srv      *http.Server
	listener net.Listener
	subs     []*nats.Subscription
	consumer jetstream.ConsumeContext
	stop     chan struct{} // closed by Shutdown: ends the loops
	// httpDone is closed when the HTTP server shuts down: long requests (event streams,
	// blocking POSTs) answer what they have and end.
	httpDone chan struct{}
	// epoch names this gateway process in the ids of server-sent events.
	epoch string

	mu       sync.Mutex
	invokers map[string]*invokerState
	refused  map[string]*invokerState // invokers of another protocol level
	queue    []*flare
	flares   map[string]*flare // not yet recorded as ended
	applied  uint64            // the last stream sequence of the events applied
	// namespaces, with their limits and rate buckets (namespaces.go).
	namespaces map[string]*namespaceState
	closing    bool
}

// New checks opts and returns a gateway ready to Start.
func New(opts Options) (*Gateway, error) {
	if opts.Conn == nil {
		return nil, errors.New("gateway: no NATS connection")
	}
	if opts.Addr == "" {
		opts.Addr = DefaultAddr
	}
	setDefault(&opts.MaxBody, DefaultMaxBody)
	setDefault(&opts.MaxPlugin, DefaultMaxPlugin)
	setDefault(&opts.MaxDataset, DefaultMaxDataset)
	setDefault(&opts.Wait, DefaultWait)
	setDefault(&opts.DefaultTimeout, DefaultTimeout)
	setDefault(&opts.MaxTimeout, DefaultMaxTimeout)
	setDefault(&opts.AssignTimeout, DefaultAssignTimeout)
	setDefault(&opts.RecoverWait, DefaultRecoverWait)
	setDefault(&opts.Grace, DefaultGrace)
	setDefault(&opts.QueueLimit, DefaultQueueLimit)
	setDefault(&opts.LogLines, DefaultLogLines)
	setDefault(&opts.CheckTimeout, DefaultCheckTimeout)
	setDefault(&opts.Retention, DefaultRetention)
	setDefault(&opts.IndexLimit, DefaultIndexLimit)
	setDefault(&opts.FunctionLimits, DefaultLimits)
	setDefault(&opts.MaxFunctionLimits, MaxLimits)
	if opts.FunctionLimits.Timeout == DefaultLimits.Timeout {
		// A flare of a function that sets no timeout gets the gateway's default.
		opts.FunctionLimits.Timeout = control.Duration(opts.DefaultTimeout)
	}
	opts.MaxFunctionLimits.Timeout = min(opts.MaxFunctionLimits.Timeout, control.Duration(opts.MaxTimeout))
	if opts.DefaultTimeout > opts.MaxTimeout {
		return nil, fmt.Errorf("gateway: default timeout %s is over the maximum %s", opts.DefaultTimeout, opts.MaxTimeout)
	}
	if opts.MaxBody < 0 || opts.MaxPlugin < 0 || opts.MaxDataset < 0 || opts.QueueLimit < 0 || opts.LostAfter < 0 || opts.Retention < 0 || opts.IndexLimit < 0 {
		return nil, errors.New("gateway: negative limit")
	}
	if opts.Retention < opts.MaxTimeout {
		// A record must outlive the longest flare that may still write it.
		return nil, fmt.Errorf("gateway: retention %s is shorter than the longest flare timeout %s", opts.Retention, opts.MaxTimeout)
	}
	switch opts.Auth {
	case "":
		opts.Auth = AuthAuto
	case AuthAuto, AuthRequired:
	default:
		return nil, fmt.Errorf("gateway: auth %q is neither %s nor %s", opts.Auth, AuthAuto, AuthRequired)
	}
	if opts.Exe == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("gateway: no executable to check plugins with: %w", err)
		}
		opts.Exe = exe
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	g := &Gateway{
		opts:     opts,
		nc:       opts.Conn,
		log:      opts.Logger,
		stop:     make(chan struct{}),
		httpDone: make(chan struct{}),
		epoch:    strconv.FormatInt(time.Now().UnixNano(), 36),
		invokers: make(map[string]*invokerState),
		refused:  make(map[string]*invokerState),
		flares:   make(map[string]*flare),
	}
	g.base, g.cancelBase = context.WithCancel(context.Background())
	g.metrics = newMetrics(g)
	g.index = newIndex(opts.IndexLimit, func(r Record) { g.metrics.flares.WithLabelValues(string(r.Status)).Dec() })
	g.router = g.routes()
	return g, nil
}

func setDefault[T comparable](v *T, d T) {
	var zero T
	if *v == zero {
		*v = d
	}
}

// Handler is the gateway's HTTP API, for tests and for serving it elsewhere.
func (g *Gateway) Handler() http.Handler { return g.router }

// Addr is the address the gateway listens on, once started.
func (g *Gateway) Addr() string {
	if g.listener == nil {
		return ""
	}
	return g.listener.Addr().String()
}

// URL is the gateway's base URL, once started.
func (g *Gateway) URL() string {
	if g.opts.TLSCert != "" {
		return "https://" + g.Addr()
	}
	return "http://" + g.Addr()
}

// spawn runs fn in a goroutine that Shutdown waits for. Once Shutdown waits, it runs
// nothing and reports false.
func (g *Gateway) spawn(fn func()) bool {
	if !g.track() {
		return false
	}
	go func() {
		defer g.tasks.Done()
		fn()
	}()
	return true
}

// track counts a goroutine of the caller's, which calls g.tasks.Done when it ends.
func (g *Gateway) track() bool {
	g.taskMu.Lock()
	defer g.taskMu.Unlock()
	if g.tasksDone {
		return false
	}
	g.tasks.Add(1)
	return true
}

// Start opens the store, finishes or takes up the flares an earlier gateway left,
// reads the invokers' events, joins the control plane and listens for HTTP.
func (g *Gateway) Start(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			g.stopReading()
			g.stopTimers()
		}
	}()
	st, err := openStore(ctx, g.nc, g.opts.Retention, g.opts.MaxTimeout, g.opts.Replicas)
	if err != nil {
		return err
	}
	g.store = st
	if g.datasets, err = datasets.NewStore(ctx, g.nc, datasets.StoreOptions{Replicas: g.opts.Replicas}); err != nil {
		return err
	}
	if g.nsKV, g.namespaces, err = openNamespaces(ctx, st.js, g.opts.Replicas); err != nil {
		return err
	}
	if moved, err := st.moveToNamespaces(ctx); err != nil {
		return err
	} else if moved > 0 {
		g.log.Info("functions registered before namespaces moved to the default namespace", "functions", moved)
	}
	js, err := comm.NewJetStreamTransport(g.nc, comm.JetStreamOptions{Replicas: g.opts.Replicas})
	if err != nil {
		return fmt.Errorf("gateway: jetstream transport: %w", err)
	}
	g.jetstream = js
	last, err := g.recoverFlares(ctx)
	if err != nil {
		return err
	}
	if err := g.readEvents(ctx, last+1); err != nil {
		return err
	}
	for _, h := range []struct {
		subject string
		fn      nats.MsgHandler
	}{
		{control.HeartbeatSubjects, g.onHeartbeat},
		{control.ByeSubjects, g.onBye},
	} {
		sub, err := g.nc.Subscribe(h.subject, h.fn)
		if err != nil {
			return fmt.Errorf("gateway: subscribe %s: %w", h.subject, err)
		}
		sub.SetPendingLimits(-1, -1)
		g.subs = append(g.subs, sub)
	}
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := g.nc.FlushWithContext(fctx); err != nil {
		return fmt.Errorf("gateway: flush: %w", err)
	}
	// Invokers that run already answer with a heartbeat.
	g.nc.Publish(control.SubjectDiscover, nil)

	var tlsConfig *tls.Config
	if g.opts.TLSCert != "" || g.opts.TLSKey != "" {
		cert, err := tls.LoadX509KeyPair(g.opts.TLSCert, g.opts.TLSKey)
		if err != nil {
			return fmt.Errorf("gateway: TLS certificate: %w", err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	ln, err := net.Listen("tcp", g.opts.Addr)
	if err != nil {
		return fmt.Errorf("gateway: listen: %w", err)
	}
	g.listener = ln
	keys, watching, err := openKeys(g.base, st.js, g.opts.Replicas, g.opts.Auth == AuthRequired, isLoopback(ln.Addr()))
	if err != nil {
		ln.Close()
		return err
	}
	g.keys = keys
	g.spawn(func() { <-watching })
	if g.flareSecret, err = flareSecret(ctx, keys.kv); err != nil {
		ln.Close()
		return err
	}
	if err := g.bootstrap(ctx); err != nil {
		ln.Close()
		return err
	}
	g.srv = &http.Server{
		Handler:           g.router,
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return g.base },
	}
	g.srv.RegisterOnShutdown(func() { close(g.httpDone) })
	g.spawn(func() {
		serve := g.srv.Serve
		if tlsConfig != nil {
			serve = func(ln net.Listener) error { return g.srv.ServeTLS(ln, "", "") }
		}
		if err := serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			g.log.Error("http server stopped", "err", err)
		}
	})
	g.spawn(g.watchInvokers)
	g.spawn(g.housekeeping)
	g.log.Info("gateway started", "addr", g.Addr(), "proto", control.Version)
	return nil
}

// stopReading stops the control plane subscriptions and the events consumer.
func (g *Gateway) stopReading() {
	for _, s := range g.subs {
		s.Unsubscribe()
	}
	g.subs = nil
	if g.consumer != nil {
		g.consumer.Stop()
		<-g.consumer.Closed()
		g.consumer = nil
	}
}

// Shutdown refuses new flares, ends the queued ones and cancels those in flight (or,
// with Options.LeaveRunning, leaves them to the next gateway), records them, stops
// serving and waits for every goroutine it started, until ctx ends.
func (g *Gateway) Shutdown(ctx context.Context) error {
	g.mu.Lock()
	if g.closing {
		g.mu.Unlock()
		return nil
	}
	g.closing = true
	var active []*flare
	for _, f := range g.flares {
		if f.queued || !g.opts.LeaveRunning {
			active = append(active, f)
		}
	}
	left := len(g.flares) - len(active)
	g.mu.Unlock()
	for _, f := range active {
		g.end(f, endCause{status: control.StatusCancelled, err: "the gateway shut down"})
	}
	var errs []error
	for _, f := range active {
		select {
		case <-f.done:
			continue
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("gateway: flare %s not recorded at shutdown: %w", f.rec.ID, ctx.Err()))
		}
		break
	}
	if left > 0 {
		g.log.Info("flares left running for the next gateway", "flares", left)
	}
	if g.srv != nil {
		if err := g.srv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("gateway: http: %w", err))
		}
	}
	g.stopReading()
	close(g.stop)
	g.cancelBase()
	g.mu.Lock()
	for _, f := range g.flares {
		f.stopTimers()
	}
	g.mu.Unlock()
	g.taskMu.Lock()
	g.tasksDone = true
	g.taskMu.Unlock()
	g.tasks.Wait()
	g.log.Info("gateway stopped")
	return errors.Join(errs...)
}

// getIndex answers GET /: the dashboard's page to a browser, else the JSON index.
func (g *Gateway) getIndex(w http.ResponseWriter, r *http.Request) {
	w.Header().Add("Vary", "Accept")
	if wantsHTML(r) {
		serveDashboard(w, r)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"name": "burst", "openapi": "/openapi.json", "api": apiIndex})
}

func (g *Gateway) getLivez(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// getReadyz says whether a flare can run now: NATS is connected and an invoker has
// joined.
func (g *Gateway) getReadyz(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	n, closing := g.liveInvokers(), g.closing
	g.mu.Unlock()
	switch {
	case closing:
		writeError(w, r, errorf(http.StatusServiceUnavailable, CodeShuttingDown, "the gateway is shutting down"))
	case !g.nc.IsConnected():
		writeError(w, r, errorf(http.StatusServiceUnavailable, CodeNotReady, "not connected to NATS (%s)", g.nc.Status()))
	case n == 0:
		writeError(w, r, errorf(http.StatusServiceUnavailable, CodeNotReady, "no healthy invoker has joined (see GET /invokers)"))
	default:
		writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "invokers": n})
	}
}
