package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/burstgo/burst/control"
)

// A flare's way through the gateway: submit records it in memory (queued) and queues
// it; the scheduler places all its packs at once (running, placement.go) and assign
// stores the record and sends each invoker its assignment (assign.go); the invokers'
// events fill in the workers (report.go); once every pack has reported its end, or the
// gateway ends the flare (cancel, timeout, a lost invoker, a failed assignment) and the
// packs had a grace period to report, finish records it for good and wakes the waiters.
// A gateway that starts takes up the flares an earlier one left running (recover.go).

// flare is a flare the gateway has not finished with. Its fields are guarded by g.mu,
// except those set once before it is shared.
type flare struct {
	spec     flareSpec
	digest   string
	rec      Record
	results  []json.RawMessage
	deadline time.Time

	queued     bool
	placements []placement
	packs      []packState
	ended      int // packs whose slots are free
	reported   int // packs that reported everything, or were given up
	started    int // packs whose workers all run

	timer *time.Timer // the flare's timeout
	grace *time.Timer // the wait for the packs' last reports
	cause *endCause   // why the gateway ended it, if it did
	// finishing is set once finish has taken the flare: nothing changes it after.
	finishing bool
	relayed   bool // a pack's failure was relayed to the others
	// recovered is a flare that an earlier gateway left running (recover.go).
	recovered bool

	logs     flareLogs
	logBytes int

	// The event stream's view: watchers, the id of the next event and, once someone
	// watched, the events since then, for a client that reconnects (events.go).
	watchers map[*watcher]struct{}
	nextID   uint64
	history  []sseEvent

	// floor is a stream sequence that none of the flare's events is below, and last the
	// sequence of the last event applied (report.go).
	floor, last uint64

	done  chan struct{} // closed once the final record is stored
	final *Record       // the final record, results included, once done

	// placedStored is closed once assign has stored the record with the placement, or
	// gave up; an acknowledgement of the flare waits for it.
	placedStored chan struct{}
	writeMu      sync.Mutex // orders writes of the record
	version      int        // counts changes of the stored header; guarded by g.mu
	written      int        // the version last written; guarded by writeMu
	stored       bool       // the final record is written: no earlier state may overwrite it
}

// packState is what the gateway knows of one pack's end.
type packState struct {
	started bool         // its workers' starts are known
	ended   bool         // its slots are free: its ended event came, or it was given up
	done    bool         // every report came (the ended event and the workers events it counts)
	reports int          // workers events seen, each part once
	parts   map[int]bool // the parts of the workers events seen
	want    int          // workers events the ended event counted; -1 until it comes
}

// endCause is why the gateway ended a flare before its packs all reported.
type endCause struct {
	status control.Status
	err    string
	lost   string // the lost invoker, if that is the cause
}

// maxLogBytes bounds the log text kept per flare, whatever the line count.
const maxLogBytes = 4 << 20

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

// stopTimers stops the flare's timers. Called with g.mu held.
func (f *flare) stopTimers() {
	if f.timer != nil {
		f.timer.Stop()
	}
	if f.grace != nil {
		f.grace.Stop()
	}
}

// newFlare makes the in-memory state of a flare of spec with record rec.
func newFlare(spec flareSpec, rec Record) *flare {
	f := &flare{
		spec:         spec,
		rec:          rec,
		deadline:     rec.Created.Add(spec.timeout),
		results:      make([]json.RawMessage, spec.size),
		done:         make(chan struct{}),
		placedStored: make(chan struct{}),
		logs:         flareLogs{Lines: []control.LogLine{}},
	}
	if len(f.rec.Workers) != spec.size {
		f.rec.Workers = make([]WorkerRecord, spec.size)
		for r := range f.rec.Workers {
			f.rec.Workers[r] = WorkerRecord{Rank: r, Pack: r / spec.granularity, Status: control.StatusQueued}
		}
	}
	return f
}

