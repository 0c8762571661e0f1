package comm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sort"
	"sync"
	"sync/atomic"
)

// Defaults for Config.
const (
	DefaultChunkSize = 1 << 20 // payload bytes per frame
	DefaultWindow    = 32      // frames in flight from one pack to another
)

// Sentinel errors.
var (
	// ErrAborted is returned by every blocking call of a flare that a worker failed or
	// that was aborted; the error's text names the cause.
	ErrAborted = errors.New("comm: flare aborted")
	// ErrClosed is returned by the calls of a pack that was closed.
	ErrClosed = errors.New("comm: pack closed")
	// ErrBadArgument is returned for a rank out of range, a wrong number of parts and
	// such; the error's text says which.
	ErrBadArgument = errors.New("comm: bad argument")
)

// Config describes one flare's layout and how its packs talk.
type Config struct {
	// Flare identifies the flare; it is a NATS subject token, so no dots, spaces or
	// wildcards.
	Flare string
	// Size is the burst size N, the number of workers.
	Size int
	// Granularity is the pack size g: pack p holds ranks [p·g, min((p+1)·g, N)).
	Granularity int
	// Bounds, when set, lays the packs out unevenly instead: pack p holds ranks
	// [Bounds[p], Bounds[p+1]), the last one up to Size. It starts at 0 and rises. A
	// joined flare's packs placed together are one pack of all their ranks.
	Bounds []int
	// Transport carries traffic between packs.
	Transport Transport
	// ChunkSize is the largest payload of one frame; larger messages are split and
	// reassembled. Zero means DefaultChunkSize; it is lowered to what the transport
	// carries.
	ChunkSize int
	// Window is how many frames a pack may have in flight to another pack before it
	// waits for the receiver's credit. Zero means DefaultWindow.
	Window int
	// Logger gets the workers' logs, with flare, pack and rank attributes. Nil
	// discards them.
	Logger *slog.Logger
	// Lanes, with LaneSecret, lets the pack move large messages to other packs over
	// direct lanes (lane.go) instead of the transport; not with JetStream, whose
	// stream keeps every frame.
	Lanes *Lanes
	// LaneSecret is the flare's secret, the same for all its packs, by which packs
	// know each other's lanes.
	LaneSecret []byte
}

// Packs is the number of packs of the flare.
func (c Config) Packs() int {
	switch {
	case c.Bounds != nil:
		return len(c.Bounds)
	case c.Granularity <= 0:
		return 0
	}
	return (c.Size + c.Granularity - 1) / c.Granularity
}

// PackOf is the pack of rank r.
func (c Config) PackOf(r int) int {
	if c.Bounds == nil {
		return r / c.Granularity
	}
	return sort.Search(len(c.Bounds), func(i int) bool { return c.Bounds[i] > r }) - 1
}

// PackRanks is pack q's ranks, [first, end); q must be one of the flare's packs.
func (c Config) PackRanks(q int) (first, end int) {
	if c.Bounds == nil {
		first = q * c.Granularity
		return first, min(first+c.Granularity, c.Size)
	}
	if q+1 < len(c.Bounds) {
		return c.Bounds[q], c.Bounds[q+1]
	}
	return c.Bounds[q], c.Size
}

