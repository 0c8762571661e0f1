package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/burstgo/burst/control"
)

// dispatch sends the placed flares' assignments, each flare in a goroutine of its own.
func (g *Gateway) dispatch(placed []*flare) {
	for _, f := range placed {
		if !g.spawn(func() { g.assign(f) }) {
			// Shutdown waits already: the flare was cancelled, or is left to the next
			// gateway, which gives up packs that never reached an invoker.
			close(f.placedStored)
		}
	}
}

// assign stores f's record with its placement, then sends every pack to its invoker,
// at once, and ends the flare if one could not be set up. The record comes first, so
// that a gateway that restarts knows where the packs of every running flare are.
func (g *Gateway) assign(f *flare) {
	ctx, cancel := context.WithTimeout(g.base, 30*time.Second)
	err := g.persist(ctx, f)
	cancel()
	close(f.placedStored)
	g.mu.Lock()
	if err != nil || f.cause != nil {
		// No invoker heard of it yet, and none needs to.
		for p := range f.packs {
			g.packDone(f, p)
		}
		g.mu.Unlock()
		if err != nil {
			g.end(f, endCause{status: control.StatusFailed, err: fmt.Sprintf("its record could not be stored: %v", err)})
		}
		g.finish(f)
		return
	}
	g.mu.Unlock()
	if len(f.placements) == 1 {
		g.assignPack(f, f.placements[0])
		return
	}
	if f.spec.backend == control.BackendJetStream {
		// The packs' connections may not make the flare's stream themselves (bus.go).
		ctx, cancel := context.WithTimeout(g.base, g.opts.AssignTimeout)
		err := g.jetstream.StartFlare(ctx, f.rec.ID)
		cancel()
		if err != nil {
			g.mu.Lock()
			for p := range f.packs {
				g.packDone(f, p)
			}
			g.mu.Unlock()
			g.end(f, endCause{status: control.StatusFailed, err: fmt.Sprintf("its stream could not be made: %v", err)})
			g.finish(f)
			return
		}
	}
	done := make(chan struct{}, len(f.placements))
	for _, pl := range f.placements {
		if !g.spawn(func() {
			g.assignPack(f, pl)
			done <- struct{}{}
		}) {
			done <- struct{}{}
		}
	}
	for range f.placements {
		<-done
	}
}

// assignPack sends one pack to its invoker and ends the flare if it was not set up.
func (g *Gateway) assignPack(f *flare, pl placement) {
	a := control.Assignment{
		Proto: control.Version, Flare: f.rec.ID, Function: f.spec.function, Digest: f.digest, Size: f.spec.size,
		Granularity: f.spec.granularity, Pack: pl.pack, Backend: f.spec.backend,
		Timeout: control.Duration(time.Until(f.deadline)), Input: f.spec.input, Limits: f.spec.limits,
		Credential: g.credential(f.rec.ID), LaneSecret: g.laneSecret(f.rec.ID), Namespace: f.rec.Namespace,
		Bounds: bounds(f.placements, f.spec.packs()),
	}
	if f.spec.inputs != nil {
		a.Inputs = f.spec.inputs[pl.first:pl.end]
	}
	err := g.request(a, pl.invoker)
	if err == nil {
		return
	}
	g.mu.Lock()
	if !f.finishing {
		// The pack never ran: its slots are free now, and it will report nothing.
		g.packDone(f, pl.pack)
	}
	all := f.reported == len(f.placements)
	g.mu.Unlock()
	g.end(f, endCause{status: control.StatusFailed, err: fmt.Sprintf("pack %d on invoker %s: %v", pl.pack, pl.invoker, err)})
	if all {
		// The flare was ended for another cause meanwhile, and this was the last pack.
		g.finish(f)
	}
}

// request sends a to invoker id and waits for its answer.
func (g *Gateway) request(a control.Assignment, id string) error {
	left := time.Duration(a.Timeout)
	if left <= 0 {
		return errors.New("no time left")
	}
	b, err := json.Marshal(a)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(g.base, min(g.opts.AssignTimeout, left))
	defer cancel()
	m, err := g.nc.RequestWithContext(ctx, control.AssignSubject(id), b)
	if errors.Is(err, nats.ErrNoResponders) {
		return errors.New("the invoker is gone")
	}
	if err != nil {
		return err
	}
	var rep control.AssignReply
	if err := json.Unmarshal(m.Data, &rep); err != nil {
		if desc := m.Header.Get(micro.ErrorHeader); desc != "" {
			return errors.New(desc)
		}
		return fmt.Errorf("bad reply: %w", err)
	}
	if !rep.OK {
		return errors.New(rep.Error)
	}
	return nil
}