// submit records a new flare and queues it. It returns an *Error when the flare cannot
// run on this cluster or the queue is full.
func (g *Gateway) submit(spec flareSpec, fn FunctionRecord, namespace string) (*flare, error) {
	now := time.Now()
	f := newFlare(spec, Record{
		Namespace: namespace, Function: spec.function, Version: fn.Version, Size: spec.size,
		Granularity: spec.granularity, Join: spec.join, Backend: spec.backend, Timeout: control.Duration(spec.timeout),
		Created: now.UTC(), Packs: []PackRecord{},
	})
	if len(spec.input) <= maxRecordedInput {
		f.rec.Input = spec.input
	}
	f.digest = fn.Digest
	f.queued = true
	g.mu.Lock()
	// The id is made under the lock, so that ids, which sort by time, reach the index
	// in order.
	id, err := uuid.NewV7()
	if err != nil {
		g.mu.Unlock()
		return nil, fmt.Errorf("gateway: flare id: %w", err)
	}
	f.rec.ID = id.String()
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
	if err := g.admitFlare(namespace, spec.size, now); err != nil {
		g.mu.Unlock()
		return nil, err
	}
	g.flares[f.rec.ID] = f
	g.setStatus(f, control.StatusQueued)
	g.metrics.created.Inc()
	g.startTimer(f)
	g.queue = append(g.queue, f)
	placed := g.scheduleLocked()
	g.mu.Unlock()
	g.log.Debug("flare submitted", "flare", f.rec.ID, "spec", spec)
	g.dispatch(placed)
	return f, nil
}

// startTimer ends f as timed out at its deadline. Called with g.mu held.
func (g *Gateway) startTimer(f *flare) {
	timeout := time.Duration(f.rec.Timeout)
	f.timer = time.AfterFunc(time.Until(f.deadline), func() {
		if !g.track() {
			return
		}
		defer g.tasks.Done()
		g.end(f, endCause{status: control.StatusTimedOut, err: fmt.Sprintf("timed out after %s", timeout)})
	})
}

// setStatus moves f to status, keeps the count by status and the index. Called with g.mu
// held.
func (g *Gateway) setStatus(f *flare, status control.Status) {
	if f.rec.Status != "" {
		g.metrics.flares.WithLabelValues(string(f.rec.Status)).Dec()
	}
	f.rec.Status = status
	f.version++
	g.metrics.flares.WithLabelValues(string(status)).Inc()
	g.index.put(f.rec.header())
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
	now := f.queued || f.reported == len(f.placements)
	if !now {
		f.grace = time.AfterFunc(g.opts.Grace, func() {
			if !g.track() {
				return
			}
			defer g.tasks.Done()
			g.finish(f)
		})
	}
	g.notify(f, "status", map[string]string{"status": "ending", "reason": cause.err})
	g.mu.Unlock()
	if now {
		g.finish(f)
		return
	}
	g.sendCancel(control.Cancel{Flare: f.rec.ID, Status: cause.status, Reason: cause.err})
}