func (c *Config) validate() error {
	switch {
	case c.Size <= 0:
		return fmt.Errorf("%w: burst size %d, want > 0", ErrBadArgument, c.Size)
	case c.Size > 1<<31-1:
		return fmt.Errorf("%w: burst size %d is too large", ErrBadArgument, c.Size)
	case c.Granularity <= 0 || c.Granularity > c.Size:
		return fmt.Errorf("%w: granularity %d, want 1..%d", ErrBadArgument, c.Granularity, c.Size)
	case c.Bounds != nil && !risingFromZero(c.Bounds, c.Size):
		return fmt.Errorf("%w: pack bounds %v, want 0 first and rising below %d", ErrBadArgument, c.Bounds, c.Size)
	case c.Transport == nil:
		return fmt.Errorf("%w: no transport", ErrBadArgument)
	case c.ChunkSize < 0 || c.Window < 0:
		return fmt.Errorf("%w: negative chunk size or window", ErrBadArgument)
	case c.Window > 1<<16-1:
		return fmt.Errorf("%w: window %d, want at most 65535", ErrBadArgument, c.Window)
	}
	if err := ValidFlareID(c.Flare); err != nil {
		return err
	}
	if c.ChunkSize == 0 {
		c.ChunkSize = DefaultChunkSize
	}
	limit := c.Transport.MaxFrame() - headerSize
	if limit < 1 {
		return fmt.Errorf("%w: the %s transport carries no payload (not connected?)", ErrBadArgument, c.Transport.Name())
	}
	c.ChunkSize = min(c.ChunkSize, limit)
	if c.Window == 0 {
		c.Window = DefaultWindow
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// ValidFlareID reports whether id can name a flare: 1 to 128 letters, digits, '-' or '_'.
func ValidFlareID(id string) error {
	if id == "" || len(id) > 128 {
		return fmt.Errorf("%w: flare id must have 1 to 128 characters", ErrBadArgument)
	}
	for _, r := range id {
		ok := r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
		if !ok {
			return fmt.Errorf("%w: flare id %q: only letters, digits, '-' and '_'", ErrBadArgument, id)
		}
	}
	return nil
}

// A Pack is the workers of one flare that live in this process, and their attachment to
// the transport. It is what an invoker builds for each pack assignment.
type Pack struct {
	cfg    Config
	index  int
	packs  int
	first  int // ranks [first, end)
	end    int
	hash   uint64
	link   Link
	lane   *laneLink     // link, when the pack takes lanes
	linked chan struct{} // closed once link is set: frames may arrive before Open returns
	worker []*Worker
	sent   []atomic.Int64 // remote payload bytes, by destination group (Traffic)
	pool   sync.Pool      // frame buffers of headerSize+ChunkSize bytes

	stop      chan struct{} // closed on abort or close
	stopOnce  sync.Once
	stopCause error

	mu      sync.Mutex
	ready   map[int]chan struct{} // per remote pack: closed once it is known to listen
	credits map[int]*credit       // per remote pack: frames we may still send

	// Only touched by the delivering goroutine: the transport's, or, with lanes, one
	// at a time under laneLink.deliverMu.
	received map[int]*recvCount
	partial  map[partialKey]*partial
	recent   recent
}

// risingFromZero reports whether bounds starts at 0 and rises, every one below size.
func risingFromZero(bounds []int, size int) bool {
	if len(bounds) == 0 || bounds[0] != 0 {
		return false
	}
	for i := 1; i < len(bounds); i++ {
		if bounds[i] <= bounds[i-1] || bounds[i] >= size {
			return false
		}
	}
	return true
}

// NewPack builds pack index of the flare described by cfg and attaches it to the
// transport. Workers of other packs reach it as soon as it returns.
func NewPack(ctx context.Context, cfg Config, index int) (*Pack, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	packs := cfg.Packs()
	if index < 0 || index >= packs {
		return nil, fmt.Errorf("%w: pack %d, want 0..%d", ErrBadArgument, index, packs-1)
	}
	p := &Pack{
		cfg:      cfg,
		index:    index,
		packs:    packs,
		hash:     flareHash(cfg.Flare),
		stop:     make(chan struct{}),
		linked:   make(chan struct{}),
		ready:    make(map[int]chan struct{}),
		credits:  make(map[int]*credit),
		received: make(map[int]*recvCount),
		partial:  make(map[partialKey]*partial),
		sent:     make([]atomic.Int64, TrafficGroups(packs)),
	}
	p.first, p.end = cfg.PackRanks(index)
	p.pool.New = func() any {
		b := make([]byte, headerSize+p.cfg.ChunkSize)
		return &b
	}
	log := cfg.Logger.With("flare", cfg.Flare, "pack", index)
	p.worker = make([]*Worker, p.end-p.first)
	for i := range p.worker {
		r := p.first + i
		p.worker[i] = &Worker{p: p, rank: r, log: log.With("rank", r)}
		p.worker[i].box.slots = make(map[msgKey]chan message)
	}
	var link Link = aloneLink{}
	var err error
	if packs > 1 {
		// A flare of one pack has nobody to talk to over the transport: it is spared
		// its subscriptions (and, on JetStream, its stream).
		link, err = p.open(ctx)
	}
	p.link = link
	close(p.linked)
	if err != nil {
		return nil, fmt.Errorf("comm: open pack %d of flare %s on %s: %w", index, cfg.Flare, cfg.Transport.Name(), err)
	}
	return p, nil
}

// open attaches the pack to its transport, and to its lanes if it has any.
func (p *Pack) open(ctx context.Context) (Link, error) {
	cfg := p.cfg
	if cfg.Lanes == nil || len(cfg.LaneSecret) == 0 || cfg.Transport.Name() == "jetstream" {
		return cfg.Transport.Open(ctx, cfg.Flare, p.index, p.deliver, p.remoteAbort)
	}
	ll, err := cfg.Lanes.attach(cfg.Flare, p.index, cfg.LaneSecret, p, p.deliver, p.remoteAbort)
	if err != nil {
		return nil, err
	}
	if ll.inner, err = cfg.Transport.Open(ctx, cfg.Flare, p.index, ll.fromTransport, ll.abortFromTransport); err != nil {
		ll.detach()
		return nil, err
	}
	p.lane = ll
	return ll, nil
}

// LaneBytes is the payload the pack sent over lanes: the part of its workers'
// RemoteBytes that went direct rather than over the transport.
func (p *Pack) LaneBytes() int64 {
	if p.lane == nil {
		return 0
	}
	return p.lane.sent.Load()
}

// ChunkSize is the payload of one frame this pack sends: Config.ChunkSize, lowered to
// what the transport carries.
func (p *Pack) ChunkSize() int { return p.cfg.ChunkSize }

// Index is the pack's index in the flare.
func (p *Pack) Index() int { return p.index }

// Workers returns the pack's workers in rank order.
func (p *Pack) Workers() []*Worker { return p.worker }

// Counters adds up the traffic counters of the pack's workers.
func (p *Pack) Counters() Counters {
	var c Counters
	for _, w := range p.worker {
		c = c.Add(w.Counters())
	}
	return c
}

// MaxTrafficGroups bounds Pack.Traffic: a flare of more packs counts its traffic between
// groups of consecutive packs, so that a pack's count stays small however large the
// flare.
const MaxTrafficGroups = 32

// TrafficGroups is the number of groups a flare of packs packs counts its traffic
// between: one per pack up to MaxTrafficGroups.
func TrafficGroups(packs int) int { return min(packs, MaxTrafficGroups) }

// TrafficGroup is the group of pack in a flare of packs packs: consecutive packs share a
// group, pack·groups/packs.
func TrafficGroup(pack, packs int) int { return pack * TrafficGroups(packs) / packs }

// Traffic returns the payload bytes the pack's workers sent to other packs, by the
// destination's TrafficGroup: with Counters' RemoteBytes as their sum, it is one row of
// the flare's pack × pack matrix.
func (p *Pack) Traffic() []int64 {
	out := make([]int64, len(p.sent))
	for i := range p.sent {
		out[i] = p.sent[i].Load()
	}
	return out
}

// Err returns why the pack stopped (an error wrapping ErrAborted or ErrClosed), or nil
// while it runs.
func (p *Pack) Err() error {
	select {
	case <-p.stop:
		return p.stopCause
	default:
		return nil
	}
}

// Done is closed when the pack stops: on abort or close.
func (p *Pack) Done() <-chan struct{} { return p.stop }

func (p *Pack) halt(cause error) bool {
	first := false
	p.stopOnce.Do(func() {
		p.stopCause = cause
		close(p.stop)
		first = true
	})
	return first
}

// Abort fails the flare: every worker of every pack blocked in, or later calling, a
// receive or collective gets an error wrapping ErrAborted that names cause.
func (p *Pack) Abort(cause error) {
	if cause == nil {
		cause = errors.New("aborted")
	}
	if p.halt(fmt.Errorf("%w: %v", ErrAborted, cause)) {
		if err := p.link.Abort(clip(cause.Error(), maxCause)); err != nil {
			p.cfg.Logger.Warn("comm: could not tell the other packs of an abort", "flare", p.cfg.Flare, "err", err)
		}
	}
}

// maxCause bounds the text of an abort's cause on the wire: it must fit in a message
// whatever a worker's error says.
const maxCause = 4 << 10

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func (p *Pack) remoteAbort(cause string) {
	p.halt(fmt.Errorf("%w: %s", ErrAborted, cause))
}

// Close detaches the pack from the transport. Workers still blocked get ErrClosed.
func (p *Pack) Close() error {
	p.halt(ErrClosed)
	return p.link.Close()
}

// Run runs fn once per worker of the pack, each in its own goroutine, and returns their
// errors in rank order. A worker that returns an error or panics aborts the flare; the
// others' contexts are then cancelled and their blocked calls return.
func (p *Pack) Run(ctx context.Context, fn func(ctx context.Context, w *Worker) error) []error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go func() {
		select {
		case <-p.stop:
			cancel(p.stopCause)
		case <-ctx.Done():
		}
	}()
	errs := make([]error, len(p.worker))
	var wg sync.WaitGroup
	for i, w := range p.worker {
		wg.Go(func() {
			err := runWorker(ctx, w, fn)
			if err != nil && ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
				// A worker that ends with ctx.Err() after the pack stopped says only
				// "context canceled": name why the pack stopped.
				if stop := p.Err(); stop != nil && context.Cause(ctx) == stop {
					err = fmt.Errorf("%w: %w", err, stop)
				}
			}
			errs[i] = err
			if err != nil && !errors.Is(err, ErrAborted) && !errors.Is(err, ErrClosed) {
				p.Abort(fmt.Errorf("rank %d: %w", w.rank, err))
			}
		})
	}
	wg.Wait()
	return errs
}

