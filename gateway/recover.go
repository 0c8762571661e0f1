package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/burstgo/burst/control"
)

// A gateway that starts on the store of one that stopped takes up its flares:
//
//   - A flare recorded as running has its packs on invokers, which may still run them:
//     its state is rebuilt from the record and from its events in the stream, and it goes
//     on as if the gateway had never stopped. Each invoker that ran one of its packs is
//     awaited for Options.RecoverWait; when it beats again, the gateway asks it which
//     packs it still runs (reconcile), and gives up those it no longer has.
//   - A flare recorded as queued never reached an invoker, and its input was not kept:
//     it is recorded as failed.

// recoverFlares reads the stored flares into the index, takes up the ones that an
// earlier gateway left queued or running, and returns the stream sequence of the last
// event it has read.
func (g *Gateway) recoverFlares(ctx context.Context) (uint64, error) {
	stored, err := g.store.allFlares(ctx)
	if err != nil {
		return 0, err
	}
	var running []Record
	now := time.Now().UTC()
	for _, sf := range stored {
		rec := sf.Record
		switch {
		case rec.Status.Final():
		case rec.Status == control.StatusRunning && len(rec.Packs) > 0:
			hdr := rec.header()
			hdr.Input = sf.Input
			running = append(running, hdr)
			continue
		default:
			rec.Status, rec.Ended = control.StatusFailed, now
			rec.Error = "the gateway stopped while the flare was queued, and a queued flare's input is not kept"
			rec.Workers = make([]WorkerRecord, rec.Size)
			for r := range rec.Workers {
				rec.Workers[r] = WorkerRecord{Rank: r, Pack: r / max(rec.Granularity, 1), Status: control.StatusFailed, Error: rec.Error}
			}
			if err := g.store.putFlare(ctx, &rec, true); err != nil {
				return 0, fmt.Errorf("gateway: record the queued flare %s as failed: %w", rec.ID, err)
			}
			g.log.Warn("flare was queued when its gateway stopped: recorded as failed", "flare", rec.ID)
		}
		g.index.put(rec.header())
		g.metrics.flares.WithLabelValues(string(rec.Status)).Inc()
	}
	if len(stored) > 0 {
		g.log.Info("flare records read back", "flares", len(stored), "taken_up", len(running))
	}
	g.mu.Lock()
	for _, rec := range running {
		g.takeUp(rec)
	}
	g.mu.Unlock()
	last, err := g.replay(ctx)
	if err != nil {
		g.stopTimers()
		return 0, err
	}
	// A flare whose packs all reported while the gateway was away ends now; the others
	// go on, each with its timer from now on: one past its deadline ends at once, after
	// its events were read.
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, f := range g.flares {
		if f.reported == len(f.placements) {
			g.spawn(func() { g.finish(f) })
		} else {
			g.startTimer(f)
		}
	}
	return last, nil
}

// stopTimers stops the timers of every flare in flight.
func (g *Gateway) stopTimers() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, f := range g.flares {
		f.stopTimers()
	}
}

// takeUp rebuilds a running flare from its record. Called with g.mu held.
func (g *Gateway) takeUp(rec Record) {
	rec.Namespace = recordNamespace(rec.Namespace)
	spec := flareSpec{
		function: rec.Function, size: rec.Size, granularity: rec.Granularity,
		timeout: time.Duration(rec.Timeout), backend: rec.Backend, join: rec.Join,
	}
	f := newFlare(spec, rec)
	f.recovered = true
	ps := make([]placement, len(rec.Packs))
	for i, p := range rec.Packs {
		// Its invoker is awaited: it gets no new packs until it beats, and these
		// slots are taken.
		st := g.invokers[p.Invoker]
		if st == nil {
			st = &invokerState{id: p.Invoker, seen: time.Now()}
			g.invokers[p.Invoker] = st
		}
		ps[i] = placement{pack: p.Pack, first: p.Ranks[0], end: p.Ranks[1] + 1, invoker: p.Invoker, st: st, joined: p.Joined, host: p.Host}
		st.used += ps[i].end - ps[i].first
		st.packs++
	}
	f.setPlacements(ps)
	f.version, f.written = 1, 1 // as stored
	close(f.placedStored)
	g.flares[rec.ID] = f
	g.setStatus(f, control.StatusRunning)
}

