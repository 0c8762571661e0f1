package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/burstgo/burst/invoker"
)

// invokerState is what the gateway knows of an invoker: its last heartbeat and the slots
// the gateway placed on it. The gateway's own count of used slots is the one placement
// trusts; the heartbeat's is for show.
type invokerState struct {
	hb    invoker.Heartbeat
	seen  time.Time
	used  int
	packs int
}

func (st *invokerState) free() int { return st.hb.Slots - st.used }

// InvokerInfo is an invoker as GET /invokers shows it.
type InvokerInfo struct {
	ID            string    `json:"id"`
	Host          string    `json:"host"`
	Slots         int       `json:"slots"`
	Used          int       `json:"used"`
	Packs         int       `json:"packs"`
	Backends      []string  `json:"backends"`
	Started       time.Time `json:"started"`
	LastHeartbeat time.Time `json:"last_heartbeat"`
}

func (g *Gateway) onHeartbeat(m *nats.Msg) {
	var hb invoker.Heartbeat
	if err := json.Unmarshal(m.Data, &hb); err != nil || hb.ID == "" || hb.Slots < 0 {
		g.log.Warn("bad heartbeat", "err", err)
		return
	}
	g.mu.Lock()
	st := g.invokers[hb.ID]
	if st != nil && !st.hb.Started.Equal(hb.Started) {
		// The same name, a new process: what ran on the old one is gone.
		g.mu.Unlock()
		g.lose(hb.ID, "restarted")
		g.mu.Lock()
		st = g.invokers[hb.ID]
	}
	joined := st == nil
	if joined {
		st = &invokerState{}
		g.invokers[hb.ID] = st
	}
	st.hb, st.seen = hb, time.Now()
	var placed []*flare
	if joined {
		placed = g.scheduleLocked()
	}
	g.mu.Unlock()
	if joined {
		g.log.Info("invoker joined", "invoker", hb.ID, "host", hb.Host, "slots", hb.Slots)
	}
	g.dispatch(placed)
}

func (g *Gateway) onBye(m *nats.Msg) {
	var hb invoker.Heartbeat
	if err := json.Unmarshal(m.Data, &hb); err != nil {
		return
	}
	g.lose(hb.ID, "left the cluster")
}

// lostAfter is how long the gateway waits for a heartbeat of st.
func (g *Gateway) lostAfter(st *invokerState) time.Duration {
	if g.opts.LostAfter > 0 {
		return g.opts.LostAfter
	}
	// A floor, because opening a large plugin can hold up an invoker's heartbeats
	// for a moment.
	return max(defaultLostHeartbeats*st.hb.Interval, minLostAfter)
}

// watchInvokers marks lost the invokers that stopped beating.
func (g *Gateway) watchInvokers() {
	period := 100 * time.Millisecond
	if g.opts.LostAfter > 0 {
		period = min(period, g.opts.LostAfter/4)
	}
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-g.stop:
			return
		case now := <-t.C:
			var lost []string
			g.mu.Lock()
			for id, st := range g.invokers {
				if d := now.Sub(st.seen); d > g.lostAfter(st) {
					lost = append(lost, id)
				}
			}
			g.mu.Unlock()
			for _, id := range lost {
				g.lose(id, "no heartbeat")
			}
		}
	}
}

// lose forgets an invoker and fails the flares that had packs running on it.
func (g *Gateway) lose(id, why string) {
	g.mu.Lock()
	st := g.invokers[id]
	if st == nil {
		g.mu.Unlock()
		return
	}
	delete(g.invokers, id)
	var hit []*flare
	for _, f := range g.flares {
		gone := false
		for _, p := range f.placements {
			if p.invoker == id && !f.packEnded[p.pack] {
				// Its slots went with the invoker.
				f.packEnded[p.pack] = true
				f.endedPacks++
				gone = true
			}
		}
		if gone {
			hit = append(hit, f)
		}
	}
	g.mu.Unlock()
	msg := fmt.Sprintf("invoker %s lost: %s", id, why)
	g.log.Warn("invoker lost", "invoker", id, "why", why, "flares", len(hit))
	for _, f := range hit {
		g.end(f, endCause{status: invoker.StatusFailed, err: msg, lost: id})
	}
}

func (g *Gateway) listInvokers(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	out := make([]InvokerInfo, 0, len(g.invokers))
	for _, st := range g.invokers {
		out = append(out, InvokerInfo{
			ID: st.hb.ID, Host: st.hb.Host, Slots: st.hb.Slots, Used: st.used, Packs: st.packs,
			Backends: st.hb.Backends, Started: st.hb.Started, LastHeartbeat: st.seen,
		})
	}
	g.mu.Unlock()
	slices.SortFunc(out, func(a, b InvokerInfo) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	writeJSON(w, http.StatusOK, map[string]any{"invokers": out})
}
