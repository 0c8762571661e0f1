package invoker

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/burstgo/burst/comm"
	"github.com/burstgo/burst/control"
	"github.com/burstgo/burst/datasets"
	"github.com/burstgo/burst/functions"
)

// Defaults for Options.
const (
	DefaultSlots     = 16384
	DefaultHeartbeat = time.Second
	DefaultLogLines  = 100
	DefaultMaxResult = 1 << 20
)

// Causes of a pack's end that are not a worker's doing.
var (
	// ErrCancelled ends the packs of a cancelled flare.
	ErrCancelled = errors.New("flare cancelled")
	// ErrTimedOut ends the packs of a flare past its timeout.
	ErrTimedOut = errors.New("flare timed out")
	// ErrShutdown refuses assignments while the invoker shuts down.
	ErrShutdown = errors.New("invoker: shutting down")
)

// Options configure an Invoker.
type Options struct {
	// ID names the invoker in the cluster; it is a NATS subject token. Empty means
	// the host name and a random suffix.
	ID string
	// Conn is the NATS connection to the cluster. In one process with the server,
	// connect in process (cluster.ConnectInProcess) to skip the socket.
	Conn *nats.Conn
	// Functions are the built-in functions, by name: the invoker advertises their
	// names in its heartbeats, and the gateway sends it flares of them.
	Functions map[string]functions.Func
	// Slots is how many workers the invoker offers to run at once. Zero means
	// DefaultSlots.
	Slots int
	// CacheDir keeps fetched plugins. Empty means a burst-plugins folder in the
	// system's temporary directory.
	CacheDir string
	// Heartbeat is how often the invoker tells the gateway it is alive. Zero means
	// DefaultHeartbeat.
	Heartbeat time.Duration
	// Logger gets the invoker's own log. Nil discards it.
	Logger *slog.Logger
	// LogLines bounds the lines a worker may log; more are counted and dropped. Zero
	// means DefaultLogLines.
	LogLines int
	// LogLevel is the least level of the worker lines that are kept.
	LogLevel slog.Level
	// MaxResult bounds one worker's JSON result, in bytes; a larger one fails the
	// worker. Zero means DefaultMaxResult.
	MaxResult int
	// Isolation is where uploaded functions run: control.IsolationProcess (the
	// default: in function hosts, host.go) or control.IsolationNone (in this process).
	// Built-ins always run in this process.
	Isolation control.Isolation
	// HostExe is the burst binary that runs as a function host (`burst host`). Empty
	// means this process's own executable, whose main must then call HostMain when
	// IsHost says so, as the burst binary's does.
	HostExe string
	// HostNATS is the URL at which function hosts reach the NATS server. Without it,
	// with process isolation, the invoker is unhealthy.
	HostNATS string
	// HostNATSCA is the CA file against which function hosts, and the flares'
	// connections, check a TLS NATS server's certificate; empty means the system's.
	HostNATSCA string
	// HostGrace is how long the packs of a host may take to stop after their flare's
	// cancel or timeout before the host is killed. Zero means DefaultHostGrace.
	HostGrace time.Duration
	// HostIdle is how long a warm host waits for its function's next flare. Zero means
	// DefaultHostIdle.
	HostIdle time.Duration
	// WatchInterval is how often the hosts' memory is read. Zero means
	// DefaultWatchInterval.
	WatchInterval time.Duration
	// MaxHosts bounds the function hosts, idle and busy: past it, an idle host of
	// another function makes room, or a pack waits for a host. Zero means
	// DefaultMaxHosts.
	MaxHosts int
	// FlareConns makes the packs that run in this process talk over a NATS connection
	// of their flare's own (at HostNATS, as the flare's user with its assignment's
	// Credential) instead of Conn: an invoker that joined a closed bus with a join key
	// needs it, since its own connection may not reach flares' subjects. Function hosts
	// always connect as the flare.
	FlareConns bool
	// Lanes say where packs take direct lanes to each other (lanes.go).
	Lanes LaneOptions
	// Revoked, when set, is called with a flare's NATS user once the invoker holds no
	// pack of it any more: an invoker whose node embeds a server (AuthorizeNATS) ends
	// the flare's connections there with it.
	Revoked func(user string)
}

