package gateway

import (
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/burstgo/burst/control"
)

// invokerState is what the gateway knows of an invoker: its last heartbeat and the slots
// the gateway placed on it. The gateway's own count of used slots is the one placement
// trusts; the heartbeat's is for show.
type invokerState struct {
	id    string
	hb    control.Heartbeat
	seen  time.Time
	used  int
	packs int
	// joined is false for an invoker that ran packs of flares the gateway took up at
	// start, until it beats again; it gets no new packs before.
	joined bool
	// refused says why an invoker of another protocol level gets nothing.
	refused string
}

func (st *invokerState) free() int { return st.hb.Slots - st.used }

// live reports whether the invoker may get packs: it has joined, and says it is healthy.
func (st *invokerState) live() bool { return st.joined && st.hb.Health == "" }

// Statuses of an invoker on GET /invokers.
const (
	invokerReady      = "ready"
	invokerRecovering = "recovering" // awaited after a gateway restart
	invokerRefused    = "refused"
	invokerUnhealthy  = "unhealthy" // it says it cannot run packs, and why
)

// InvokerInfo is an invoker as GET /invokers shows it.
type InvokerInfo struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	// Reason says why a refused or unhealthy invoker gets no packs.
	Reason string `json:"reason,omitempty"`
	Proto  int    `json:"proto"`
	// Isolation is where it runs uploaded functions, and MemoryLimit how their memory
	// limits are enforced there.
	Isolation   control.Isolation `json:"isolation,omitempty"`
	MemoryLimit string            `json:"memory_limit,omitempty"`
	Host        string            `json:"host"`
	Slots       int               `json:"slots"`
	Used        int               `json:"used"`
	Packs       int               `json:"packs"`
	Backends    []control.Backend `json:"backends"`
	Builtins    []string          `json:"builtins"`
	// Build names the invoker's binary: module version, commit, Go release.
	Build         string    `json:"build,omitempty"`
	Started       time.Time `json:"started,omitzero"`
	LastHeartbeat time.Time `json:"last_heartbeat,omitzero"`
}

// liveInvokers counts the invokers that may get packs. Called with g.mu held.
func (g *Gateway) liveInvokers() int {
	n := 0
	for _, st := range g.invokers {
		if st.live() {
			n++
		}
	}
	return n
}

func (g *Gateway) onHeartbeat(m *nats.Msg) {
	var hb control.Heartbeat
	if err := json.Unmarshal(m.Data, &hb); err != nil || hb.ID == "" || hb.Slots < 0 {
		g.log.Warn("bad heartbeat", "err", err)
		return
	}
	if m.Subject != control.HeartbeatSubject(hb.ID) {
		g.log.Warn("heartbeat of one invoker on another's subject: ignored", "id", hb.ID, "subject", m.Subject)
		return
	}
	if hb.Proto != control.Version {
		g.refuse(hb)
		return
	}
	g.mu.Lock()
	delete(g.refused, hb.ID)
	st := g.invokers[hb.ID]
	if st != nil && st.joined && !st.hb.Started.Equal(hb.Started) {
		// The same name, a new process: what ran on the old one is gone. The new one
		// gets a state of its own at once; the old one's packs are given up once the
		// events it sent before it died are applied.
		g.detach(st, "restarted")
		st = nil
	}
	// back: it ran packs of flares that this gateway took up at start.
	back := st != nil && !st.joined
	if st == nil {
		st = &invokerState{id: hb.ID}
		g.invokers[hb.ID] = st
	}
	joined, healed := !st.joined, st.hb.Health != "" && hb.Health == ""
	st.hb, st.seen, st.joined = hb, time.Now(), true
	var placed []*flare
	if joined || healed {
		placed = g.scheduleLocked()
	}
	g.mu.Unlock()
	if joined {
		g.log.Info("invoker joined", "invoker", hb.ID, "host", hb.Host, "slots", hb.Slots, "builtins", len(hb.Builtins))
	}
	if back {
		// Which of those packs still run?
		g.spawn(func() { g.reconcile(hb.ID) })
	}
	g.dispatch(placed)
}

// refuse keeps an invoker of another protocol level apart: it is listed, with the
// reason, and gets nothing.
func (g *Gateway) refuse(hb control.Heartbeat) {
	reason := fmt.Sprintf("speaks protocol level %d; this gateway speaks level %d", hb.Proto, control.Version)
	g.mu.Lock()
	st := g.refused[hb.ID]
	first := st == nil
	if first {
		st = &invokerState{}
		g.refused[hb.ID] = st
	}
	st.hb, st.seen, st.refused = hb, time.Now(), reason
	if old := g.invokers[hb.ID]; old != nil {
		// It was of this level before: the process changed under the same name.
		g.detach(old, fmt.Sprintf("restarted at protocol level %d", hb.Proto))
	}
	g.mu.Unlock()
	if first {
		g.log.Error("invoker refused: another protocol level", "invoker", hb.ID, "host", hb.Host, "proto", hb.Proto, "want", control.Version)
	}
}