// replay applies the events in the stream to the flares taken up: those they sent
// before the gateway stopped, and those that waited for it. It returns the sequence it
// read up to: the live reader goes on after it.
func (g *Gateway) replay(ctx context.Context) (uint64, error) {
	info, err := g.store.events.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("gateway: events stream: %w", err)
	}
	first, last := info.State.FirstSeq, info.State.LastSeq
	g.mu.Lock()
	for _, f := range g.flares {
		// Their events are among those in the stream now, or come later.
		f.floor = first
	}
	g.mu.Unlock()
	if info.State.Msgs == 0 {
		return last, nil
	}
	c, err := g.store.events.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return 0, fmt.Errorf("gateway: read the events stream: %w", err)
	}
	applied := 0
	for seq := uint64(0); seq < last; {
		batch, err := c.FetchNoWait(1024)
		if err != nil {
			return 0, fmt.Errorf("gateway: read the events stream: %w", err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			meta, err := m.Metadata()
			if err != nil {
				continue
			}
			seq = meta.Sequence.Stream
			var ev control.Event
			if json.Unmarshal(m.Data(), &ev) != nil {
				continue
			}
			g.apply(ev, seq)
			applied++
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return 0, fmt.Errorf("gateway: read the events stream: %w", err)
		}
		if n == 0 {
			break // the rest was purged meanwhile
		}
	}
	g.log.Info("events read again", "events", applied, "up_to", last)
	return last, nil
}

// reconcile asks invoker id, back after the gateway started, which packs it still runs,
// and gives up the packs of flares taken up at start that it no longer has: they were
// lost with a restart of the invoker while the gateway was away.
func (g *Gateway) reconcile(id string) {
	var rep control.PacksReply
	var err error
	for attempt := range 3 {
		if attempt > 0 {
			select {
			case <-g.stop:
				return
			case <-time.After(time.Second):
			}
		}
		if err = g.askPacks(id, &rep); err == nil {
			break
		}
	}
	if err != nil {
		// Not an answer that it runs nothing: its packs are left to its heartbeats and
		// the flares' timeouts.
		g.log.Warn("invoker did not say which packs it runs", "invoker", id, "err", err)
		return
	}
	// What the invoker had delivered when it answered is in the stream: a pack that
	// ended meanwhile must count as ended.
	if err := g.catchUp(); err != nil {
		g.log.Warn("reconciling an invoker without the latest events", "invoker", id, "err", err)
	}
	runs := make(map[control.PackRef]bool, len(rep.Packs))
	for _, p := range rep.Packs {
		runs[p] = true
	}
	g.mu.Lock()
	var hit []*flare
	for _, f := range g.flares {
		if !f.recovered {
			continue
		}
		gone := false
		for _, pl := range f.placements {
			if pl.invoker == id && !f.packs[pl.pack].done && !runs[control.PackRef{Flare: f.rec.ID, Pack: pl.pack}] {
				g.packDone(f, pl.pack)
				gone = true
			}
		}
		if gone {
			hit = append(hit, f)
		}
	}
	g.mu.Unlock()
	for _, f := range hit {
		g.end(f, endCause{status: control.StatusFailed, lost: id,
			err: fmt.Sprintf("invoker %s lost: it no longer runs the flare's packs (it restarted while the gateway was away)", id)})
	}
}

func (g *Gateway) askPacks(id string, rep *control.PacksReply) error {
	ctx, cancel := context.WithTimeout(g.base, 5*time.Second)
	defer cancel()
	m, err := g.nc.RequestWithContext(ctx, control.PacksSubject(id), nil)
	if err != nil {
		return err
	}
	return json.Unmarshal(m.Data, rep)
}

// catchUp waits until the gateway has applied every event that is in the stream now.
func (g *Gateway) catchUp() error {
	ctx, cancel := context.WithTimeout(g.base, 30*time.Second)
	defer cancel()
	info, err := g.store.events.Info(ctx)
	if err != nil {
		return err
	}
	for {
		g.mu.Lock()
		caught := g.applied >= info.State.LastSeq
		g.mu.Unlock()
		if caught {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}
