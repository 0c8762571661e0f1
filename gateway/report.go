package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/burstgo/burst/control"
)

// The invokers' events reach the gateway through the JetStream stream
// control.EventStream: an event waits in the stream while the gateway is away, and a
// gateway that starts reads the stream from its first event to its last (recover.go),
// then reads on, live, with an ordered consumer from the next sequence. An ordered
// consumer delivers every event in stream order exactly once: when a connection breaks
// or the server restarts, it notices the gap and starts again after the last event it
// delivered, so nothing in flight is lost. Each event is applied once: a flare remembers
// the stream sequence of the last event it applied, and counts each workers event of a
// pack once by its part number. Housekeeping purges the stream below the events that a
// flare in flight may still need.

// readEvents reads the events stream, live, from sequence from on.
func (g *Gateway) readEvents(ctx context.Context, from uint64) error {
	cons, err := g.store.events.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{control.EventSubjects},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    from,
	})
	if err != nil {
		return fmt.Errorf("gateway: read the events stream: %w", err)
	}
	cc, err := cons.Consume(g.onEvent, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		g.log.Warn("reading events", "err", err)
	}))
	if err != nil {
		return fmt.Errorf("gateway: read the events stream: %w", err)
	}
	g.consumer = cc
	return nil
}

func (g *Gateway) onEvent(m jetstream.Msg) {
	if !g.track() {
		return // Shutdown waits: the next gateway reads it again
	}
	defer g.tasks.Done()
	meta, err := m.Metadata()
	if err != nil {
		g.log.Warn("event without metadata", "err", err)
		return
	}
	var ev control.Event
	if err := json.Unmarshal(m.Data(), &ev); err != nil {
		g.log.Warn("bad event", "subject", m.Subject(), "err", err)
		return
	}
	if m.Subject() != control.EventSubject(ev.Flare, ev.Invoker) {
		// An invoker publishes only its own packs' events on its own subject; apply
		// takes them only from the invoker the pack is placed on.
		g.log.Warn("event on another subject than its flare's and invoker's: ignored", "subject", m.Subject(),
			"flare", ev.Flare, "invoker", ev.Invoker)
		g.mu.Lock()
		g.applied = max(g.applied, meta.Sequence.Stream)
		g.mu.Unlock()
		return
	}
	g.apply(ev, meta.Sequence.Stream)
}

// apply applies an invoker's event, the one at sequence seq of the events stream, to its
// flare.
func (g *Gateway) apply(ev control.Event, seq uint64) {
	g.mu.Lock()
	g.applied = max(g.applied, seq)
	f := g.flares[ev.Flare]
	if f == nil || f.finishing || seq <= f.last || ev.Pack < 0 || ev.Pack >= len(f.placements) ||
		f.placements[ev.Pack].invoker != ev.Invoker || f.packs[ev.Pack].done {
		g.mu.Unlock()
		return
	}
	f.last = seq
	ps := &f.packs[ev.Pack]
	var relay *control.Cancel
	switch ev.Kind {
	case control.EventStarted:
		g.packStarted(f, ev)
	case control.EventWorkers:
		g.workersEnded(f, ev)
		if !ps.parts[ev.Part] {
			ps.parts[ev.Part] = true
			ps.reports++
		}
	case control.EventLogs:
		// Watchers get the lines the record keeps, not those over its bounds.
		ev.Lines = g.addLogs(f, ev.Lines, ev.Dropped)
	case control.EventEnded:
		g.packStarted(f, ev)
		g.workersEnded(f, ev)
		if !ps.ended { // a second delivery is counted once
			f.addComm(ev)
		}
		g.releasePack(f, ev.Pack)
		ps.want = ev.Reports
		if ev.Status != control.StatusSucceeded && f.ended < len(f.placements) && !f.relayed && f.cause == nil {
			// comm's abort reaches only the packs that listen already; a pack set up
			// later would wait for the failed one till the timeout.
			f.relayed = true
			relay = &control.Cancel{Flare: f.rec.ID, Status: control.StatusFailed, Reason: ev.Error}
		}
	default:
		g.log.Warn("unknown event", "type", ev.Kind, "flare", ev.Flare)
	}
	if ps.ended && !ps.done && ps.want >= 0 && ps.reports >= ps.want {
		ps.done = true
		f.reported++
	}
	g.notify(f, string(ev.Kind), ev)
	all := f.reported == len(f.placements)
	var placed []*flare
	if ev.Kind == control.EventEnded {
		placed = g.scheduleLocked()
	}
	g.mu.Unlock()
	g.dispatch(placed)
	if relay != nil {
		g.sendCancel(*relay)
	}
	if all {
		g.finish(f)
	}
}

