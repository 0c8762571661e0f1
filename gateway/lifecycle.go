package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"github.com/burstgo/burst/invoker"
)

// A flare's way through the gateway: submit records it (queued) and queues it; the
// scheduler places all its packs at once (running) and dispatch sends each invoker its
// assignment; the invokers' events fill in the workers; once every pack has ended, or the
// gateway ends the flare (cancel, timeout, a lost invoker, a failed assignment) and the
// packs had a grace period to report, finish records it for good and wakes the waiters.

// flare is a flare the gateway has not finished with. Its fields are guarded by g.mu,
// except those set once before it is shared.
type flare struct {
	spec     flareSpec
	digest   string
	rec      Record
	results  []json.RawMessage
	deadline time.Time

	queued      bool
	placements  []placement
	packEnded   []bool
	packStarted []bool
	endedPacks  int
	started     int // packs whose every worker runs

	timer     *time.Timer // the flare's timeout
	grace     *time.Timer // the wait for the packs' last reports
	cause     *endCause   // why the gateway ended it, if it did
	finishing bool
	relayed   bool // a pack's failure was relayed to the others

	logs     flareLogs
	logBytes int
	watchers map[*watcher]struct{}

	done  chan struct{} // closed once the final record is stored
	final *Record       // the final record, results included, once done

	writeMu sync.Mutex // orders writes of the header
	stored  bool       // the final record is written: no earlier state may overwrite it
}

// resultList returns the results in rank order, null for a worker that has not
// succeeded (yet). Called with g.mu held.
func (f *flare) resultList() []json.RawMessage {
	out := make([]json.RawMessage, len(f.results))
	for i, r := range f.results {
		if r == nil {
			r = json.RawMessage("null")
		}
		out[i] = r
	}
	return out
}

// endCause is why the gateway ended a flare before its packs all reported.
type endCause struct {
	status string
	err    string
	lost   string // the lost invoker, if that is the cause
}

// maxLogBytes bounds the log text kept per flare, whatever the line count.
const maxLogBytes = 4 << 20

// submit records a new flare and queues it. It returns an *Error when the flare cannot
// run on this cluster or the queue is full.
func (g *Gateway) submit(spec flareSpec, fn FunctionRecord) (*flare, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return nil, fmt.Errorf("gateway: flare id: %w", err)
	}
	now := time.Now().UTC()
	f := &flare{
		spec:     spec,
		digest:   fn.Digest,
		deadline: now.Add(spec.timeout),
		results:  make([]json.RawMessage, spec.size),
		done:     make(chan struct{}),
		queued:   true,
		rec: Record{
			ID: id.String(), Function: spec.function, Version: fn.Version, Size: spec.size,
			Granularity: spec.granularity, Backend: spec.backend, Timeout: Duration(spec.timeout),
			Created: now, Packs: []PackRecord{}, Workers: make([]WorkerRecord, spec.size),
		},
		logs: flareLogs{Lines: []invoker.LogLine{}},
	}
	for r := range f.rec.Workers {
		f.rec.Workers[r] = WorkerRecord{Rank: r, Pack: r / spec.granularity, Status: invoker.StatusQueued}
	}
	g.mu.Lock()
	if g.closing {
		g.mu.Unlock()
		return nil, errorf(http.StatusServiceUnavailable, CodeShuttingDown, "the gateway is shutting down")
	}
	if err := g.capacityError(spec); err != nil {
		g.mu.Unlock()
		return nil, err
	}
	if len(g.queue) >= g.opts.QueueLimit {
		g.mu.Unlock()
		return nil, errorf(http.StatusTooManyRequests, CodeQueueFull, "%d flares wait for slots already; try again later", len(g.queue))
	}
	g.flares[f.rec.ID] = f
	g.index[f.rec.ID] = &f.rec
	g.order = append(g.order, f.rec.ID)
	g.setStatus(f, invoker.StatusQueued)
	g.metrics.created.Inc()
	f.timer = time.AfterFunc(spec.timeout, func() {
		g.end(f, endCause{status: invoker.StatusTimedOut, err: fmt.Sprintf("flare timed out after %s", spec.timeout)})
	})
	g.queue = append(g.queue, f)
	placed := g.scheduleLocked()
	g.mu.Unlock()
	g.log.Debug("flare submitted", "flare", f.rec.ID, "spec", spec)
	g.dispatch(placed)
	return f, nil
}