// An Invoker runs the packs that the gateway assigns to it, one goroutine per rank.
type Invoker struct {
	opts     Options
	nc       *nats.Conn
	log      *slog.Logger
	host     string
	started  time.Time
	builtins []string // names of opts.Functions, sorted
	cache    *functionCache
	memory   comm.Transport
	nats     comm.Transport
	flares   *flareConns    // with FlareConns
	lanes    *comm.Lanes    // nil with Lanes.Off
	datasets *datasets.Conn // over nc, without FlareConns
	events   *outbox
	hosts    *hostPool
	service  micro.Service
	// beatFailing is set while heartbeats fail to go out.
	beatFailing atomic.Bool

	// base is cancelled by Shutdown; every pack's context derives from it.
	base       context.Context
	cancelBase context.CancelCauseFunc

	mu        sync.Mutex
	jetstream comm.Transport
	packs     map[control.PackRef]*runningPack
	cancelled map[string]time.Time // flares cancelled lately, to refuse a late assignment
	used      int
	closing   bool
	subs      []*nats.Subscription
	running   sync.WaitGroup // assignments and pack runners
	loops     sync.WaitGroup // heartbeats and event delivery
	stop      chan struct{}  // closed by Shutdown: ends the loops
}

// runningPack is what the invoker keeps of a pack it runs.
type runningPack struct {
	cancel     context.CancelCauseFunc
	ranks      int
	credential string     // the flare's, for AuthorizeNATS
	namespace  string     // the flare's, for AuthorizeNATS
	pack       *comm.Pack // once set up, unless it runs in a function host
}

// New checks opts and returns an invoker ready to Start.
func New(opts Options) (*Invoker, error) {
	if opts.Conn == nil {
		return nil, errors.New("invoker: no NATS connection")
	}
	if opts.Slots < 0 || opts.Heartbeat < 0 || opts.LogLines < 0 || opts.MaxResult < 0 {
		return nil, errors.New("invoker: negative slots, heartbeat, log lines or result size")
	}
	if opts.Slots == 0 {
		opts.Slots = DefaultSlots
	}
	if opts.Heartbeat == 0 {
		opts.Heartbeat = DefaultHeartbeat
	}
	if opts.LogLines == 0 {
		opts.LogLines = DefaultLogLines
	}
	if opts.MaxResult == 0 {
		opts.MaxResult = DefaultMaxResult
	}
	switch opts.Isolation {
	case "":
		opts.Isolation = control.IsolationProcess
	case control.IsolationProcess, control.IsolationNone:
	default:
		return nil, fmt.Errorf("invoker: isolation %q: want %s or %s", opts.Isolation, control.IsolationProcess, control.IsolationNone)
	}
	if opts.HostExe == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("invoker: no executable for function hosts: %w", err)
		}
		opts.HostExe = exe
	}
	if opts.HostGrace <= 0 {
		opts.HostGrace = DefaultHostGrace
	}
	if opts.HostIdle <= 0 {
		opts.HostIdle = DefaultHostIdle
	}
	if opts.WatchInterval <= 0 {
		opts.WatchInterval = DefaultWatchInterval
	}
	if opts.MaxHosts <= 0 {
		opts.MaxHosts = DefaultMaxHosts
	}
	host, _ := os.Hostname()
	if opts.ID == "" {
		opts.ID = DefaultID(host)
	}
	if err := comm.ValidFlareID(opts.ID); err != nil {
		// The same rule as a flare id: the name is a subject token.
		return nil, fmt.Errorf("invoker: id %q: only letters, digits, '-' and '_'", opts.ID)
	}
	for name, fn := range opts.Functions {
		if name == "" || fn == nil {
			return nil, fmt.Errorf("invoker: built-in %q has no name or no function", name)
		}
	}
	if opts.CacheDir == "" {
		opts.CacheDir = filepath.Join(os.TempDir(), "burst-plugins")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	log := opts.Logger.With("invoker", opts.ID)
	inv := &Invoker{
		opts:      opts,
		nc:        opts.Conn,
		datasets:  datasets.NewConn(opts.Conn),
		log:       log,
		host:      host,
		builtins:  slices.Sorted(maps.Keys(opts.Functions)),
		cache:     newFunctionCache(opts.Conn, opts.CacheDir, opts.Functions),
		memory:    comm.NewMemoryTransport(),
		nats:      comm.NewNATSTransport(opts.Conn),
		flares:    newFlareConns(opts.HostNATS, opts.HostNATSCA),
		packs:     make(map[control.PackRef]*runningPack),
		cancelled: make(map[string]time.Time),
		stop:      make(chan struct{}),
	}
	events, err := newOutbox(opts.Conn, log)
	if err != nil {
		return nil, err
	}
	inv.events = events
	inv.hosts = newHostPool(inv)
	inv.base, inv.cancelBase = context.WithCancelCause(context.Background())
	return inv, nil
}