// PanicError is a worker's panic, turned into an error.
type PanicError struct {
	Value any
	Stack string
}

func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

func runWorker(ctx context.Context, w *Worker, fn func(context.Context, *Worker) error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Value: v, Stack: string(debug.Stack())}
		}
	}()
	return fn(ctx, w)
}

// A Group is every pack of a flare built in this process, for tests, benchmarks and a
// one-host run.
type Group struct {
	cfg   Config
	packs []*Pack
}

// NewGroup builds every pack of the flare described by cfg.
func NewGroup(ctx context.Context, cfg Config) (*Group, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	g := &Group{cfg: cfg}
	for i := range cfg.Packs() {
		p, err := NewPack(ctx, cfg, i)
		if err != nil {
			g.Close()
			return nil, err
		}
		g.packs = append(g.packs, p)
	}
	return g, nil
}

// Packs returns the group's packs in order.
func (g *Group) Packs() []*Pack { return g.packs }

// Workers returns every worker in rank order.
func (g *Group) Workers() []*Worker {
	ws := make([]*Worker, 0, g.cfg.Size)
	for _, p := range g.packs {
		ws = append(ws, p.worker...)
	}
	return ws
}

// Counters adds up the traffic counters of every worker.
func (g *Group) Counters() Counters {
	var c Counters
	for _, p := range g.packs {
		c = c.Add(p.Counters())
	}
	return c
}

