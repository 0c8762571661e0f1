package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/nats-io/nats.go"

	"github.com/burstgo/burst/comm"
	"github.com/burstgo/burst/invoker"
)

// Defaults for Options.
const (
	DefaultAddr           = "127.0.0.1:8080"
	DefaultMaxBody        = 4 << 20
	DefaultMaxPlugin      = 256 << 20
	DefaultWait           = 60 * time.Second
	DefaultTimeout        = 5 * time.Minute
	DefaultMaxTimeout     = 24 * time.Hour
	DefaultAssignTimeout  = 30 * time.Second
	DefaultGrace          = 2 * time.Second
	DefaultQueueLimit     = 10000
	DefaultLogLines       = 10000
	DefaultCheckTimeout   = time.Minute
	defaultLostHeartbeats = 3
	minLostAfter          = 2 * time.Second
)

// Options configure a Gateway.
type Options struct {
	// Addr is the HTTP listen address; ":0" or "127.0.0.1:0" picks a free port.
	// Empty means DefaultAddr.
	Addr string
	// Conn is the NATS connection; its server must have JetStream, which keeps the
	// records.
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
	// Grace is how long a cancelled or timed-out flare waits for its packs' last
	// reports before it is recorded without them. Zero means DefaultGrace.
	Grace time.Duration
	// QueueLimit bounds the flares waiting for slots (429 above). Zero means
	// DefaultQueueLimit.
	QueueLimit int
	// LogLines bounds the log lines kept per flare. Zero means DefaultLogLines.
	LogLines int
	// CheckTimeout bounds the child process that checks an uploaded plugin. Zero
	// means DefaultCheckTimeout.
	CheckTimeout time.Duration
}

// A Gateway is Burst's HTTP front: the function registry, the flare controller that
// places packs on invokers, and the records.
type Gateway struct {
	opts    Options
	nc      *nats.Conn
	log     *slog.Logger
	store   *store
	metrics *metrics
	router  chi.Router
	// jetstream ends the streams of jetstream flares, which only the gateway knows
	// to be over.
	jetstream comm.Transport

	srv      *http.Server
	listener net.Listener
	subs     []*nats.Subscription
	stop     chan struct{} // closed by Shutdown: ends the watch loop
	loops    sync.WaitGroup

	mu       sync.Mutex
	invokers map[string]*invokerState
	queue    []*flare
	flares   map[string]*flare // not yet recorded as ended
	index    map[string]*Record
	order    []string // ids in creation order
	closing  bool
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
	setDefault(&opts.Wait, DefaultWait)
	setDefault(&opts.DefaultTimeout, DefaultTimeout)
	setDefault(&opts.MaxTimeout, DefaultMaxTimeout)
	setDefault(&opts.AssignTimeout, DefaultAssignTimeout)
	setDefault(&opts.Grace, DefaultGrace)
	setDefault(&opts.QueueLimit, DefaultQueueLimit)
	setDefault(&opts.LogLines, DefaultLogLines)
	setDefault(&opts.CheckTimeout, DefaultCheckTimeout)
	if opts.DefaultTimeout > opts.MaxTimeout {
		return nil, fmt.Errorf("gateway: default timeout %s is over the maximum %s", opts.DefaultTimeout, opts.MaxTimeout)
	}
	if opts.MaxBody < 0 || opts.MaxPlugin < 0 || opts.QueueLimit < 0 || opts.LostAfter < 0 {
		return nil, errors.New("gateway: negative limit")
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
		invokers: make(map[string]*invokerState),
		flares:   make(map[string]*flare),
		index:    make(map[string]*Record),
	}
	g.metrics = newMetrics(g)
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
func (g *Gateway) URL() string { return "http://" + g.Addr() }

// Start opens the store, reads back the records, joins the control plane and listens
// for HTTP.
func (g *Gateway) Start(ctx context.Context) error {
	st, err := openStore(ctx, g.nc)
	if err != nil {
		return err
	}
	g.store = st
	js, err := comm.NewJetStreamTransport(g.nc, comm.JetStreamOptions{})
	if err != nil {
		return fmt.Errorf("gateway: jetstream transport: %w", err)
	}
	g.jetstream = js
	if err := g.recover(ctx); err != nil {
		return err
	}
	for _, h := range []struct {
		subject string
		fn      nats.MsgHandler
	}{
		{invoker.SubjectHeartbeat, g.onHeartbeat},
		{invoker.SubjectBye, g.onBye},
		{invoker.SubjectEvents, g.onEvent},
	} {
		sub, err := g.nc.Subscribe(h.subject, h.fn)
		if err != nil {
			g.unsubscribe()
			return fmt.Errorf("gateway: subscribe %s: %w", h.subject, err)
		}
		// Events must not be dropped: a lost "ended" would hold a flare till its timeout.
		sub.SetPendingLimits(-1, -1)
		g.subs = append(g.subs, sub)
	}
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := g.nc.FlushWithContext(fctx); err != nil {
		g.unsubscribe()
		return fmt.Errorf("gateway: flush: %w", err)
	}
	// Invokers that run already answer with a heartbeat.
	g.nc.Publish(invoker.SubjectDiscover, nil)

	ln, err := net.Listen("tcp", g.opts.Addr)
	if err != nil {
		g.unsubscribe()
		return fmt.Errorf("gateway: listen: %w", err)
	}
	g.listener = ln
	g.srv = &http.Server{
		Handler:           g.router,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
	}
	go func() {
		if err := g.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			g.log.Error("http server stopped", "err", err)
		}
	}()
	g.loops.Go(g.watchInvokers)
	g.log.Info("gateway started", "addr", g.Addr())
	return nil
}