// DefaultID is an invoker id made of the host name's letters and a random suffix.
func DefaultID(host string) string {
	var b strings.Builder
	for _, r := range host {
		ok := r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
		if ok && b.Len() < 64 {
			b.WriteRune(r)
		}
	}
	if b.Len() == 0 {
		b.WriteString("invoker")
	}
	var rnd [4]byte
	rand.Read(rnd[:])
	return b.String() + "-" + hex.EncodeToString(rnd[:])
}

// ID is the invoker's name in the cluster.
func (inv *Invoker) ID() string { return inv.opts.ID }

// Slots is how many workers the invoker offers to run at once.
func (inv *Invoker) Slots() int { return inv.opts.Slots }

// Start serves assignments, listens for cancels, delivers events and heartbeats.
func (inv *Invoker) Start(ctx context.Context) error {
	inv.started = time.Now()
	lanes, err := inv.opts.Lanes.listen(inv.log)
	if err != nil {
		return fmt.Errorf("invoker: %w", err)
	}
	inv.lanes = lanes
	started := false
	defer func() {
		if !started && lanes != nil {
			lanes.Close()
		}
	}()
	svc, err := micro.AddService(inv.nc, micro.Config{
		Name:        control.ServiceName,
		Version:     strconv.Itoa(control.Version) + ".0.0",
		Description: "Burst invoker: runs the packs of flares",
		Metadata:    map[string]string{"invoker": inv.opts.ID, "host": inv.host, "proto": strconv.Itoa(control.Version)},
	})
	if err != nil {
		return fmt.Errorf("invoker: service: %w", err)
	}
	inv.service = svc
	endpoints := []struct {
		name    string
		subject string
		handler micro.HandlerFunc
	}{
		{"assign", control.AssignSubject(inv.opts.ID), inv.assign},
		{"packs", control.PacksSubject(inv.opts.ID), inv.listPacks},
	}
	for _, e := range endpoints {
		err := svc.AddEndpoint(e.name, e.handler, micro.WithEndpointSubject(e.subject), micro.WithEndpointPendingLimits(-1, -1))
		if err != nil {
			svc.Stop()
			return fmt.Errorf("invoker: endpoint %s: %w", e.name, err)
		}
	}
	for _, h := range []struct {
		subject string
		fn      nats.MsgHandler
	}{
		{control.SubjectCancel, inv.cancel},
		{control.SubjectDiscover, func(m *nats.Msg) {
			if m.Subject == control.SubjectDiscover { // see cancel
				inv.beat(control.HeartbeatSubject(inv.opts.ID))
			}
		}},
	} {
		sub, err := inv.nc.Subscribe(h.subject, h.fn)
		if err != nil {
			inv.unsubscribe()
			return fmt.Errorf("invoker: subscribe %s: %w", h.subject, err)
		}
		sub.SetPendingLimits(-1, -1)
		inv.subs = append(inv.subs, sub)
	}
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := inv.nc.FlushWithContext(fctx); err != nil {
		inv.unsubscribe()
		return fmt.Errorf("invoker: flush: %w", err)
	}
	if inv.opts.Isolation == control.IsolationProcess {
		inv.checkHosts()
		inv.loops.Go(func() { inv.hosts.watchMemory(inv.stop) })
	}
	inv.beat(control.HeartbeatSubject(inv.opts.ID))
	inv.loops.Go(inv.heartbeats)
	inv.loops.Go(func() { inv.events.run(inv.stop) })
	inv.log.Info("invoker started", "slots", inv.opts.Slots, "builtins", len(inv.builtins), "cache", inv.opts.CacheDir, "lanes", lanesOf(lanes))
	started = true
	return nil
}

