package gateway

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/burstgo/burst/invoker"
)

// The /flares handlers. A flare's record lives in memory while it runs and in the store
// once it ended; the handlers read whichever holds it.

func (g *Gateway) postFlare(w http.ResponseWriter, r *http.Request) {
	body := http.MaxBytesReader(w, r.Body, g.opts.MaxBody)
	spec, err := decodeFlareRequest(body, limits{defaultTimeout: g.opts.DefaultTimeout, maxTimeout: g.opts.MaxTimeout})
	if err != nil {
		writeError(w, err)
		return
	}
	wait, err := boolParam(r, "wait")
	if err != nil {
		writeError(w, err)
		return
	}
	fn, err := g.lookupFunction(r.Context(), spec.function)
	if err != nil {
		writeError(w, err)
		return
	}
	f, err := g.submit(spec, fn)
	if err != nil {
		writeError(w, err)
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
		case <-r.Context().Done():
		}
	}
	// The answer acknowledges the flare: its record must be stored first, even if the
	// client has gone meanwhile.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 30*time.Second)
	defer cancel()
	if err := g.storeAccepted(ctx, f); err != nil {
		g.end(f, endCause{status: invoker.StatusFailed, err: "its record could not be stored"})
		writeError(w, errorf(http.StatusServiceUnavailable, CodeInternal, "flare record not stored: %v", err))
		return
	}
	g.mu.Lock()
	hdr := f.rec.header()
	g.mu.Unlock()
	writeJSON(w, http.StatusAccepted, hdr)
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

// FlareList is the answer of GET /flares: the records' headers, newest first.
type FlareList struct {
	Flares []Record `json:"flares"`
	Total  int      `json:"total"` // matching flares, all pages
	Offset int      `json:"offset"`
	Limit  int      `json:"limit"`
}

const (
	defaultPage = 100
	maxPage     = 1000
)

// listFlares answers GET /flares?status=S&function=F&limit=L&offset=O.
func (g *Gateway) listFlares(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	status, function := q.Get("status"), q.Get("function")
	if status != "" && !final(status) && status != invoker.StatusQueued && status != invoker.StatusRunning {
		writeError(w, errorf(http.StatusBadRequest, CodeBadRequest, "status %q: want queued, running, succeeded, failed, timed_out or cancelled", status))
		return
	}
	limit, err := intParam(q.Get("limit"), "limit", defaultPage, 1, maxPage)
	if err != nil {
		writeError(w, err)
		return
	}
	offset, err := intParam(q.Get("offset"), "offset", 0, 0, 1<<31-1)
	if err != nil {
		writeError(w, err)
		return
	}
	out := FlareList{Flares: []Record{}, Offset: offset, Limit: limit}
	g.mu.Lock()
	for i := len(g.order) - 1; i >= 0; i-- {
		rec := g.index[g.order[i]]
		if status != "" && rec.Status != status || function != "" && rec.Function != function {
			continue
		}
		if out.Total >= offset && len(out.Flares) < limit {
			out.Flares = append(out.Flares, rec.header())
		}
		out.Total++
	}
	g.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
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
	rec, err := g.record(r, chi.URLParam(r, "id"), false)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rec)
}

// FlareResults is the answer of GET /flares/{id}/results: one result per rank, in rank
// order, null for a worker that has not succeeded (yet).
type FlareResults struct {
	ID      string `json:"id"`
	Status  string `json:"status"`
	Results []any  `json:"results"`
}

func (g *Gateway) getResults(w http.ResponseWriter, r *http.Request) {
	rec, err := g.record(r, chi.URLParam(r, "id"), true)
	if err != nil {
		writeError(w, err)
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
	Lines   []invoker.LogLine `json:"lines"`
	Dropped int               `json:"dropped"`
}

func (g *Gateway) getLogs(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	rank := -1
	if v := r.URL.Query().Get("rank"); v != "" {
		n, err := intParam(v, "rank", 0, 0, maxSize-1)
		if err != nil {
			writeError(w, err)
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
	_, known := g.index[id]
	g.mu.Unlock()
	if !known {
		writeError(w, errorf(http.StatusNotFound, CodeUnknownFlare, "no flare %q", id))
		return
	}
	if f == nil {
		var err error
		if logs, err = g.store.flareLogs(r.Context(), id); err != nil {
			writeError(w, err)
			return
		}
	}
	out := FlareLogs{ID: id, Lines: logs.Lines, Dropped: logs.Dropped}
	if rank >= 0 {
		out.Lines = slices.DeleteFunc(out.Lines, func(l invoker.LogLine) bool { return l.Rank != rank })
	}
	if out.Lines == nil {
		out.Lines = []invoker.LogLine{}
	}
	writeJSON(w, http.StatusOK, out)
}

// deleteFlare cancels a flare and answers its record once it is recorded as cancelled,
// or 202 if its packs take longer than the grace period to stop.
func (g *Gateway) deleteFlare(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	g.mu.Lock()
	f := g.flares[id]
	_, known := g.index[id]
	g.mu.Unlock()
	switch {
	case f == nil && known:
		writeError(w, errorf(http.StatusConflict, CodeFlareEnded, "flare %s has ended already", id))
		return
	case f == nil:
		writeError(w, errorf(http.StatusNotFound, CodeUnknownFlare, "no flare %q", id))
		return
	}
	g.end(f, endCause{status: invoker.StatusCancelled, err: "cancelled by request"})
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
