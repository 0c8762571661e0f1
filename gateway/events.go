package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
)

// GET /flares/{id}/events streams a flare's life as server-sent events: first a
// "record" event with the record as it is, then the invokers' events as they come
// ("started", "workers" without results, "logs", "ended"), "status" when the gateway
// ends the flare, and last "end" with the final record, after which the stream closes.
// A client too slow to keep up gets a "lagged" event and the stream closes; it may read
// the record and reconnect.

// watcherBuffer is how many events a slow client may fall behind.
const watcherBuffer = 1024

// sseKeepAlive is how often an idle stream gets a comment, so proxies keep it open.
const sseKeepAlive = 15 * time.Second

type sseEvent struct {
	name string
	data []byte
}

type watcher struct {
	ch     chan sseEvent
	lagged bool
}

// notify sends an event to f's watchers. Called with g.mu held.
func (g *Gateway) notify(f *flare, name string, v any) {
	if len(f.watchers) == 0 {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	for w := range f.watchers {
		select {
		case w.ch <- sseEvent{name, b}:
		default:
			w.lagged = true
			close(w.ch)
			delete(f.watchers, w)
		}
	}
}

func (g *Gateway) getEvents(w http.ResponseWriter, r *http.Request) {
	id := chi.URLParam(r, "id")
	fl, ok := w.(http.Flusher)
	if !ok {
		writeError(w, errorf(http.StatusInternalServerError, CodeInternal, "streaming is not supported here"))
		return
	}
	var wt *watcher
	var snapshot Record
	g.mu.Lock()
	f := g.flares[id]
	if f != nil {
		wt = &watcher{ch: make(chan sseEvent, watcherBuffer)}
		if f.watchers == nil {
			f.watchers = make(map[*watcher]struct{})
		}
		f.watchers[wt] = struct{}{}
		snapshot = f.rec.clone()
	}
	g.mu.Unlock()
	if f == nil {
		rec, err := g.record(r, id, false)
		if err != nil {
			writeError(w, err)
			return
		}
		snapshot = rec
	}
	defer func() {
		if f != nil {
			g.mu.Lock()
			delete(f.watchers, wt)
			g.mu.Unlock()
		}
	}()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(name string, data []byte) error {
		_, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, data)
		fl.Flush()
		return err
	}
	b, _ := json.Marshal(snapshot)
	if err := send("record", b); err != nil {
		return
	}
	if f == nil {
		send("end", b)
		return
	}
	tick := time.NewTicker(sseKeepAlive)
	defer tick.Stop()
	for {
		select {
		case ev, ok := <-wt.ch:
			if !ok {
				g.mu.Lock()
				lagged := wt.lagged
				g.mu.Unlock()
				if lagged {
					send("lagged", []byte(`{"error":"the stream fell behind; read the record and reconnect"}`))
				}
				return
			}
			if err := send(ev.name, ev.data); err != nil {
				return
			}
		case <-tick.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
			fl.Flush()
		case <-r.Context().Done():
			return
		}
	}
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
	_, known := g.index[id]
	g.mu.Unlock()
	if !known {
		return Record{}, errorf(http.StatusNotFound, CodeUnknownFlare, "no flare %q", id)
	}
	rec, err := g.store.flare(r.Context(), id, withResults)
	if errors.Is(err, errNotStored) {
		return Record{}, errorf(http.StatusNotFound, CodeUnknownFlare, "no flare %q", id)
	}
	return rec, err
}
