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

	"github.com/nats-io/nats.go"

	"github.com/burstgo/burst/comm"
	"github.com/burstgo/burst/functions"
)

// logFlush is how often a running pack sends its workers' new log lines.
const logFlush = 250 * time.Millisecond

// packRun is one pack set up on this invoker: its function, its attachment to the
// flare's transport and its workers' logs.
type packRun struct {
	inv        *Invoker
	a          Assignment
	first, end int
	pack       *comm.Pack
	fn         functions.Func
	logs       *logSink
	log        *slog.Logger
	maxResult  int
}

// setup finds the function and attaches the pack to its transport. Once it returns, the
// pack's peers can reach it.
func (inv *Invoker) setup(ctx context.Context, a Assignment) (*packRun, error) {
	fn, err := inv.cache.function(ctx, a.Function, a.Digest)
	if err != nil {
		return nil, err
	}
	t, err := inv.transport(a.Backend)
	if err != nil {
		return nil, err
	}
	first, end := a.Ranks()
	logs := newLogSink(first, end-first, inv.opts.LogLines, inv.opts.LogLevel, inv.log.Handler())
	cfg := comm.Config{
		Flare:       a.Flare,
		Size:        a.Size,
		Granularity: a.Granularity,
		Transport:   t,
		Logger:      slog.New(logs.handler()),
	}
	pack, err := comm.NewPack(ctx, cfg, a.Pack)
	if err != nil {
		return nil, err
	}
	// A result must fit, with room to spare, in one event under the NATS payload limit.
	maxResult := min(inv.opts.MaxResult, int(inv.nc.MaxPayload())/2)
	return &packRun{
		inv: inv, a: a, first: first, end: end, pack: pack, fn: fn, logs: logs,
		log: inv.log.With("flare", a.Flare, "pack", a.Pack), maxResult: maxResult,
	}, nil
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

// progress tells the gateway once every worker runs, and sends log lines as they come.
func (p *packRun) progress(allStarted, done <-chan struct{}, starts []time.Time) {
	t := time.NewTicker(logFlush)
	defer t.Stop()
	sent := false
	sendStarted := func() {
		ws := make([]WorkerEvent, len(starts))
		for i, s := range starts {
			ws[i] = WorkerEvent{Rank: p.first + i, Status: StatusRunning, Start: s}
		}
		p.report(Event{Type: EventStarted, Workers: ws})
		sent = true
	}
	for {
		select {
		case <-allStarted:
			if !sent {
				sendStarted()
			}
			allStarted = nil
		case <-t.C:
			p.flushLogs()
		case <-done:
			if !sent {
				// Every worker started before Run returned, so starts is complete.
				sendStarted()
			}
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

// sendLogs publishes lines in as few events as the NATS payload limit allows: a batch
// over it is sent in halves, and a line over it on its own is dropped and counted.
func (p *packRun) sendLogs(lines []LogLine, dropped int) {
	err := p.publish(Event{Type: EventLogs, Lines: lines, Dropped: dropped})
	switch {
	case err == nil:
	case !errors.Is(err, nats.ErrMaxPayload):
		p.log.Error("log lines not sent", "lines", len(lines), "err", err)
	case len(lines) <= 1:
		p.report(Event{Type: EventLogs, Dropped: dropped + len(lines)})
	default:
		half := len(lines) / 2
		p.sendLogs(lines[:half], 0)
		p.sendLogs(lines[half:], dropped)
	}
}

// eventBudget bounds the results and errors packed in one workers event.
const eventBudget = 1 << 20

// finish reports every worker's end, then the pack's.
func (p *packRun) finish(ctx context.Context, errs []error, starts, ends []time.Time, results []json.RawMessage) {
	ws := make([]WorkerEvent, len(errs))
	var failed, other error // the first own failure, and the first other end, in rank order
	otherStatus := ""
	for i, err := range errs {
		rank := p.first + i
		status := classify(ctx, p.pack, err)
		ws[i] = WorkerEvent{Rank: rank, Status: status, Start: starts[i], End: ends[i], Result: results[i]}
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
			p.logs.add(LogLine{Rank: rank, Time: ends[i], Level: slog.LevelError.String(), Message: "panic",
				Attrs: map[string]string{"value": clip(fmt.Sprint(pe.Value), maxLogValue), "stack": clip(pe.Stack, maxLogMessage)}})
		}
		switch {
		case status == StatusFailed && failed == nil:
			failed = fmt.Errorf("rank %d: %w", rank, err)
		case status != StatusFailed && other == nil:
			other, otherStatus = fmt.Errorf("rank %d: %w", rank, err), status
		}
	}
	packStatus, cause := StatusSucceeded, error(nil)
	switch {
	case failed != nil:
		packStatus, cause = StatusFailed, failed
	case otherStatus == StatusAborted:
		packStatus, cause = StatusFailed, other
	case other != nil:
		packStatus, cause = otherStatus, other
	}
	p.flushLogs()
	for len(ws) > 0 {
		k, size := 0, 0
		for k < len(ws) && (k == 0 || size+len(ws[k].Result)+len(ws[k].Error)+200 <= eventBudget) {
			size += len(ws[k].Result) + len(ws[k].Error) + 200
			k++
		}
		p.report(Event{Type: EventWorkers, Workers: ws[:k]})
		ws = ws[k:]
	}
	counters := p.pack.Counters()
	end := Event{Type: EventEnded, Comm: &counters, Status: packStatus}
	if cause != nil {
		end.Error = clip(cause.Error(), maxLogMessage)
	}
	p.report(end)
	if err := p.inv.nc.Flush(); err != nil {
		p.log.Warn("events may be lost", "err", err)
	}
	p.log.Debug("pack ended", "status", packStatus, "workers", len(errs))
}

// classify says how a worker ended, from its error and why its context ended.
func classify(ctx context.Context, pack *comm.Pack, err error) string {
	switch {
	case err == nil:
		return StatusSucceeded
	case ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, ErrCancelled) || errors.Is(err, ErrTimedOut) || errors.Is(err, comm.ErrAborted)):
		switch cause := context.Cause(ctx); {
		case errors.Is(cause, ErrTimedOut):
			return StatusTimedOut
		case errors.Is(cause, comm.ErrAborted):
			return StatusAborted
		}
		return StatusCancelled
	case errors.Is(err, comm.ErrAborted) || errors.Is(err, comm.ErrClosed):
		return StatusAborted
	case errors.Is(err, context.Canceled) && pack.Err() != nil:
		// The worker returned ctx.Err() after another rank's failure cancelled it.
		return StatusAborted
	}
	return StatusFailed
}

// publish sends ev to the gateway.
func (p *packRun) publish(ev Event) error {
	ev.Flare, ev.Pack, ev.Invoker, ev.Time = p.a.Flare, p.a.Pack, p.inv.opts.ID, time.Now()
	b, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	if err := p.inv.nc.Publish(EventSubject(p.a.Flare), b); err != nil {
		return fmt.Errorf("%d bytes: %w", len(b), err)
	}
	return nil
}

// report publishes ev and logs a failure.
func (p *packRun) report(ev Event) {
	if err := p.publish(ev); err != nil {
		p.log.Error("event not sent", "type", ev.Type, "err", err)
	}
}