// lanesOf names where lanes take packs, for the log.
func lanesOf(l *comm.Lanes) []string {
	if l == nil {
		return nil
	}
	return l.Addrs()
}

func (inv *Invoker) unsubscribe() {
	if inv.service != nil {
		inv.service.Stop()
	}
	for _, s := range inv.subs {
		s.Unsubscribe()
	}
	inv.subs = nil
}

// Shutdown refuses new assignments, cancels the packs still running, waits for them to
// end and for their events to be delivered, until ctx ends: a worker that ignores its
// context does not hold it up past that.
func (inv *Invoker) Shutdown(ctx context.Context) error {
	inv.mu.Lock()
	if inv.closing {
		inv.mu.Unlock()
		return nil
	}
	inv.closing = true
	inv.mu.Unlock()
	inv.unsubscribe()
	inv.cancelBase(fmt.Errorf("%w: %w", ErrCancelled, ErrShutdown))
	done := make(chan struct{})
	go func() {
		inv.running.Wait()
		inv.events.drain(ctx)
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("invoker: packs still running or events undelivered at shutdown: %w", ctx.Err())
	}
	inv.hosts.close()
	if inv.lanes != nil {
		inv.lanes.Close() // after the packs: closing lanes under a pack aborts it
	}
	close(inv.stop)
	inv.loops.Wait()
	inv.beat(control.ByeSubject(inv.opts.ID))
	inv.nc.Flush()
	inv.log.Info("invoker stopped")
	return err
}

// hostRecheck is how many heartbeats apart an invoker that cannot start function hosts
// tries again.
const hostRecheck = 10

func (inv *Invoker) heartbeats() {
	t := time.NewTicker(inv.opts.Heartbeat)
	defer t.Stop()
	beats := 0
	var checking sync.Mutex
	for {
		select {
		case <-inv.stop:
			return
		case <-t.C:
			inv.beat(control.HeartbeatSubject(inv.opts.ID))
			inv.pruneCancelled()
			if beats++; inv.opts.Isolation == control.IsolationProcess && beats%hostRecheck == 0 {
				inv.hosts.mu.Lock()
				unhealthy := inv.hosts.health != ""
				inv.hosts.mu.Unlock()
				if unhealthy && checking.TryLock() {
					// What kept hosts from starting (a binary being replaced, a fork
					// that failed) may be over: the invoker gets no packs to find out.
					// Not in this loop: a host that hangs must not stop the beats.
					inv.loops.Go(func() {
						defer checking.Unlock()
						inv.checkHosts()
					})
				}
			}
		}
	}
}

// Heartbeat returns what the invoker would tell the gateway now.
func (inv *Invoker) Heartbeat() control.Heartbeat {
	inv.mu.Lock()
	used, packs := inv.used, len(inv.packs)
	inv.mu.Unlock()
	hb := control.Heartbeat{
		Proto: control.Version, ID: inv.opts.ID, Host: inv.host, Slots: inv.opts.Slots, Used: used, Packs: packs,
		Backends: control.Backends, Builtins: inv.builtins,
		Started: inv.started, Time: time.Now(), Interval: control.Duration(inv.opts.Heartbeat),
		Isolation: inv.opts.Isolation, MemoryLimit: "none", Build: control.Build(),
	}
	if inv.opts.Isolation == control.IsolationProcess {
		if canWatchMemory {
			hb.MemoryLimit = "watchdog"
		}
		inv.hosts.mu.Lock()
		hb.Health = inv.hosts.health
		inv.hosts.mu.Unlock()
	}
	return hb
}

func (inv *Invoker) beat(subject string) {
	b, _ := json.Marshal(inv.Heartbeat())
	err := inv.nc.Publish(subject, b)
	// Say so once when beats start to fail, and once when they work again.
	if failing := err != nil; inv.beatFailing.Swap(failing) != failing {
		if failing {
			inv.log.Warn("heartbeats fail", "err", err)
		} else {
			inv.log.Info("heartbeats work again")
		}
	}
}