func (g *Gateway) unsubscribe() {
	for _, s := range g.subs {
		s.Unsubscribe()
	}
	g.subs = nil
}

// Shutdown refuses new flares, cancels those in flight, records them and stops serving,
// until ctx ends.
func (g *Gateway) Shutdown(ctx context.Context) error {
	g.mu.Lock()
	if g.closing {
		g.mu.Unlock()
		return nil
	}
	g.closing = true
	active := make([]*flare, 0, len(g.flares))
	for _, f := range g.flares {
		active = append(active, f)
	}
	g.mu.Unlock()
	for _, f := range active {
		g.end(f, endCause{status: invoker.StatusCancelled, err: "gateway shutting down"})
	}
	var errs []error
	for _, f := range active {
		select {
		case <-f.done:
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("gateway: flare %s not recorded at shutdown: %w", f.rec.ID, ctx.Err()))
		}
		if len(errs) > 0 {
			break
		}
	}
	if g.srv != nil {
		if err := g.srv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("gateway: http: %w", err))
		}
	}
	g.unsubscribe()
	close(g.stop)
	g.loops.Wait()
	g.log.Info("gateway stopped")
	return errors.Join(errs...)
}

func (g *Gateway) routes() chi.Router {
	r := chi.NewRouter()
	r.Use(recoverer(g.log))
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, errorf(http.StatusNotFound, CodeNotFound, "no such path %s", r.URL.Path))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, errorf(http.StatusMethodNotAllowed, CodeMethod, "%s is not allowed on %s", r.Method, r.URL.Path))
	})
	r.Get("/", g.getIndex)
	r.Get("/livez", g.getLivez)
	r.Get("/readyz", g.getReadyz)
	r.Handle("/metrics", g.metrics.handler())
	r.Get("/functions", g.listFunctions)
	r.Put("/functions/{name}", g.putFunction)
	r.Get("/functions/{name}", g.getFunction)
	r.Delete("/functions/{name}", g.deleteFunction)
	r.Post("/flares", g.postFlare)
	r.Get("/flares", g.listFlares)
	r.Get("/flares/{id}", g.getFlare)
	r.Delete("/flares/{id}", g.deleteFlare)
	r.Get("/flares/{id}/results", g.getResults)
	r.Get("/flares/{id}/logs", g.getLogs)
	r.Get("/flares/{id}/events", g.getEvents)
	r.Get("/invokers", g.listInvokers)
	return r
}

// recoverer answers a handler's panic with a JSON 500 and logs it, so one bad request
// does not take the gateway down.
func recoverer(log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				if v := recover(); v != nil {
					if v == http.ErrAbortHandler {
						panic(v)
					}
					log.Error("handler panicked", "method", r.Method, "path", r.URL.Path, "panic", v)
					writeError(w, errorf(http.StatusInternalServerError, CodeInternal, "internal error"))
				}
			}()
			next.ServeHTTP(w, r)
		})
	}
}

func (g *Gateway) getIndex(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"name": "burst",
		"api": []string{
			"PUT /functions/{name}", "GET /functions", "GET /functions/{name}", "DELETE /functions/{name}",
			"POST /flares", "GET /flares", "GET /flares/{id}", "DELETE /flares/{id}",
			"GET /flares/{id}/results", "GET /flares/{id}/logs", "GET /flares/{id}/events",
			"GET /invokers", "GET /livez", "GET /readyz", "GET /metrics",
		},
	})
}

func (g *Gateway) getLivez(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// getReadyz says whether a flare can run now: NATS is connected and an invoker has
// joined.
func (g *Gateway) getReadyz(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	n, closing := len(g.invokers), g.closing
	g.mu.Unlock()
	switch {
	case closing:
		writeError(w, errorf(http.StatusServiceUnavailable, CodeShuttingDown, "the gateway is shutting down"))
	case !g.nc.IsConnected():
		writeError(w, errorf(http.StatusServiceUnavailable, CodeNotReady, "not connected to NATS (%s)", g.nc.Status()))
	case n == 0:
		writeError(w, errorf(http.StatusServiceUnavailable, CodeNotReady, "no invoker has joined"))
	default:
		writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "invokers": n})
	}
}
