package gateway

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/burstgo/burst/control"
)

// The /flares handlers. A flare's record lives in memory while it runs and in the store
// once it ended; the handlers read whichever holds it.

func (g *Gateway) postFlare(w http.ResponseWriter, r *http.Request) {
	body := http.MaxBytesReader(w, r.Body, g.opts.MaxBody)
	spec, err := decodeFlareRequest(body, limits{defaultTimeout: g.opts.DefaultTimeout, maxTimeout: g.opts.MaxTimeout, join: g.opts.Join})
	if err != nil {
		writeError(w, r, err)
		return
	}
	wait, err := boolParam(r, "wait")
	if err != nil {
		writeError(w, r, err)
		return
	}
	ns := principalOf(r).namespace
	fn, err := g.lookupFunction(r.Context(), ns, spec.function)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if err := g.applyLimits(&spec, fn); err != nil {
		writeError(w, r, err)
		return
	}
	f, err := g.submit(spec, fn, ns)
	if err != nil {
		writeError(w, r, err)
		return
	}
	w.Header().Set("Location", "/flares/"+f.rec.ID)
	if wait {
		t := time.NewTimer(g.opts.Wait)
		defer t.Stop()
		select {
		case <-f.done:
			writeJSON(w, http.StatusOK, f.final)
			return
		case <-t.C:
		case <-g.httpDone:
		case <-r.Context().Done():
		}
	}
	// The answer acknowledges the flare: its record must be stored first, even if the
	// client has gone meanwhile.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 30*time.Second)
	defer cancel()
	if err := g.storeAccepted(ctx, f); err != nil {
		g.end(f, endCause{status: control.StatusFailed, err: "its record could not be stored"})
		writeError(w, r, errorf(http.StatusServiceUnavailable, CodeInternal, "flare record not stored: %v", err))
		return
	}
	g.mu.Lock()
	hdr := f.rec.header()
	g.mu.Unlock()
	writeJSON(w, http.StatusAccepted, hdr)
}

// storeAccepted makes sure the record of a flare the API acknowledges is stored: a
// placed flare's is written before its assignments (assign), a queued one's here.
func (g *Gateway) storeAccepted(ctx context.Context, f *flare) error {
	g.mu.Lock()
	queued := f.queued
	g.mu.Unlock()
	if !queued {
		select {
		case <-f.placedStored:
		case <-f.done: // ended before it was placed: the final record is written
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return g.persist(ctx, f)
}

// applyLimits gives spec its function's limits: a timeout within the function's, its
// timeout if the request set none, and the bounds its workers run with.
func (g *Gateway) applyLimits(spec *flareSpec, fn FunctionRecord) error {
	spec.builtin = fn.Builtin
	l := g.opts.FunctionLimits
	if !fn.Builtin {
		// A record from before limits has none; one from before a restart with smaller
		// maxima has larger ones.
		l = fn.Limits.or(l).within(g.opts.MaxFunctionLimits)
		max := time.Duration(l.Timeout)
		switch {
		case spec.timeoutGiven && spec.timeout > max:
			return errorf(http.StatusBadRequest, CodeBadRequest, "timeout %s is over function %s's limit of %s", spec.timeout, fn.Name, max)
		case !spec.timeoutGiven:
			spec.timeout = max
		}
	}
	spec.limits = l.wire()
	if fn.Builtin {
		spec.limits.Memory = 0 // a built-in runs in the invoker
	}
	return nil
}

func boolParam(r *http.Request, name string) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, errorf(http.StatusBadRequest, CodeBadRequest, "%s=%q: want true or false", name, v)
	}
	return b, nil
}

// FlareList is the answer of GET /flares: the records' headers, newest first, and the
// cursor of the next page, empty on the last.
type FlareList struct {
	Flares []Record `json:"flares"`
	Next   string   `json:"next"`
}

const (
	defaultPage = 100
	maxPage     = 1000
)

// listFlares answers GET /flares?status=S&function=F&limit=L&cursor=C: the newest flares
// first; a next page starts at the cursor the previous one answered.
func (g *Gateway) listFlares(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	status, function, cursor := control.Status(q.Get("status")), q.Get("function"), q.Get("cursor")
	if status != "" && !status.Final() && status != control.StatusQueued && status != control.StatusRunning {
		writeError(w, r, errorf(http.StatusBadRequest, CodeBadRequest, "status %q: want queued, running, succeeded, failed, timed_out or cancelled", status))
		return
	}
	if cursor != "" && !validFlareID(cursor) {
		writeError(w, r, errorf(http.StatusBadRequest, CodeBadRequest, "cursor %q: want the next of an earlier answer", cursor))
		return
	}
	limit, err := intParam(q.Get("limit"), "limit", defaultPage, 1, maxPage)
	if err != nil {
		writeError(w, r, err)
		return
	}
	ns := principalOf(r).namespace
	flares, next := g.index.page(cursor, limit, func(rec *Record) bool {
		return recordNamespace(rec.Namespace) == ns && (status == "" || rec.Status == status) && (function == "" || rec.Function == function)
	})
	writeJSON(w, http.StatusOK, FlareList{Flares: flares, Next: next})
}