// checkHosts starts a function host that only answers ready, and notes in the invoker's
// health whether hosts can start. It logs a change.
func (inv *Invoker) checkHosts() {
	inv.hosts.mu.Lock()
	was := inv.hosts.health
	inv.hosts.mu.Unlock()
	var err error
	if inv.opts.HostNATS == "" {
		err = errors.New("no NATS URL for function hosts (Options.HostNATS)")
	} else {
		h := inv.hosts.newHost("")
		err = h.start("")
		close(h.ready)
		if err == nil {
			<-h.exited
		}
	}
	inv.hosts.setHealth(err)
	switch {
	case err != nil && was == "":
		inv.log.Error("cannot start function hosts: uploaded functions will not run here", "exe", inv.opts.HostExe, "err", err)
	case err == nil && was != "":
		inv.log.Info("function hosts start again", "exe", inv.opts.HostExe)
	}
}

// reasonError is the gateway's reason for a cancel, in its own words ("timed out after
// 1s", "cancelled by request"), which is ErrTimedOut or ErrCancelled to errors.Is.
type reasonError struct {
	kind   error
	reason string
}

func (e reasonError) Error() string { return e.reason }
func (e reasonError) Unwrap() error { return e.kind }

// deadlineSlack puts a pack's own deadline a moment after the flare's: the gateway's
// cancel then normally ends every pack of a timed-out flare at once, and the pack's own
// deadline is the backstop if that cancel is lost. Packs that each hit their own
// deadline end one after the other, and the first would abort the others.
const deadlineSlack = 250 * time.Millisecond

// cancelledFor is how long a cancel is remembered, to refuse an assignment of that flare
// that was still on its way.
const cancelledFor = time.Minute

func (inv *Invoker) pruneCancelled() {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	for f, t := range inv.cancelled {
		if time.Since(t) > cancelledFor {
			delete(inv.cancelled, f)
		}
	}
}

func (inv *Invoker) cancel(m *nats.Msg) {
	if m.Subject != control.SubjectCancel {
		// Published elsewhere and relayed here (JetStream delivers a stream's message,
		// with its own subject, to any reply subject a fetch names): not the gateway's.
		inv.log.Warn("cancel on another subject: ignored", "subject", m.Subject)
		return
	}
	var c control.Cancel
	if err := json.Unmarshal(m.Data, &c); err != nil {
		inv.log.Warn("bad cancel", "err", err)
		return
	}
	inv.mu.Lock()
	defer inv.mu.Unlock()
	inv.cancelled[c.Flare] = time.Now()
	for k, rp := range inv.packs {
		if k.Flare == c.Flare {
			// A pack in a function host has no pack here: runHosted tells the host
			// once the pack is set up there.
			stopPack(rp.pack, rp.cancel, c.Status, c.Reason)
		}
	}
}

// stopPack stops a pack as a Cancel of status and reason says: a relayed failure aborts
// it as comm would, so that its workers end aborted (or, before it is set up, cancels
// it with comm's abort); a cancel or a timeout cancels its context with the reason.
func stopPack(pack *comm.Pack, cancel context.CancelCauseFunc, status control.Status, reason string) {
	switch {
	case status == control.StatusFailed && pack != nil:
		pack.Abort(errors.New(reason))
	case status == control.StatusFailed:
		cancel(fmt.Errorf("%w: %s", comm.ErrAborted, reason))
	default:
		cause := ErrCancelled
		if status == control.StatusTimedOut {
			cause = ErrTimedOut
		}
		if reason != "" {
			cause = reasonError{kind: cause, reason: reason}
		}
		cancel(cause)
	}
}

// transport returns the transport of a backend; the memory one reaches only the packs of
// this invoker.
func (inv *Invoker) transport(backend control.Backend) (comm.Transport, error) {
	switch backend {
	case control.BackendNATS, "":
		return inv.nats, nil
	case control.BackendMemory:
		return inv.memory, nil
	case control.BackendJetStream:
		inv.mu.Lock()
		defer inv.mu.Unlock()
		if inv.jetstream == nil {
			t, err := comm.NewJetStreamTransport(inv.nc, comm.JetStreamOptions{})
			if err != nil {
				return nil, fmt.Errorf("invoker: jetstream transport: %w", err)
			}
			inv.jetstream = t
		}
		return inv.jetstream, nil
	}
	return nil, fmt.Errorf("invoker: unknown backend %q", backend)
}

