package gateway

import (
	"net/http"
	"slices"
	"time"

	"github.com/burstgo/burst/control"
)

// Placement is gang scheduling: all packs of a flare are placed at once, or none is and
// the flare waits in a FIFO queue. A flare that one invoker holds goes there whole (the
// invoker with the fewest free slots that does), so its packs share a host; otherwise
// each pack goes to the invoker with the fewest free slots that still holds it (best
// fit), which keeps a flare's packs together and leaves the large holes for large packs.
// The queue is strict FIFO: a flare that does not fit
// holds back those behind it, so a large flare is not starved by a stream of small ones.
// A flare of a built-in function goes only to the invokers that advertise it.

// A placement is one pack of a flare on one invoker. st is the invoker's state when the
// pack was placed: a process that replaces it under the same id gets a state of its own,
// so that the old one's packs neither count on the new one's slots nor are lost with it.
type placement struct {
	pack       int
	first, end int // ranks [first, end)
	invoker    string
	st         *invokerState
	// joined are the packs of the request that run as this one, in a joined flare.
	joined []int
	// host is the invoker's host as recorded, for a flare taken up after a restart
	// before its invoker's heartbeat says it again.
	host string
}

// eligible reports whether st may run the flares of s: it has joined, it is healthy,
// and it has the built-in. Called with g.mu held.
func eligible(st *invokerState, s flareSpec) bool {
	return st.live() && (!s.builtin || slices.Contains(st.hb.Builtins, s.function))
}

// capacityError says why the cluster can never run a flare of spec, or nil. Called with
// g.mu held.
func (g *Gateway) capacityError(s flareSpec) error {
	if g.liveInvokers() == 0 {
		return errorf(http.StatusServiceUnavailable, CodeNoInvokers, "no healthy invoker has joined the cluster (see GET /invokers)")
	}
	total, largest := 0, 0
	for _, st := range g.invokers {
		if eligible(st, s) {
			total += st.hb.Slots
			largest = max(largest, st.hb.Slots)
		}
	}
	switch {
	case total == 0:
		return errorf(http.StatusServiceUnavailable, CodeNoCapacity, "no invoker that has joined runs the built-in %s", s.function)
	case s.backend == control.BackendMemory && s.size > largest:
		return errorf(http.StatusServiceUnavailable, CodeNoCapacity,
			"backend memory runs every pack on one invoker, and the largest has %d slots for the flare's %d workers", largest, s.size)
	case s.size > total:
		return errorf(http.StatusServiceUnavailable, CodeNoCapacity,
			"a flare of %d workers is larger than the cluster's %d slots", s.size, total)
	case s.granularity > largest:
		return errorf(http.StatusServiceUnavailable, CodeNoCapacity,
			"a pack of %d workers fits on no invoker: the largest has %d slots", s.granularity, largest)
	}
	// The totals may allow a flare whose packs still cannot be laid out, say three packs
	// of 4 on two invokers of 6: queued, it would wait till its timeout at the head of
	// the FIFO queue and hold back every flare behind it.
	ids, free := g.slots(s, func(st *invokerState) int { return st.hb.Slots })
	if fit(s, ids, free) == nil {
		return errorf(http.StatusServiceUnavailable, CodeNoCapacity,
			"the %d packs of up to %d workers do not fit on the invokers' slots even when all are free", s.packs(), s.granularity)
	}
	return nil
}

// slots returns the ids of the invokers that may run s, sorted so that the same state
// gives the same choice, and n of each. Called with g.mu held.
func (g *Gateway) slots(s flareSpec, n func(*invokerState) int) ([]string, map[string]int) {
	ids := make([]string, 0, len(g.invokers))
	free := make(map[string]int, len(g.invokers))
	for id, st := range g.invokers {
		if eligible(st, s) {
			ids = append(ids, id)
			free[id] = n(st)
		}
	}
	slices.Sort(ids)
	return ids, free
}

// place finds an invoker for every pack of f and reserves their slots, or returns nil
// and reserves nothing. Called with g.mu held.
func (g *Gateway) place(f *flare) []placement {
	ids, free := g.slots(f.spec, (*invokerState).free)
	out := fit(f.spec, ids, free)
	if f.spec.join {
		out = join(out)
	}
	for i := range out {
		st := g.invokers[out[i].invoker]
		st.used += out[i].end - out[i].first
		st.packs++
		out[i].st = st
	}
	return out
}