// packStarted notes the start of a pack's workers, once: from its started event, or
// from its ended event if it ended before it sent one. Called with g.mu held.
func (g *Gateway) packStarted(f *flare, ev control.Event) {
	ps := &f.packs[ev.Pack]
	if ps.started {
		return
	}
	ps.started = true
	f.started++
	pl := f.placements[ev.Pack]
	n := 0
	for _, w := range ev.Workers {
		if w.Rank < pl.first || w.Rank >= pl.end || w.Start.IsZero() {
			continue
		}
		r := &f.rec.Workers[w.Rank]
		r.Start = w.Start
		if r.Status == control.StatusQueued {
			r.Status = control.StatusRunning
		}
		n++
	}
	g.metrics.workerStarts.Add(float64(n))
	if f.started == len(f.placements) {
		last := f.rec.Created
		for _, w := range f.rec.Workers {
			if w.Start.After(last) {
				last = w.Start
			}
		}
		g.metrics.startup.Observe(last.Sub(f.rec.Created).Seconds())
	}
}

// workersEnded records the ends the event reports and keeps the results, which leave
// the event: they are for GET .../results, not for the event stream. Called with g.mu
// held.
func (g *Gateway) workersEnded(f *flare, ev control.Event) {
	pl := f.placements[ev.Pack]
	for i, w := range ev.Workers {
		if w.Rank < pl.first || w.Rank >= pl.end || !w.Status.Final() && w.Status != control.StatusAborted {
			continue
		}
		r := &f.rec.Workers[w.Rank]
		r.Status, r.End, r.Error = w.Status, w.End, w.Error
		if !w.Start.IsZero() {
			r.Start = w.Start
		}
		f.results[w.Rank] = w.Result
		ev.Workers[i].Result = nil
	}
}

// housekeeping purges the events that no flare in flight needs any more and forgets the
// index's flares past the retention, every second.
func (g *Gateway) housekeeping() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var purged uint64
	for {
		select {
		case <-g.stop:
			return
		case <-t.C:
		}
		g.mu.Lock()
		floor := g.applied + 1
		for _, f := range g.flares {
			if !f.queued {
				floor = min(floor, f.floor)
			}
		}
		g.mu.Unlock()
		if floor > purged+1 {
			ctx, cancel := context.WithTimeout(g.base, 10*time.Second)
			err := g.store.events.Purge(ctx, jetstream.WithPurgeSequence(floor))
			cancel()
			if err != nil {
				g.log.Warn("events not purged", "below", floor, "err", err)
			} else {
				purged = floor - 1
			}
		}
		g.index.expire(time.Now().Add(-g.opts.Retention))
	}
}

// addComm adds a pack's communication, from its ended event, to the flare's record.
func (f *flare) addComm(ev control.Event) {
	if ev.Comm != nil {
		f.rec.Comm = f.rec.Comm.Add(*ev.Comm)
	}
	if slices.ContainsFunc(ev.Traffic, func(v int64) bool { return v > 0 }) {
		if f.rec.Traffic == nil {
			f.rec.Traffic = newTraffic(len(f.placements))
		}
		f.rec.Traffic.add(ev.Pack, len(f.placements), ev.Traffic)
	}
}