// assign answers one Assignment: it checks it and admits the pack at once, then sets it
// up, replies and runs it in a goroutine of its own, since fetching a plugin must not
// hold up the next assignment. That goroutine answers on the request's reply subject
// itself: micro's request is not to be touched once its handler has returned.
func (inv *Invoker) assign(req micro.Request) {
	if req.Subject() != control.AssignSubject(inv.opts.ID) {
		inv.log.Warn("assignment on another subject: ignored", "subject", req.Subject()) // see cancel
		return
	}
	var a control.Assignment
	if err := json.Unmarshal(req.Data(), &a); err != nil {
		inv.refuse(req.Reply(), a, "400", fmt.Errorf("invoker: bad assignment: %w", err))
		return
	}
	first, end := a.Ranks()
	var err error
	switch {
	case a.Proto != control.Version:
		err = fmt.Errorf("invoker: assignment of protocol level %d; this invoker speaks level %d", a.Proto, control.Version)
	case a.CheckBounds() != nil:
		err = fmt.Errorf("invoker: %w", a.CheckBounds())
	case a.Size <= 0 || a.Granularity <= 0 || a.Pack < 0 || first >= end:
		err = fmt.Errorf("invoker: pack %d of a flare of %d workers by %d is empty", a.Pack, a.Size, a.Granularity)
	case a.Inputs != nil && len(a.Inputs) != end-first:
		err = fmt.Errorf("invoker: %d inputs for the %d ranks of pack %d", len(a.Inputs), end-first, a.Pack)
	case a.Timeout <= 0:
		err = fmt.Errorf("invoker: pack %d of flare %s came with no time left", a.Pack, a.Flare)
	}
	if err != nil {
		inv.refuse(req.Reply(), a, "400", err)
		return
	}
	rp, ctx, err := inv.admit(a, end-first)
	if err != nil {
		inv.refuse(req.Reply(), a, "409", err)
		return
	}
	reply := req.Reply()
	if a.Digest != "" && inv.opts.Isolation == control.IsolationProcess {
		go func() {
			defer inv.running.Done()
			defer inv.release(a, rp)
			inv.runHosted(ctx, a, func(err error) {
				if err != nil {
					// Its slots back before the refusal: whoever reads it may assign
					// the pack again at once (release is idempotent).
					inv.release(a, rp)
					inv.refuse(reply, a, "500", err)
					return
				}
				inv.respond(reply, a, control.AssignReply{OK: true}, "")
			})
		}()
		return
	}
	go func() {
		defer inv.running.Done()
		p, err := inv.setup(ctx, a)
		if err != nil {
			inv.release(a, rp)
			inv.refuse(reply, a, "500", err)
			return
		}
		inv.mu.Lock()
		rp.pack = p.pack
		inv.mu.Unlock()
		inv.respond(reply, a, control.AssignReply{OK: true}, "")
		defer inv.release(a, rp)
		p.run(ctx)
		p.closeConn()
	}()
}

// refuse answers an assignment with err, as a micro service error with the reply in
// the body.
func (inv *Invoker) refuse(reply string, a control.Assignment, code string, err error) {
	inv.log.Warn("assignment refused", "flare", a.Flare, "pack", a.Pack, "err", err)
	inv.respond(reply, a, control.AssignReply{Error: err.Error()}, code)
}

// respond publishes r on reply, with micro's error headers when code is set.
func (inv *Invoker) respond(reply string, a control.Assignment, r control.AssignReply, code string) {
	m := nats.NewMsg(reply)
	m.Data, _ = json.Marshal(r)
	if code != "" {
		m.Header.Set(micro.ErrorHeader, r.Error)
		m.Header.Set(micro.ErrorCodeHeader, code)
	}
	if err := inv.nc.PublishMsg(m); err != nil {
		inv.log.Warn("assignment reply lost", "flare", a.Flare, "pack", a.Pack, "err", err)
	}
}

