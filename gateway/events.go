package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// GET /flares/{id}/events streams a flare's life as server-sent events: first a
// "record" event with the record as it is, then the invokers' events as they come
// ("started", "workers" without results, "logs" with the lines the record keeps,
// "ended"), "placed" with the record's header when a queued flare gets its invokers,
// "status" when the gateway ends the flare, and last "end" with the final record's
// header, after which the stream closes.
//
// Every event of a running flare has an id, "<gateway>-<n>": this gateway process, and
// a count per flare. A client that reconnects with Last-Event-ID (as EventSource does)
// gets the events it missed, if this gateway still has them (it keeps the last
// historyLimit once someone watched the flare), else a new "record" to start from, as
// after a gateway restart. A client too slow to keep up gets a "lagged" event and the
// stream closes; it may reconnect the same way.

const (
	// watcherBuffer is how many events a slow client may fall behind.
	watcherBuffer = 1024
	// historyLimit is how many events of a watched flare are kept for a reconnect.
	historyLimit = 1024
	// sseKeepAlive is how often an idle stream gets a comment, so proxies keep it open.
	sseKeepAlive = 15 * time.Second
)

// An sseEvent is one event of a flare's stream; v is marshalled by the stream's own
// goroutine, never under the gateway's lock, and is not changed once sent.
type sseEvent struct {
	id   uint64
	noID bool // the stream of an ended flare, and the lagged notice, have no ids
	name string
	v    any
}

type watcher struct {
	ch     chan sseEvent
	lagged bool
}

// notify gives every event of f its id and sends it to f's watchers, keeping it for a
// reconnect once f has been watched. Called with g.mu held.
func (g *Gateway) notify(f *flare, name string, v any) {
	f.nextID++
	if f.history == nil {
		return // nobody ever watched
	}
	ev := sseEvent{id: f.nextID, name: name, v: v}
	if len(f.history) == historyLimit {
		copy(f.history, f.history[1:])
		f.history = f.history[:historyLimit-1]
	}
	f.history = append(f.history, ev)
	for w := range f.watchers {
		select {
		case w.ch <- ev:
		default:
			w.lagged = true
			close(w.ch)
			delete(f.watchers, w)
		}
	}
}

// missed returns the events after last that f still has, and whether it has them all.
// Called with g.mu held.
func (f *flare) missed(last uint64) ([]sseEvent, bool) {
	if last > f.nextID {
		return nil, false // an id of another gateway's count
	}
	if last == f.nextID {
		return nil, true
	}
	if len(f.history) == 0 || f.history[0].id > last+1 {
		return nil, false
	}
	for i, ev := range f.history {
		if ev.id > last {
			return append([]sseEvent(nil), f.history[i:]...), true
		}
	}
	return nil, true
}

func (g *Gateway) getEvents(w http.ResponseWriter, r *http.Request) {
	id := flareID(r)
	last, resume := g.lastEventID(r.Header.Get("Last-Event-ID"))
	var wt *watcher
	var backlog []sseEvent
	g.mu.Lock()
	f := g.flares[id]
	if f != nil {
		wt = &watcher{ch: make(chan sseEvent, watcherBuffer)}
		if f.watchers == nil {
			f.watchers = make(map[*watcher]struct{})
		}
		f.watchers[wt] = struct{}{}
		if f.history == nil {
			f.history = make([]sseEvent, 0, 16)
		}
		ok := false
		if resume {
			backlog, ok = f.missed(last)
		}
		if !ok {
			backlog = []sseEvent{{id: f.nextID, name: "record", v: f.rec.clone()}}
		}
	}
	g.mu.Unlock()
	if f == nil {
		rec, err := g.record(r, id, false)
		if err != nil {
			writeError(w, r, err)
			return
		}
		backlog = []sseEvent{{noID: true, name: "record", v: rec}, {noID: true, name: "end", v: rec}}
	} else {
		defer func() {
			g.mu.Lock()
			delete(f.watchers, wt)
			g.mu.Unlock()
		}()
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	// The headers go out now: a client that resumes with nothing missed must not wait
	// for the next event to know the stream is open.
	if err := rc.Flush(); err != nil {
		return
	}
	send := func(ev sseEvent) error {
		b, err := json.Marshal(ev.v)
		if err != nil {
			return err
		}
		if !ev.noID {
			_, err = fmt.Fprintf(w, "id: %s-%d\nevent: %s\ndata: %s\n\n", g.epoch, ev.id, ev.name, b)
		} else {
			_, err = fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev.name, b)
		}
		if err != nil {
			return err
		}
		return rc.Flush()
	}
	for _, ev := range backlog {
		if err := send(ev); err != nil {
			return
		}
	}
	if f == nil {
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
					send(sseEvent{noID: true, name: "lagged", v: map[string]string{"error": "the stream fell behind; reconnect with Last-Event-ID"}})
				}
				return
			}
			if err := send(ev); err != nil {
				return
			}
		case <-tick.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil || rc.Flush() != nil {
				return
			}
		case <-g.httpDone:
			return
		case <-r.Context().Done():
			return
		}
	}
}

// lastEventID reads a Last-Event-ID: the count of an event of this gateway process, if it
// is one.
func (g *Gateway) lastEventID(v string) (uint64, bool) {
	epoch, count, ok := strings.Cut(v, "-")
	if !ok || epoch != g.epoch {
		return 0, false
	}
	n, err := strconv.ParseUint(count, 10, 64)
	return n, err == nil
}
