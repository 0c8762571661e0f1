package invoker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/burstgo/burst/comm"
	"github.com/burstgo/burst/control"
	"github.com/burstgo/burst/datasets"
	"github.com/burstgo/burst/functions"
)

// logFlush is how often a running pack sends its workers' new log lines.
const logFlush = 250 * time.Millisecond

// packRun is one pack set up to run: its function, its attachment to the flare's
// transport and its workers' logs. It runs in the invoker's process or in a function
// host (host.go); either way it tells the gateway what happens through report.
type packRun struct {
	a          control.Assignment
	first, end int
	pack       *comm.Pack
	fn         functions.Func
	logs       *logSink
	log        *slog.Logger
	maxResult  int // bytes of one worker's JSON result
	maxEvent   int // estimated bytes of one event's workers or log lines
	report     func(control.Event) bool
	// closeConn lets go of the flare's connection once the pack has run (flareconn.go).
	closeConn func()
	datasets  *datasetOpener
}

// packEnv is what a pack runs with, wherever it runs.
type packEnv struct {
	log       *slog.Logger // the process's own log
	logLines  int          // lines per worker
	logLevel  slog.Level
	maxResult int // bytes of one worker's result, unless the assignment's limits say less
	payload   int // the NATS payload limit
	// report queues an event for the gateway, Flare, Pack and Time set, and says
	// whether it could.
	report func(control.Event) bool
	// dial returns the connection the pack's workers read datasets over, and its
	// release.
	dial func() (*datasets.Conn, func(), error)
	// lanes are the process's direct lanes, or nil.
	lanes *comm.Lanes
}

// newPackRun attaches pack a.Pack of its flare to transport t, to run fn. Once it
// returns, the pack's peers can reach it.
func newPackRun(ctx context.Context, a control.Assignment, fn functions.Func, t comm.Transport, env packEnv) (*packRun, error) {
	first, end := a.Ranks()
	logs := newLogSink(first, end-first, env.logLines, a.Limits.LogBytes, env.logLevel, env.log.Handler())
	cfg := comm.Config{
		Flare:       a.Flare,
		Size:        a.Size,
		Granularity: a.Granularity,
		Bounds:      a.Bounds,
		Transport:   t,
		Logger:      slog.New(logs.handler()),
	}
	if a.LaneSecret != "" {
		cfg.Lanes, cfg.LaneSecret = env.lanes, []byte(a.LaneSecret)
	}
	pack, err := comm.NewPack(ctx, cfg, a.Pack)
	if err != nil {
		return nil, err
	}
	// A result must fit, with room to spare, in one event under the NATS payload limit,
	// and an event holds at most a quarter of it besides its largest result.
	// The function's own bound, else the invoker's; either way under half the payload.
	maxResult := env.maxResult
	if r := a.Limits.ResultBytes; r > 0 {
		maxResult = r
	}
	maxResult = min(maxResult, env.payload/2)
	return &packRun{
		a: a, first: first, end: end, pack: pack, fn: fn, logs: logs,
		log:       env.log.With("flare", a.Flare, "pack", a.Pack),
		maxResult: maxResult, maxEvent: env.payload / 4, report: env.report,
		datasets: &datasetOpener{namespace: a.Namespace, dial: env.dial},
	}, nil
}

// setup finds the function and attaches the pack to its transport, in this process.
func (inv *Invoker) setup(ctx context.Context, a control.Assignment) (*packRun, error) {
	fn, err := inv.cache.function(ctx, a.Function, a.Digest)
	if err != nil {
		return nil, err
	}
	if !inv.opts.FlareConns || !needsConn(a) {
		t, err := inv.transport(a.Backend)
		if err != nil {
			return nil, err
		}
		p, err := newPackRun(ctx, a, fn, t, inv.packEnv(a))
		if err == nil {
			p.closeConn = func() {}
		}
		return p, err
	}
	t, release, err := inv.flares.transport(a)
	if err != nil {
		return nil, err
	}
	p, err := newPackRun(ctx, a, fn, t, inv.packEnv(a))
	if err != nil {
		release()
		return nil, err
	}
	p.closeConn = release
	return p, nil
}

// packEnv is what a pack of a runs with in this process.
func (inv *Invoker) packEnv(a control.Assignment) packEnv {
	dial := func() (*datasets.Conn, func(), error) { return inv.datasets, func() {}, nil }
	if inv.opts.FlareConns {
		dial = func() (*datasets.Conn, func(), error) { return inv.flares.datasets(a) }
	}
	return packEnv{
		dial: dial, lanes: inv.lanes,
		log: inv.log, logLines: inv.opts.LogLines, logLevel: inv.opts.LogLevel, maxResult: inv.opts.MaxResult,
		payload: int(inv.nc.MaxPayload()),
		report: func(ev control.Event) bool {
			ev.Flare, ev.Pack, ev.Time = a.Flare, a.Pack, time.Now()
			return inv.forward(ev)
		},
	}
}