// admit registers the pack, so that a cancel reaches it even while it is set up, and
// gives it its context: cancelled by a Cancel or Shutdown, and ended by the timeout.
func (inv *Invoker) admit(a control.Assignment, ranks int) (*runningPack, context.Context, error) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if inv.closing {
		return nil, nil, ErrShutdown
	}
	if _, ok := inv.cancelled[a.Flare]; ok {
		return nil, nil, fmt.Errorf("invoker: flare %s was cancelled", a.Flare)
	}
	k := control.PackRef{Flare: a.Flare, Pack: a.Pack}
	if _, ok := inv.packs[k]; ok {
		return nil, nil, fmt.Errorf("invoker: pack %d of flare %s is already running here", a.Pack, a.Flare)
	}
	ctx, cancel := context.WithCancelCause(inv.base)
	ctx, stop := context.WithTimeoutCause(ctx, time.Duration(a.Timeout)+deadlineSlack, ErrTimedOut)
	rp := &runningPack{ranks: ranks, credential: a.Credential, namespace: a.Namespace, cancel: func(err error) {
		cancel(err)
		stop()
	}}
	inv.packs[k] = rp
	inv.used += ranks
	inv.running.Add(1)
	return rp, ctx, nil
}

// AuthorizeNATS lets a flare's connection into the NATS server of the invoker's own
// node (an invoker that embeds a routed server): user flare:<id> with the credential of
// an assignment of that flare that the invoker holds. Only the function hosts of this
// invoker connect there; the gateway's servers let in everyone else.
func (inv *Invoker) AuthorizeNATS(user, password string) (control.Permissions, bool) {
	kind, flare, _ := strings.Cut(user, ":")
	if kind != "flare" || password == "" {
		return control.Permissions{}, false
	}
	inv.mu.Lock()
	defer inv.mu.Unlock()
	for k, rp := range inv.packs {
		if k.Flare == flare && hmac.Equal([]byte(password), []byte(rp.credential)) {
			return control.FlarePermissions(flare, rp.namespace), true
		}
	}
	return control.Permissions{}, false
}

// release forgets a pack: once it ran, or when it could not be set up. A second call
// for the same pack does nothing.
func (inv *Invoker) release(a control.Assignment, rp *runningPack) {
	rp.cancel(context.Canceled)
	inv.mu.Lock()
	k := control.PackRef{Flare: a.Flare, Pack: a.Pack}
	removed := inv.packs[k] == rp
	if removed {
		delete(inv.packs, k)
		inv.used -= rp.ranks
	}
	// Only an invoker with a server of its own asks: the walk over its packs is not for
	// every pack's end.
	last := removed && inv.opts.Revoked != nil && !inv.holds(a.Flare)
	inv.mu.Unlock()
	if last {
		inv.opts.Revoked(control.FlareUser(a.Flare))
	}
}

// holds reports whether the invoker runs a pack of flare. Called with inv.mu held.
func (inv *Invoker) holds(flare string) bool {
	for k := range inv.packs {
		if k.Flare == flare {
			return true
		}
	}
	return false
}

// listPacks answers which packs the invoker runs or still owes events of: a gateway that
// restarted asks, to tell the packs that ended while it was away from those lost with
// an invoker's restart.
func (inv *Invoker) listPacks(req micro.Request) {
	if req.Subject() != control.PacksSubject(inv.opts.ID) {
		return // see cancel
	}
	inv.mu.Lock()
	set := make(map[control.PackRef]bool, len(inv.packs))
	for k := range inv.packs {
		set[k] = true
	}
	inv.mu.Unlock()
	// After the running packs: a pack leaves them only once its last event is queued.
	for _, k := range inv.events.owed() {
		set[k] = true
	}
	out := control.PacksReply{Proto: control.Version, Packs: make([]control.PackRef, 0, len(set))}
	for k := range set {
		out.Packs = append(out.Packs, k)
	}
	b, _ := json.Marshal(out)
	if err := req.Respond(b); err != nil {
		inv.log.Warn("packs reply lost", "err", err)
	}
}