// sendCancel tells every invoker to stop the packs of a flare.
func (g *Gateway) sendCancel(c control.Cancel) {
	b, err := json.Marshal(c)
	if err == nil {
		err = g.nc.Publish(control.SubjectCancel, b)
	}
	if err != nil {
		g.log.Warn("cancel not sent", "flare", c.Flare, "err", err)
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
	f.stopTimers()
	g.dequeue(f)
	for p := range f.packs {
		g.releasePack(f, p)
	}
	status, msg := verdict(f)
	now := time.Now().UTC()
	for i := range f.rec.Workers {
		w := &f.rec.Workers[i]
		if w.Status.Final() || w.Status == control.StatusAborted {
			continue
		}
		// No report came for this worker: it ends with the flare, as a peer of the
		// failed rank unless its own invoker was lost.
		w.Status = status
		switch {
		case status == control.StatusSucceeded || f.cause != nil && f.cause.lost != "" && f.placements[w.Pack].invoker == f.cause.lost:
			w.Status = control.StatusFailed
		case status == control.StatusFailed:
			w.Status = control.StatusAborted
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
	f.rec.Ended, f.rec.Error = now, msg
	g.setStatus(f, status)
	rec := f.rec.clone()
	rec.Results = f.resultList()
	logs := flareLogs{Lines: f.logs.Lines, Dropped: f.logs.Dropped}
	placed := g.scheduleLocked()
	g.mu.Unlock()
	g.dispatch(placed)

	g.metrics.finished.WithLabelValues(string(status)).Inc()
	g.metrics.duration.Observe(rec.Ended.Sub(rec.Created).Seconds())
	ctx, cancel := context.WithTimeout(context.WithoutCancel(g.base), 30*time.Second)
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
	if f.spec.backend == control.BackendJetStream {
		if err := g.jetstream.EndFlare(ctx, rec.ID); err != nil {
			g.log.Warn("jetstream stream of the flare not deleted", "flare", rec.ID, "err", err)
		}
	}
	g.log.Debug("flare ended", "flare", rec.ID, "status", status, "err", msg)

	g.mu.Lock()
	delete(g.flares, rec.ID)
	f.final = &rec
	g.notify(f, "end", rec.header())
	for w := range f.watchers {
		close(w.ch)
	}
	f.watchers = nil
	close(f.done)
	g.mu.Unlock()
	if g.opts.Revoked != nil && len(f.placements) > 1 {
		// The flare's credential no longer lets anyone in (AuthorizeNATS); a connection
		// that still holds it goes too.
		g.opts.Revoked(control.FlareUser(rec.ID))
	}
}

// verdict is a flare's final status and error: the gateway's cause if it ended the
// flare, else the first failure in rank order that is a cause rather than the echo of
// another's abort. Called with g.mu held.
func verdict(f *flare) (control.Status, string) {
	if f.cause != nil && f.cause.status != control.StatusFailed {
		return f.cause.status, f.cause.err
	}
	for _, w := range f.rec.Workers {
		if w.Status == control.StatusFailed {
			return control.StatusFailed, fmt.Sprintf("rank %d: %s", w.Rank, w.Error)
		}
	}
	if f.cause != nil {
		return f.cause.status, f.cause.err
	}
	// No worker failed of its own. An aborted worker echoes another's end: that end was
	// a timeout or a cancel, if one is seen.
	var aborted, timedOut, cancelled, missing *WorkerRecord
	for i := range f.rec.Workers {
		w := &f.rec.Workers[i]
		switch w.Status {
		case control.StatusSucceeded:
		case control.StatusAborted:
			aborted = firstOf(aborted, w)
		case control.StatusTimedOut:
			timedOut = firstOf(timedOut, w)
		case control.StatusCancelled:
			cancelled = firstOf(cancelled, w)
		default:
			missing = firstOf(missing, w)
		}
	}
	switch {
	case timedOut != nil:
		return control.StatusTimedOut, fmt.Sprintf("rank %d: %s", timedOut.Rank, timedOut.Error)
	case cancelled != nil:
		return control.StatusCancelled, fmt.Sprintf("rank %d: %s", cancelled.Rank, cancelled.Error)
	case aborted != nil:
		return control.StatusFailed, fmt.Sprintf("rank %d: %s", aborted.Rank, aborted.Error)
	case missing != nil:
		return control.StatusFailed, fmt.Sprintf("rank %d: no report from its invoker", missing.Rank)
	}
	return control.StatusSucceeded, ""
}

// firstOf keeps the first worker seen.
func firstOf(have, w *WorkerRecord) *WorkerRecord {
	if have != nil {
		return have
	}
	return w
}

// addLogs keeps log lines within the flare's bounds. Called with g.mu held.
func (g *Gateway) addLogs(f *flare, lines []control.LogLine, dropped int) (kept []control.LogLine) {
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
		kept = append(kept, l)
	}
	return kept
}

// persist writes f's header as it is now, unless the same version or the final record
// is written already. Writes are ordered, so the last one written is the newest.
func (g *Gateway) persist(ctx context.Context, f *flare) error {
	f.writeMu.Lock()
	defer f.writeMu.Unlock()
	if f.stored {
		return nil
	}
	g.mu.Lock()
	version, hdr := f.version, f.rec.header()
	hdr.Input = f.rec.Input // stored beside the header, for a restart to keep
	g.mu.Unlock()
	if version == f.written {
		return nil
	}
	if err := g.store.putFlare(ctx, &hdr, false); err != nil {
		return err
	}
	f.written = version
	return nil
}