// Run runs fn on every worker of the flare and waits for all. It returns nil if every
// worker succeeded, else the first failure in rank order that is a cause rather than a
// consequence of the abort.
func (g *Group) Run(ctx context.Context, fn func(ctx context.Context, w *Worker) error) error {
	errs := make([][]error, len(g.packs))
	var wg sync.WaitGroup
	for i, p := range g.packs {
		wg.Go(func() { errs[i] = p.Run(ctx, fn) })
	}
	wg.Wait()
	var first error
	for i, pe := range errs {
		for j, err := range pe {
			if err == nil {
				continue
			}
			err = fmt.Errorf("rank %d: %w", g.packs[i].first+j, err)
			if !errors.Is(err, ErrAborted) && !errors.Is(err, ErrClosed) {
				return err
			}
			if first == nil {
				first = err
			}
		}
	}
	return first
}

// Close closes every pack and releases what the transport keeps for the flare.
func (g *Group) Close() error {
	var errs []error
	for _, p := range g.packs {
		errs = append(errs, p.Close())
	}
	errs = append(errs, g.cfg.Transport.EndFlare(context.Background(), g.cfg.Flare))
	return errors.Join(errs...)
}

// aloneLink is the link of the only pack of a flare: there is no other pack to send to
// or to tell of an abort.
type aloneLink struct{}

var _ Link = aloneLink{}

func (aloneLink) Send(_ context.Context, pack int, _ []byte) error {
	return fmt.Errorf("%w: pack %d of a flare of one pack", ErrBadArgument, pack)
}
func (aloneLink) Abort(string) error { return nil }
func (aloneLink) Close() error       { return nil }