// setStatus moves f to status and keeps the count by status. Called with g.mu held.
func (g *Gateway) setStatus(f *flare, status string) {
	if f.rec.Status != "" {
		g.metrics.flares.WithLabelValues(f.rec.Status).Dec()
	}
	f.rec.Status = status
	g.metrics.flares.WithLabelValues(status).Inc()
}

// dispatch sends the placed flares' assignments.
func (g *Gateway) dispatch(placed []*flare) {
	for _, f := range placed {
		go g.assign(f)
	}
}

// assign sends every pack of f to its invoker, at once, and ends the flare if one could
// not be set up.
func (g *Gateway) assign(f *flare) {
	var wg sync.WaitGroup
	for _, pl := range f.placements {
		if len(f.placements) == 1 {
			g.assignPack(f, pl)
			break
		}
		wg.Go(func() { g.assignPack(f, pl) })
	}
	wg.Wait()
}

func (g *Gateway) assignPack(f *flare, pl placement) {
	a := invoker.Assignment{
		Flare: f.rec.ID, Function: f.spec.function, Digest: f.digest, Size: f.spec.size,
		Granularity: f.spec.granularity, Pack: pl.pack, Backend: f.spec.backend,
		Timeout: time.Until(f.deadline), Input: f.spec.input,
	}
	if f.spec.inputs != nil {
		a.Inputs = f.spec.inputs[pl.first:pl.end]
	}
	err := func() error {
		if a.Timeout <= 0 {
			return errors.New("no time left")
		}
		b, err := json.Marshal(a)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), min(g.opts.AssignTimeout, a.Timeout))
		defer cancel()
		m, err := g.nc.RequestWithContext(ctx, invoker.AssignSubject(pl.invoker), b)
		if errors.Is(err, nats.ErrNoResponders) {
			return errors.New("the invoker is gone")
		}
		if err != nil {
			return err
		}
		var rep invoker.AssignReply
		if err := json.Unmarshal(m.Data, &rep); err != nil {
			return fmt.Errorf("bad reply: %w", err)
		}
		if !rep.OK {
			return errors.New(rep.Error)
		}
		return nil
	}()
	if err == nil {
		return
	}
	g.mu.Lock()
	if !f.finishing {
		// The pack never ran: its slots are free now.
		g.releasePack(f, pl.pack)
	}
	allEnded := f.endedPacks == len(f.placements)
	g.mu.Unlock()
	g.end(f, endCause{status: invoker.StatusFailed, err: fmt.Sprintf("pack %d on invoker %s: %v", pl.pack, pl.invoker, err)})
	if allEnded {
		// The flare was ended for another cause meanwhile, and this was the last pack.
		g.finish(f)
	}
}

// end ends f for cause: a queued flare at once; a running one once its packs have
// reported or the grace period is over. Only the first cause counts.
func (g *Gateway) end(f *flare, cause endCause) {
	g.mu.Lock()
	if f.finishing || f.cause != nil {
		g.mu.Unlock()
		return
	}
	f.cause = &cause
	f.timer.Stop()
	now := f.queued || f.endedPacks == len(f.placements)
	if !now {
		f.grace = time.AfterFunc(g.opts.Grace, func() { g.finish(f) })
	}
	g.notify(f, "status", map[string]string{"status": "ending", "reason": cause.err})
	g.mu.Unlock()
	if now {
		g.finish(f)
		return
	}
	c, _ := json.Marshal(invoker.Cancel{Flare: f.rec.ID, Status: cause.status, Reason: cause.err})
	if err := g.nc.Publish(invoker.SubjectCancel, c); err != nil {
		g.log.Warn("cancel not sent", "flare", f.rec.ID, "err", err)
	}
}