// fit lays out the packs of s on the invokers ids, taking their slots from free, or
// returns nil if some pack finds no room: every pack on one invoker when one holds the
// whole flare (the one with the least room that does), so that its packs share a host;
// else each pack best fit, spreading the flare only as far as it must go.
func fit(s flareSpec, ids []string, free map[string]int) []placement {
	bestFit := func(need int) string {
		best := ""
		for _, id := range ids {
			if free[id] >= need && (best == "" || free[id] < free[best]) {
				best = id
			}
		}
		return best
	}
	out := make([]placement, s.packs())
	whole := bestFit(s.size)
	if whole == "" && s.backend == control.BackendMemory {
		return nil // memory runs every pack on one invoker
	}
	for p := range out {
		first := p * s.granularity
		end := min(first+s.granularity, s.size)
		id := whole
		if id == "" {
			if id = bestFit(end - first); id == "" {
				return nil
			}
		}
		free[id] -= end - first
		out[p] = placement{pack: p, first: first, end: end, invoker: id}
	}
	return out
}

// join merges the runs of consecutive packs placed on one invoker into one pack each,
// numbered anew; each keeps the requested packs it holds. Packs of one invoker that are
// not consecutive stay apart: a pack holds a range of ranks.
func join(ps []placement) []placement {
	var out []placement
	for _, pl := range ps {
		if n := len(out); n > 0 && out[n-1].invoker == pl.invoker && out[n-1].end == pl.first {
			out[n-1].end = pl.end
			out[n-1].joined = append(out[n-1].joined, pl.pack)
			continue
		}
		pl.joined = []int{pl.pack}
		pl.pack = len(out)
		out = append(out, pl)
	}
	return out
}

// bounds is the first rank of every pack of a joined flare, for its assignments; nil
// when each requested pack runs alone.
func bounds(ps []placement, requested int) []int {
	if len(ps) == requested {
		return nil
	}
	out := make([]int, len(ps))
	for i, pl := range ps {
		out[i] = pl.first
	}
	return out
}

// releasePack gives back the slots of a pack that ended. Called with g.mu held.
func (g *Gateway) releasePack(f *flare, p int) {
	if f.packs[p].ended {
		return
	}
	f.packs[p].ended = true
	f.ended++
	pl := f.placements[p]
	if st := pl.st; st != nil {
		st.used -= pl.end - pl.first
		st.packs--
	}
}

// packDone gives up waiting for a pack's reports: it never ran, or its invoker is gone.
// Called with g.mu held.
func (g *Gateway) packDone(f *flare, p int) {
	g.releasePack(f, p)
	if !f.packs[p].done {
		f.packs[p].done = true
		f.reported++
	}
}

// setPlacements gives f its packs. Called with g.mu held.
func (f *flare) setPlacements(ps []placement) {
	f.placements = ps
	f.packs = make([]packState, len(ps))
	f.rec.Packs = make([]PackRecord, len(ps))
	for i, pl := range ps {
		f.packs[i].want = -1
		f.packs[i].parts = make(map[int]bool)
		f.rec.Packs[i] = PackRecord{Pack: pl.pack, Invoker: pl.invoker, Ranks: [2]int{pl.first, pl.end - 1}, Joined: pl.joined}
		if pl.st != nil && pl.st.hb.Host != "" {
			f.rec.Packs[i].Host = pl.st.hb.Host
		} else {
			f.rec.Packs[i].Host = pl.host
		}
		for r := pl.first; r < pl.end && r < len(f.rec.Workers); r++ {
			f.rec.Workers[r].Pack = pl.pack
		}
	}
}

// scheduleLocked places the flares at the head of the queue while they fit and returns
// them, to be dispatched once g.mu is released. Called with g.mu held.
func (g *Gateway) scheduleLocked() []*flare {
	if g.closing {
		// Shutdown is cancelling every flare: one that a finished flare's slots let in
		// would only start its workers to have them cancelled.
		return nil
	}
	var placed []*flare
	// First come, first placed; a flare whose namespace runs its most workers already
	// waits, and the flares behind it pass it.
	running := g.runningWorkers()
	for i := 0; i < len(g.queue); {
		f := g.queue[i]
		if running != nil && g.workersBound(f, running) {
			i++
			continue
		}
		ps := g.place(f)
		if ps == nil {
			break
		}
		g.queue = slices.Delete(g.queue, i, i+1)
		if running != nil {
			running[f.rec.Namespace] += f.rec.Size
		}
		f.queued = false
		f.setPlacements(ps)
		// None of its events can be in the stream yet: they come after the assignment.
		f.floor = g.applied + 1
		f.rec.Started = time.Now().UTC()
		g.setStatus(f, control.StatusRunning)
		g.notify(f, "placed", f.rec.header())
		placed = append(placed, f)
	}
	return placed
}

// dequeue takes f out of the queue. Called with g.mu held.
func (g *Gateway) dequeue(f *flare) {
	if !f.queued {
		return
	}
	f.queued = false
	if i := slices.Index(g.queue, f); i >= 0 {
		g.queue = slices.Delete(g.queue, i, i+1)
	}
}
