package invoker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/burstgo/burst/comm"
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
}

// An Invoker runs the packs that the gateway assigns to it, one goroutine per rank.
type Invoker struct {
	opts    Options
	nc      *nats.Conn
	log     *slog.Logger
	host    string
	started time.Time
	cache   *functionCache
	memory  comm.Transport
	nats    comm.Transport

	// base is cancelled by Shutdown; every pack's context derives from it.
	base       context.Context
	cancelBase context.CancelCauseFunc

	mu        sync.Mutex
	jetstream comm.Transport
	packs     map[packKey]*runningPack
	cancelled map[string]time.Time // flares cancelled lately, to refuse a late assignment
	used      int
	closing   bool
	beating   bool // the heartbeat loop runs
	subs      []*nats.Subscription
	running   sync.WaitGroup // pack runners
	beats     chan struct{}  // closed to stop the heartbeat loop
	beatsDone chan struct{}
}

type packKey struct {
	flare string
	pack  int
}

// runningPack is what the invoker keeps of a pack it runs.
type runningPack struct {
	a      Assignment
	cancel context.CancelCauseFunc
	ranks  int
	pack   *comm.Pack // once set up
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
	host, _ := os.Hostname()
	if opts.ID == "" {
		opts.ID = defaultID(host)
	}
	if err := comm.ValidFlareID(opts.ID); err != nil {
		// The same rule as a flare id: the name is a subject token.
		return nil, fmt.Errorf("invoker: id %q: only letters, digits, '-' and '_'", opts.ID)
	}
	if opts.CacheDir == "" {
		opts.CacheDir = filepath.Join(os.TempDir(), "burst-plugins")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	inv := &Invoker{
		opts:      opts,
		nc:        opts.Conn,
		log:       opts.Logger.With("invoker", opts.ID),
		host:      host,
		cache:     newFunctionCache(opts.Conn, opts.CacheDir),
		memory:    comm.NewMemoryTransport(),
		nats:      comm.NewNATSTransport(opts.Conn),
		packs:     make(map[packKey]*runningPack),
		cancelled: make(map[string]time.Time),
		beats:     make(chan struct{}),
		beatsDone: make(chan struct{}),
	}
	inv.base, inv.cancelBase = context.WithCancelCause(context.Background())
	return inv, nil
}

func defaultID(host string) string {
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

// Start subscribes to assignments and cancels and starts heartbeating.
func (inv *Invoker) Start(ctx context.Context) error {
	inv.started = time.Now()
	handlers := []struct {
		subject string
		fn      nats.MsgHandler
	}{
		// Each assignment gets a goroutine: fetching a plugin must not hold up the next.
		{AssignSubject(inv.opts.ID), func(m *nats.Msg) { go inv.assign(m) }},
		{SubjectCancel, inv.cancel},
		{SubjectDiscover, func(*nats.Msg) { inv.beat(SubjectHeartbeat) }},
	}
	for _, h := range handlers {
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
	inv.beat(SubjectHeartbeat)
	inv.mu.Lock()
	inv.beating = true
	inv.mu.Unlock()
	go inv.heartbeats()
	inv.log.Info("invoker started", "slots", inv.opts.Slots, "cache", inv.opts.CacheDir)
	return nil
}

func (inv *Invoker) unsubscribe() {
	for _, s := range inv.subs {
		s.Unsubscribe()
	}
	inv.subs = nil
}

// Shutdown refuses new assignments, cancels the packs still running and waits for them
// to report, until ctx ends.
func (inv *Invoker) Shutdown(ctx context.Context) error {
	inv.mu.Lock()
	if inv.closing {
		inv.mu.Unlock()
		return nil
	}
	inv.closing = true
	beating := inv.beating
	inv.mu.Unlock()
	inv.unsubscribe()
	close(inv.beats)
	if beating {
		<-inv.beatsDone
	}
	inv.cancelBase(fmt.Errorf("%w: %w", ErrCancelled, ErrShutdown))
	done := make(chan struct{})
	go func() {
		inv.running.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("invoker: packs still running at shutdown: %w", ctx.Err())
	}
	inv.beat(SubjectBye)
	inv.nc.Flush()
	inv.log.Info("invoker stopped")
	return err
}

func (inv *Invoker) heartbeats() {
	defer close(inv.beatsDone)
	t := time.NewTicker(inv.opts.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-inv.beats:
			return
		case <-t.C:
			inv.beat(SubjectHeartbeat)
			inv.pruneCancelled()
		}
	}
}

// Heartbeat returns what the invoker would tell the gateway now.
func (inv *Invoker) Heartbeat() Heartbeat {
	inv.mu.Lock()
	used, packs := inv.used, len(inv.packs)
	inv.mu.Unlock()
	return Heartbeat{
		ID: inv.opts.ID, Host: inv.host, Slots: inv.opts.Slots, Used: used, Packs: packs,
		Backends: []string{BackendNATS, BackendJetStream, BackendMemory},
		Started:  inv.started, Time: time.Now(), Interval: inv.opts.Heartbeat,
	}
}

func (inv *Invoker) beat(subject string) {
	b, _ := json.Marshal(inv.Heartbeat())
	if err := inv.nc.Publish(subject, b); err != nil {
		inv.log.Warn("heartbeat lost", "err", err)
	}
}

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
	var c Cancel
	if err := json.Unmarshal(m.Data, &c); err != nil {
		inv.log.Warn("bad cancel", "err", err)
		return
	}
	cause := ErrCancelled
	if c.Status == StatusTimedOut {
		cause = ErrTimedOut
	}
	if c.Reason != "" {
		cause = fmt.Errorf("%w: %s", cause, c.Reason)
	}
	inv.mu.Lock()
	defer inv.mu.Unlock()
	inv.cancelled[c.Flare] = time.Now()
	for k, rp := range inv.packs {
		if k.flare != c.Flare {
			continue
		}
		switch {
		case c.Status == StatusFailed && rp.pack != nil:
			// The gateway relays another pack's failure, which this pack may have
			// missed: abort it as comm would, so its workers end as aborted.
			rp.pack.Abort(errors.New(c.Reason))
		case c.Status == StatusFailed:
			rp.cancel(fmt.Errorf("%w: %s", comm.ErrAborted, c.Reason))
		default:
			rp.cancel(cause)
		}
	}
}

// transport returns the transport of a backend; the memory one reaches only the packs of
// this invoker.
func (inv *Invoker) transport(backend string) (comm.Transport, error) {
	switch backend {
	case BackendNATS, "":
		return inv.nats, nil
	case BackendMemory:
		return inv.memory, nil
	case BackendJetStream:
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

// assign answers one Assignment: it sets the pack up, replies, and runs it.
func (inv *Invoker) assign(m *nats.Msg) {
	var a Assignment
	reply := func(err error) {
		r := AssignReply{OK: err == nil}
		if err != nil {
			r.Error = err.Error()
			inv.log.Warn("assignment refused", "flare", a.Flare, "pack", a.Pack, "err", err)
		}
		b, _ := json.Marshal(r)
		if err := m.Respond(b); err != nil {
			inv.log.Warn("assignment reply lost", "flare", a.Flare, "pack", a.Pack, "err", err)
		}
	}
	if err := json.Unmarshal(m.Data, &a); err != nil {
		reply(fmt.Errorf("invoker: bad assignment: %w", err))
		return
	}
	first, end := a.Ranks()
	switch {
	case a.Size <= 0 || a.Granularity <= 0 || a.Pack < 0 || first >= end:
		reply(fmt.Errorf("invoker: pack %d of a flare of %d workers by %d is empty", a.Pack, a.Size, a.Granularity))
		return
	case a.Inputs != nil && len(a.Inputs) != end-first:
		reply(fmt.Errorf("invoker: %d inputs for the %d ranks of pack %d", len(a.Inputs), end-first, a.Pack))
		return
	case a.Timeout <= 0:
		reply(fmt.Errorf("invoker: pack %d of flare %s came with no time left", a.Pack, a.Flare))
		return
	}
	rp, ctx, err := inv.admit(a, end-first)
	if err != nil {
		reply(err)
		return
	}
	p, err := inv.setup(ctx, a)
	if err != nil {
		inv.release(a, rp)
		inv.running.Done()
		reply(err)
		return
	}
	inv.mu.Lock()
	rp.pack = p.pack
	inv.mu.Unlock()
	reply(nil)
	go func() {
		defer inv.running.Done()
		defer inv.release(a, rp)
		p.run(ctx)
	}()
}

// admit registers the pack, so that a cancel reaches it even while it is set up, and
// gives it its context: cancelled by a Cancel or Shutdown, and ended by the timeout.
func (inv *Invoker) admit(a Assignment, ranks int) (*runningPack, context.Context, error) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if inv.closing {
		return nil, nil, ErrShutdown
	}
	if _, ok := inv.cancelled[a.Flare]; ok {
		return nil, nil, fmt.Errorf("invoker: flare %s was cancelled", a.Flare)
	}
	k := packKey{a.Flare, a.Pack}
	if _, ok := inv.packs[k]; ok {
		return nil, nil, fmt.Errorf("invoker: pack %d of flare %s is already running here", a.Pack, a.Flare)
	}
	ctx, cancel := context.WithCancelCause(inv.base)
	ctx, stop := context.WithTimeoutCause(ctx, a.Timeout+deadlineSlack, ErrTimedOut)
	rp := &runningPack{a: a, ranks: ranks, cancel: func(err error) {
		cancel(err)
		stop()
	}}
	inv.packs[k] = rp
	inv.used += ranks
	inv.running.Add(1)
	return rp, ctx, nil
}

// release forgets a pack: once it ran, or when it could not be set up.
func (inv *Invoker) release(a Assignment, rp *runningPack) {
	rp.cancel(context.Canceled)
	inv.mu.Lock()
	defer inv.mu.Unlock()
	k := packKey{a.Flare, a.Pack}
	if inv.packs[k] == rp {
		delete(inv.packs, k)
		inv.used -= rp.ranks
	}
}