// onEvent applies an invoker's event to its flare.
func (g *Gateway) onEvent(m *nats.Msg) {
	var ev invoker.Event
	if err := json.Unmarshal(m.Data, &ev); err != nil {
		g.log.Warn("bad event", "subject", m.Subject, "err", err)
		return
	}
	g.mu.Lock()
	f := g.flares[ev.Flare]
	if f == nil || f.finishing || ev.Pack < 0 || ev.Pack >= len(f.placements) || f.placements[ev.Pack].invoker != ev.Invoker {
		g.mu.Unlock()
		return
	}
	pl := f.placements[ev.Pack]
	workers := func(fn func(w invoker.WorkerEvent, r *WorkerRecord)) {
		for _, w := range ev.Workers {
			if w.Rank >= pl.first && w.Rank < pl.end {
				fn(w, &f.rec.Workers[w.Rank])
			}
		}
	}
	allEnded := false
	var relay []byte
	switch ev.Type {
	case invoker.EventStarted:
		if f.packStarted[ev.Pack] {
			break
		}
		f.packStarted[ev.Pack] = true
		f.started++
		workers(func(w invoker.WorkerEvent, r *WorkerRecord) {
			r.Start = w.Start
			if r.Status == invoker.StatusQueued {
				r.Status = invoker.StatusRunning
			}
		})
		g.metrics.workerStarts.Add(float64(len(ev.Workers)))
		if f.started == len(f.placements) {
			last := f.rec.Created
			for _, w := range f.rec.Workers {
				if w.Start.After(last) {
					last = w.Start
				}
			}
			g.metrics.startup.Observe(last.Sub(f.rec.Created).Seconds())
		}
		g.notify(f, ev.Type, ev)
	case invoker.EventWorkers:
		workers(func(w invoker.WorkerEvent, r *WorkerRecord) {
			r.Status, r.End, r.Error = w.Status, w.End, w.Error
			if !w.Start.IsZero() {
				r.Start = w.Start
			}
			f.results[w.Rank] = w.Result
		})
		for i := range ev.Workers {
			ev.Workers[i].Result = nil // results are for GET .../results, not the event stream
		}
		g.notify(f, ev.Type, ev)
	case invoker.EventLogs:
		g.addLogs(f, ev.Lines, ev.Dropped)
		g.notify(f, ev.Type, ev)
	case invoker.EventEnded:
		if ev.Comm != nil {
			f.rec.Comm = f.rec.Comm.Add(*ev.Comm)
		}
		g.releasePack(f, ev.Pack)
		allEnded = f.endedPacks == len(f.placements)
		g.notify(f, ev.Type, ev)
		if ev.Status != invoker.StatusSucceeded && !allEnded && !f.relayed && f.cause == nil {
			// comm's abort reaches only the packs that listen already; a pack set up
			// later would wait for the failed one till the timeout.
			f.relayed = true
			relay, _ = json.Marshal(invoker.Cancel{Flare: f.rec.ID, Status: invoker.StatusFailed, Reason: ev.Error})
		}
	}
	var placed []*flare
	if ev.Type == invoker.EventEnded {
		placed = g.scheduleLocked()
	}
	g.mu.Unlock()
	g.dispatch(placed)
	if relay != nil {
		if err := g.nc.Publish(invoker.SubjectCancel, relay); err != nil {
			g.log.Warn("abort not relayed", "flare", ev.Flare, "err", err)
		}
	}
	if allEnded {
		g.finish(f)
	}
}

// addLogs keeps log lines within the flare's bounds. Called with g.mu held.
func (g *Gateway) addLogs(f *flare, lines []invoker.LogLine, dropped int) {
	f.logs.Dropped += dropped
	for _, l := range lines {
		size := len(l.Message) + 64
		for k, v := range l.Attrs {
			size += len(k) + len(v) + 8
		}
		if len(f.logs.Lines) >= g.opts.LogLines || f.logBytes+size > maxLogBytes {
			f.logs.Dropped++
			continue
		}
		f.logBytes += size
		f.logs.Lines = append(f.logs.Lines, l)
	}
}