func intParam(v, name string, def, lo, hi int) (int, error) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, errorf(http.StatusBadRequest, CodeBadRequest, "%s=%q: want a number from %d to %d", name, v, lo, hi)
	}
	return n, nil
}

func (g *Gateway) getFlare(w http.ResponseWriter, r *http.Request) {
	rec, err := g.record(r, flareID(r), false)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rec)
}

// record returns a flare's record, from memory while it runs and from the store after.
func (g *Gateway) record(r *http.Request, id string, withResults bool) (Record, error) {
	g.mu.Lock()
	if f := g.flares[id]; f != nil {
		rec := f.rec.clone()
		if withResults {
			rec.Results = f.resultList()
		}
		g.mu.Unlock()
		return rec, nil
	}
	g.mu.Unlock()
	rec, err := g.store.flare(r.Context(), id, withResults)
	if errors.Is(err, errNotStored) {
		return Record{}, errorf(http.StatusNotFound, CodeUnknownFlare, "no flare %q", id)
	}
	return rec, err
}

// FlareResults is the answer of GET /flares/{id}/results: one result per rank, in rank
// order, null for a worker that has not succeeded (yet).
type FlareResults struct {
	ID      string         `json:"id"`
	Status  control.Status `json:"status"`
	Results []any          `json:"results"`
}

func (g *Gateway) getResults(w http.ResponseWriter, r *http.Request) {
	rec, err := g.record(r, flareID(r), true)
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := FlareResults{ID: rec.ID, Status: rec.Status, Results: make([]any, len(rec.Results))}
	for i, res := range rec.Results {
		out.Results[i] = res
	}
	writeJSON(w, http.StatusOK, out)
}

// FlareLogs is the answer of GET /flares/{id}/logs?rank=R: the lines the workers logged
// through w.Logger(), in the order they reached the gateway, and how many were dropped
// over the bounds.
type FlareLogs struct {
	ID      string            `json:"id"`
	Lines   []control.LogLine `json:"lines"`
	Dropped int               `json:"dropped"`
}

func (g *Gateway) getLogs(w http.ResponseWriter, r *http.Request) {
	id := flareID(r)
	rank := -1
	if v := r.URL.Query().Get("rank"); v != "" {
		n, err := intParam(v, "rank", 0, 0, maxSize-1)
		if err != nil {
			writeError(w, r, err)
			return
		}
		rank = n
	}
	var logs flareLogs
	g.mu.Lock()
	f := g.flares[id]
	if f != nil {
		logs = flareLogs{Lines: slices.Clone(f.logs.Lines), Dropped: f.logs.Dropped}
	}
	g.mu.Unlock()
	if f == nil {
		// Ended: flareScope found it stored already.
		var err error
		if logs, err = g.store.flareLogs(r.Context(), id); err != nil {
			writeError(w, r, err)
			return
		}
	}
	out := FlareLogs{ID: id, Lines: logs.Lines, Dropped: logs.Dropped}
	if rank >= 0 {
		out.Lines = slices.DeleteFunc(out.Lines, func(l control.LogLine) bool { return l.Rank != rank })
	}
	if out.Lines == nil {
		out.Lines = []control.LogLine{}
	}
	writeJSON(w, http.StatusOK, out)
}

// deleteFlare cancels a flare and answers its record once it is recorded as cancelled,
// or 202 if its packs take longer than the grace period to stop.
func (g *Gateway) deleteFlare(w http.ResponseWriter, r *http.Request) {
	id := flareID(r)
	g.mu.Lock()
	f := g.flares[id]
	g.mu.Unlock()
	if f == nil {
		// Ended: flareScope found it stored already.
		writeError(w, r, errorf(http.StatusConflict, CodeFlareEnded, "flare %s has ended already", id))
		return
	}
	g.end(f, endCause{status: control.StatusCancelled, err: "cancelled by request"})
	t := time.NewTimer(g.opts.Grace + time.Second)
	defer t.Stop()
	select {
	case <-f.done:
		writeJSON(w, http.StatusOK, f.final.header())
	case <-t.C:
		g.mu.Lock()
		hdr := f.rec.header()
		g.mu.Unlock()
		writeJSON(w, http.StatusAccepted, hdr)
	case <-r.Context().Done():
	}
}