// forward queues ev, of a pack of this invoker, for the gateway.
func (inv *Invoker) forward(ev control.Event) bool {
	ev.Invoker = inv.opts.ID
	if err := inv.events.add(ev); err != nil {
		inv.log.Error("event not sent", "flare", ev.Flare, "pack", ev.Pack, "type", ev.Kind, "err", err)
		return false
	}
	return true
}

// run runs the pack's workers, reports them and detaches the pack.
func (p *packRun) run(ctx context.Context) {
	defer p.pack.Close()
	n := p.end - p.first
	starts := make([]time.Time, n)
	ends := make([]time.Time, n)
	results := make([]json.RawMessage, n)
	var started atomic.Int64
	allStarted := make(chan struct{})
	done := make(chan struct{})
	var side sync.WaitGroup
	side.Go(func() { p.progress(allStarted, done, starts) })

	ctx = functions.WithDatasets(ctx, p.datasets.open)
	errs := p.pack.Run(ctx, func(ctx context.Context, w *comm.Worker) error {
		i := w.Rank() - p.first
		starts[i] = time.Now()
		if started.Add(1) == int64(n) {
			close(allStarted)
		}
		defer func() { ends[i] = time.Now() }()
		out, err := p.fn(ctx, w, p.input(i))
		if err != nil {
			return err
		}
		b, err := json.Marshal(out)
		if err != nil {
			return fmt.Errorf("result is not JSON: %w", err)
		}
		if len(b) > p.maxResult {
			return fmt.Errorf("result of %d bytes is over the %d-byte bound", len(b), p.maxResult)
		}
		results[i] = b
		return nil
	})
	p.datasets.close()
	close(done)
	side.Wait()
	p.finish(ctx, errs, starts, ends, results)
}

func (p *packRun) input(i int) json.RawMessage {
	in := p.a.Input
	if p.a.Inputs != nil {
		in = p.a.Inputs[i]
	}
	if len(in) == 0 {
		return json.RawMessage("null")
	}
	return in
}

// startedDelay is how long a pack whose workers all run waits before it says so: a pack
// that ends within it sends its ended event alone, which carries the start times too.
// It holds back no figure: the start times are the workers' own.
const startedDelay = 2 * time.Millisecond

// progress tells the gateway once every worker runs, and sends log lines as they come.
func (p *packRun) progress(allStarted, done <-chan struct{}, starts []time.Time) {
	t := time.NewTicker(logFlush)
	defer t.Stop()
	var soon <-chan time.Time
	for {
		select {
		case <-allStarted:
			allStarted = nil
			soon = time.After(startedDelay)
		case <-soon:
			soon = nil
			ws := make([]control.WorkerEvent, len(starts))
			for i, s := range starts {
				ws[i] = control.WorkerEvent{Rank: p.first + i, Status: control.StatusRunning, Start: s}
			}
			p.report(control.Event{Kind: control.EventStarted, Workers: ws})
		case <-t.C:
			p.flushLogs()
		case <-done:
			return
		}
	}
}

func (p *packRun) flushLogs() {
	lines, dropped := p.logs.take()
	if len(lines) == 0 && dropped == 0 {
		return
	}
	p.sendLogs(lines, dropped)
}

// sendLogs queues lines in as few events as the NATS payload limit allows: a batch over
// it is sent in halves, and a line over it on its own is dropped and counted.
func (p *packRun) sendLogs(lines []control.LogLine, dropped int) {
	size := 0
	for _, l := range lines {
		size += lineSize(l)
	}
	switch {
	case size <= p.maxEvent:
		if p.report(control.Event{Kind: control.EventLogs, Lines: lines, Dropped: dropped}) {
			return
		}
		fallthrough
	case len(lines) <= 1:
		p.report(control.Event{Kind: control.EventLogs, Dropped: dropped + len(lines)})
	default:
		half := len(lines) / 2
		p.sendLogs(lines[:half], 0)
		p.sendLogs(lines[half:], dropped)
	}
}