// finish decides f's final status, stores its record and wakes whoever waits for it.
func (g *Gateway) finish(f *flare) {
	g.mu.Lock()
	if f.finishing {
		g.mu.Unlock()
		return
	}
	f.finishing = true
	f.timer.Stop()
	if f.grace != nil {
		f.grace.Stop()
	}
	g.dequeue(f)
	for p := range f.packEnded {
		g.releasePack(f, p)
	}
	status, msg := verdict(f)
	now := time.Now().UTC()
	for i := range f.rec.Workers {
		w := &f.rec.Workers[i]
		if final(w.Status) || w.Status == invoker.StatusAborted {
			continue
		}
		// No report came for this worker: it ends with the flare, as a peer of the
		// failed rank unless its own invoker was lost.
		w.Status = status
		switch {
		case status == invoker.StatusSucceeded || f.cause != nil && f.cause.lost != "" && f.placements[w.Pack].invoker == f.cause.lost:
			w.Status = invoker.StatusFailed
		case status == invoker.StatusFailed:
			w.Status = invoker.StatusAborted
		}
		if !w.Start.IsZero() {
			w.End = now
		}
		if f.cause != nil {
			w.Error = f.cause.err
		} else {
			w.Error = "no report from its invoker"
		}
	}
	g.setStatus(f, status)
	f.rec.Ended, f.rec.Error = now, msg
	rec := f.rec.clone()
	rec.Results = f.resultList()
	logs := flareLogs{Lines: append([]invoker.LogLine(nil), f.logs.Lines...), Dropped: f.logs.Dropped}
	placed := g.scheduleLocked()
	g.mu.Unlock()
	g.dispatch(placed)

	g.metrics.finished.WithLabelValues(status).Inc()
	g.metrics.duration.Observe(rec.Ended.Sub(rec.Created).Seconds())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	f.writeMu.Lock()
	err := g.store.putFlare(ctx, &rec, true)
	if err == nil && (len(logs.Lines) > 0 || logs.Dropped > 0) {
		err = g.store.putLogs(ctx, rec.ID, logs)
	}
	f.stored = true
	f.writeMu.Unlock()
	if err != nil {
		g.log.Error("flare record not stored", "flare", rec.ID, "err", err)
	}
	if f.spec.backend == invoker.BackendJetStream {
		if err := g.jetstream.EndFlare(ctx, rec.ID); err != nil {
			g.log.Warn("jetstream stream of the flare not deleted", "flare", rec.ID, "err", err)
		}
	}
	g.log.Debug("flare ended", "flare", rec.ID, "status", status, "err", msg)

	g.mu.Lock()
	hdr := rec.header()
	g.index[rec.ID] = &hdr
	delete(g.flares, rec.ID)
	f.final = &rec
	g.notify(f, "end", rec.header())
	for w := range f.watchers {
		close(w.ch)
	}
	f.watchers = nil
	close(f.done)
	g.mu.Unlock()
}