func (g *Gateway) onBye(m *nats.Msg) {
	var hb control.Heartbeat
	if err := json.Unmarshal(m.Data, &hb); err != nil || m.Subject != control.ByeSubject(hb.ID) {
		return
	}
	g.mu.Lock()
	delete(g.refused, hb.ID)
	if st := g.invokers[hb.ID]; st != nil && st.hb.Started.Equal(hb.Started) {
		g.detach(st, "left the cluster")
	}
	g.mu.Unlock()
}

// lostAfter is how long the gateway waits for a heartbeat of st.
func (g *Gateway) lostAfter(st *invokerState) time.Duration {
	if !st.joined {
		return max(g.opts.RecoverWait, g.opts.LostAfter)
	}
	if g.opts.LostAfter > 0 {
		return g.opts.LostAfter
	}
	// A floor, because opening a large plugin can hold up an invoker's heartbeats
	// for a moment.
	return max(defaultLostHeartbeats*time.Duration(st.hb.Interval), minLostAfter)
}

// watchInvokers marks lost the invokers that stopped beating, and forgets refused ones
// that went away.
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
			g.mu.Lock()
			for _, st := range g.invokers {
				if now.Sub(st.seen) > g.lostAfter(st) {
					why := "no heartbeat"
					if !st.joined {
						why = "did not come back after the gateway restarted"
					}
					g.detach(st, why)
				}
			}
			for id, st := range g.refused {
				if now.Sub(st.seen) > g.lostAfter(st) {
					delete(g.refused, id)
				}
			}
			g.mu.Unlock()
		}
	}
}

// detach forgets invoker st at once: it gets no new packs and a process that comes back
// under its id starts afresh. The flares with packs on it fail once the gateway has
// applied the events that are in the stream now: those the invoker sent before it went
// may bring its packs' ends. Called with g.mu held.
func (g *Gateway) detach(st *invokerState, why string) {
	if g.invokers[st.id] == st {
		delete(g.invokers, st.id)
	}
	g.spawn(func() {
		if err := g.catchUp(); err != nil {
			g.log.Warn("giving up an invoker's packs without the latest events", "invoker", st.id, "err", err)
		}
		g.lose(st, why)
	})
}

// lose fails the flares that still have packs on the invoker of state st.
func (g *Gateway) lose(st *invokerState, why string) {
	g.mu.Lock()
	var hit []*flare
	for _, f := range g.flares {
		gone := false
		for _, p := range f.placements {
			if p.st == st && !f.packs[p.pack].done {
				// Its slots went with the invoker, and it reports nothing more.
				g.packDone(f, p.pack)
				gone = true
			}
		}
		if gone {
			hit = append(hit, f)
		}
	}
	g.mu.Unlock()
	msg := fmt.Sprintf("invoker %s lost: %s", st.id, why)
	g.log.Warn("invoker lost", "invoker", st.id, "why", why, "flares", len(hit))
	for _, f := range hit {
		g.end(f, endCause{status: control.StatusFailed, err: msg, lost: st.id})
	}
}

func (g *Gateway) listInvokers(w http.ResponseWriter, r *http.Request) {
	info := func(st *invokerState, status string) InvokerInfo {
		reason := st.refused
		if status == invokerReady && st.hb.Health != "" {
			status, reason = invokerUnhealthy, st.hb.Health
		}
		return InvokerInfo{
			ID: st.hb.ID, Status: status, Reason: reason, Proto: st.hb.Proto, Host: st.hb.Host,
			Isolation: st.hb.Isolation, MemoryLimit: st.hb.MemoryLimit,
			Slots: st.hb.Slots, Used: st.used, Packs: st.packs, Backends: st.hb.Backends, Builtins: st.hb.Builtins,
			Build: st.hb.Build, Started: st.hb.Started, LastHeartbeat: st.seen,
		}
	}
	g.mu.Lock()
	out := make([]InvokerInfo, 0, len(g.invokers)+len(g.refused))
	for id, st := range g.invokers {
		i := info(st, invokerReady)
		if !st.joined {
			i = InvokerInfo{ID: id, Status: invokerRecovering, Used: st.used, Packs: st.packs}
		}
		out = append(out, i)
	}
	for _, st := range g.refused {
		out = append(out, info(st, invokerRefused))
	}
	g.mu.Unlock()
	slices.SortFunc(out, func(a, b InvokerInfo) int { return cmp.Compare(a.ID, b.ID) })
	writeJSON(w, http.StatusOK, map[string]any{"invokers": out})
}