// finish reports every worker's end and the pack's, in one ended event when they fit.
func (p *packRun) finish(ctx context.Context, errs []error, starts, ends []time.Time, results []json.RawMessage) {
	ws := make([]control.WorkerEvent, len(errs))
	var failed, other error // the first own failure, and the first other end, in rank order
	var otherStatus control.Status
	for i, err := range errs {
		rank := p.first + i
		status := classify(ctx, p.pack, err)
		ws[i] = control.WorkerEvent{Rank: rank, Status: status, Start: starts[i], End: ends[i], Result: results[i]}
		if err == nil {
			continue
		}
		ws[i].Error = err.Error()
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			// The worker returned ctx.Err(): "context canceled" says less than why.
			if cause := context.Cause(ctx); cause != nil {
				ws[i].Error = cause.Error()
			} else if cause := p.pack.Err(); cause != nil {
				ws[i].Error = cause.Error()
			}
		}
		// An error is the user's text, of any length: bound it like a log line, so that
		// the worker's end event fits in a NATS message.
		ws[i].Error = clip(ws[i].Error, maxLogMessage)
		var pe *comm.PanicError
		if errors.As(err, &pe) {
			p.log.Error("worker panicked", "rank", rank, "panic", fmt.Sprint(pe.Value), "stack", pe.Stack)
			p.logs.add(control.LogLine{Rank: rank, Time: ends[i], Level: slog.LevelError.String(), Message: "panic",
				Attrs: map[string]string{"value": clip(fmt.Sprint(pe.Value), maxLogValue), "stack": clip(pe.Stack, maxLogMessage)}})
		}
		switch {
		case status == control.StatusFailed && failed == nil:
			failed = fmt.Errorf("rank %d: %w", rank, err)
		case status != control.StatusFailed && other == nil:
			other, otherStatus = fmt.Errorf("rank %d: %w", rank, err), status
		}
	}
	packStatus, cause := control.StatusSucceeded, error(nil)
	switch {
	case failed != nil:
		packStatus, cause = control.StatusFailed, failed
	case otherStatus == control.StatusAborted:
		packStatus, cause = control.StatusFailed, other
	case other != nil:
		packStatus, cause = otherStatus, other
	}
	p.flushLogs()
	// Workers that do not fit in the ended event go before it in workers events, each
	// within the budget.
	reports := 0
	for {
		k, size := 0, 0
		for k < len(ws) && (k == 0 || size+workerSize(ws[k]) <= p.maxEvent) {
			size += workerSize(ws[k])
			k++
		}
		if k == len(ws) {
			break
		}
		reports += p.reportWorkers(ws[:k], reports+1)
		ws = ws[k:]
	}
	c := p.pack.Counters()
	counters := control.Counters{
		LocalMessages: c.LocalMessages, LocalBytes: c.LocalBytes, RemoteMessages: c.RemoteMessages,
		RemoteBytes: c.RemoteBytes, LaneBytes: p.pack.LaneBytes(),
	}
	end := control.Event{Kind: control.EventEnded, Workers: ws, Comm: &counters, Traffic: p.pack.Traffic(),
		Status: packStatus, Reports: reports}
	if cause != nil {
		end.Error = clip(cause.Error(), maxLogMessage)
	}
	if !p.report(end) {
		// Its workers are what made it too large: they go first, on their own.
		end.Reports += p.reportWorkers(ws, reports+1)
		end.Workers = nil
		p.report(end)
	}
	p.log.Debug("pack ended", "status", packStatus, "workers", len(errs))
}

// reportWorkers sends ws in a workers event numbered part, or if it is refused, each
// worker in one of its own, without its result if need be. It returns how many events
// it sent.
func (p *packRun) reportWorkers(ws []control.WorkerEvent, part int) int {
	if p.report(control.Event{Kind: control.EventWorkers, Workers: ws, Part: part}) {
		return 1
	}
	sent := 0
	for _, w := range ws {
		if !p.report(control.Event{Kind: control.EventWorkers, Workers: []control.WorkerEvent{w}, Part: part + sent}) {
			w.Result, w.Status = nil, control.StatusFailed
			w.Error = clip(w.Error, maxLogValue) + " (its result did not fit in an event)"
			if !p.report(control.Event{Kind: control.EventWorkers, Workers: []control.WorkerEvent{w}, Part: part + sent}) {
				continue
			}
		}
		sent++
	}
	return sent
}

// workerSize is the size of a worker's part of an event, as JSON, near enough: its
// result is JSON already, and its error and the other fields are counted as encoded.
func workerSize(w control.WorkerEvent) int { return len(w.Result) + jsonLen(w.Error) + 200 }

// lineSize is the size of a log line in an event, as JSON, near enough.
func lineSize(l control.LogLine) int {
	n := jsonLen(l.Message) + 100
	for k, v := range l.Attrs {
		n += jsonLen(k) + jsonLen(v) + 2
	}
	return n
}

// jsonLen is the length of s as a JSON string, quotes included, as encoding/json writes
// it: <, > and & escaped, control characters, bad UTF-8 and the line separators
// spelled out.
func jsonLen(s string) int {
	n := 2
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t' || c == '\b' || c == '\f':
				n += 2
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				n += 6
			default:
				n++
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1, r == '\u2028', r == '\u2029':
			n += 6
		default:
			n += size
		}
		i += size
	}
	return n
}

// classify says how a worker ended, from its error and why its context ended.
func classify(ctx context.Context, pack *comm.Pack, err error) control.Status {
	switch {
	case err == nil:
		return control.StatusSucceeded
	case ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, ErrCancelled) || errors.Is(err, ErrTimedOut) || errors.Is(err, comm.ErrAborted)):
		switch cause := context.Cause(ctx); {
		case errors.Is(cause, ErrTimedOut):
			return control.StatusTimedOut
		case errors.Is(cause, comm.ErrAborted):
			return control.StatusAborted
		}
		return control.StatusCancelled
	case errors.Is(err, comm.ErrAborted) || errors.Is(err, comm.ErrClosed):
		return control.StatusAborted
	case errors.Is(err, context.Canceled) && pack.Err() != nil:
		// The worker returned ctx.Err() after another rank's failure cancelled it.
		return control.StatusAborted
	}
	return control.StatusFailed
}