// verdict is a flare's final status and error: the gateway's cause if it ended the
// flare, else the first failure in rank order that is a cause rather than the echo of
// another's abort. Called with g.mu held.
func verdict(f *flare) (string, string) {
	if f.cause != nil && f.cause.status != invoker.StatusFailed {
		return f.cause.status, f.cause.err
	}
	for _, w := range f.rec.Workers {
		if w.Status == invoker.StatusFailed {
			return invoker.StatusFailed, fmt.Sprintf("rank %d: %s", w.Rank, w.Error)
		}
	}
	if f.cause != nil {
		return f.cause.status, f.cause.err
	}
	var aborted, timedOut, cancelled, missing *WorkerRecord
	for i := range f.rec.Workers {
		w := &f.rec.Workers[i]
		switch w.Status {
		case invoker.StatusSucceeded:
		case invoker.StatusFailed:
			return invoker.StatusFailed, fmt.Sprintf("rank %d: %s", w.Rank, w.Error)
		case invoker.StatusAborted:
			aborted = cmp(aborted, w)
		case invoker.StatusTimedOut:
			timedOut = cmp(timedOut, w)
		case invoker.StatusCancelled:
			cancelled = cmp(cancelled, w)
		default:
			missing = cmp(missing, w)
		}
	}
	// An aborted worker echoes another's end: with no failure of its own anywhere, that
	// end was a timeout or a cancel, if one is seen.
	switch {
	case timedOut != nil:
		return invoker.StatusTimedOut, fmt.Sprintf("rank %d: %s", timedOut.Rank, timedOut.Error)
	case cancelled != nil:
		return invoker.StatusCancelled, fmt.Sprintf("rank %d: %s", cancelled.Rank, cancelled.Error)
	case aborted != nil:
		return invoker.StatusFailed, fmt.Sprintf("rank %d: %s", aborted.Rank, aborted.Error)
	case missing != nil:
		return invoker.StatusFailed, fmt.Sprintf("rank %d: no report from its invoker", missing.Rank)
	}
	return invoker.StatusSucceeded, ""
}

// cmp keeps the first worker seen.
func cmp(have, w *WorkerRecord) *WorkerRecord {
	if have != nil {
		return have
	}
	return w
}

// storeAccepted writes the header of a flare the API has just acknowledged, unless its
// final record is written already.
func (g *Gateway) storeAccepted(ctx context.Context, f *flare) error {
	f.writeMu.Lock()
	defer f.writeMu.Unlock()
	if f.stored {
		return nil
	}
	g.mu.Lock()
	hdr := f.rec.header()
	g.mu.Unlock()
	return g.store.putFlare(ctx, &hdr, false)
}

// recover reads every stored flare back. One that was still queued or running belonged
// to a gateway that stopped without recording its end: it is recorded as failed, and its
// packs, which may still run on invokers that outlived that gateway, are stopped.
func (g *Gateway) recover(ctx context.Context) error {
	stored, err := g.store.flareHeaders(ctx)
	if err != nil {
		return err
	}
	for _, sf := range stored {
		rec := sf.Record
		if !final(rec.Status) {
			rec.Status = invoker.StatusFailed
			rec.Error = "the gateway stopped before the flare ended"
			rec.Ended = time.Now().UTC()
			full, err := g.store.flare(ctx, rec.ID, true)
			if err == nil {
				full.Status, full.Error, full.Ended = rec.Status, rec.Error, rec.Ended
				err = g.store.putFlare(ctx, &full, true)
			}
			if err != nil {
				return fmt.Errorf("gateway: record interrupted flare %s: %w", rec.ID, err)
			}
			g.log.Warn("flare interrupted by a gateway stop", "flare", rec.ID)
			// No gateway listens for those packs' reports any more, and this one does not
			// count their slots: left alone they would run till their timeout.
			c, _ := json.Marshal(invoker.Cancel{Flare: rec.ID, Status: invoker.StatusFailed, Reason: rec.Error})
			if err := g.nc.Publish(invoker.SubjectCancel, c); err != nil {
				g.log.Warn("cancel of an interrupted flare not sent", "flare", rec.ID, "err", err)
			}
			if rec.Backend == invoker.BackendJetStream {
				if err := g.jetstream.EndFlare(ctx, rec.ID); err != nil {
					g.log.Warn("jetstream stream of an interrupted flare not deleted", "flare", rec.ID, "err", err)
				}
			}
		}
		hdr := rec.header()
		g.index[rec.ID] = &hdr
		g.order = append(g.order, rec.ID)
		g.metrics.flares.WithLabelValues(rec.Status).Inc()
	}
	if len(stored) > 0 {
		g.log.Info("flare records read back", "flares", len(stored))
	}
	return nil
}
