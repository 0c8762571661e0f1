package flaretest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/burstgo/burst/cluster"
	"github.com/burstgo/burst/comm"
)

// Timeout bounds one flare, so that a bug fails a test instead of hanging it.
const Timeout = 10 * time.Minute

// A Layout is a flare's shape: its burst size and granularity.
type Layout struct{ Size, Granularity int }

func (l Layout) String() string { return fmt.Sprintf("size=%d,g=%d", l.Size, l.Granularity) }

// Layouts are the shapes the examples' acceptance tests run on: sizes 1, 4 and 8 with
// granularities 1, 2 and the size.
var Layouts = []Layout{{1, 1}, {4, 1}, {4, 2}, {4, 4}, {8, 1}, {8, 2}, {8, 8}}

// A Backend gives the transport of each of a flare's packs.
type Backend func(tb testing.TB, packs int) []comm.Transport

// Memory puts every pack of a flare on one memory transport.
func Memory(_ testing.TB, packs int) []comm.Transport {
	t := comm.NewMemoryTransport()
	ts := make([]comm.Transport, packs)
	for i := range ts {
		ts[i] = t
	}
	return ts
}

// NATS starts an embedded NATS server for the test and returns a backend that gives
// every pack its own in-process connection to it. The server and the connections are
// closed when the test ends.
func NATS(tb testing.TB) Backend {
	tb.Helper()
	srv, err := cluster.RunServer(cluster.ServerOptions{Port: -1})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	return func(tb testing.TB, packs int) []comm.Transport {
		ts := make([]comm.Transport, packs)
		for i := range ts {
			nc, err := cluster.ConnectInProcess(srv)
			if err != nil {
				tb.Fatal(err)
			}
			tb.Cleanup(nc.Close)
			ts[i] = comm.NewNATSTransport(nc)
		}
		return ts
	}
}

var flares atomic.Int64

// Run runs fn on every worker of a flare of layout l over backend b and returns the
// results in rank order, the traffic of every worker added up, and nil if every worker
// succeeded, else the first failure in rank order that caused the abort.
func Run[T any](tb testing.TB, l Layout, b Backend, fn func(ctx context.Context, w *comm.Worker) (T, error)) ([]T, comm.Counters, error) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	cfg := comm.Config{Flare: fmt.Sprintf("flaretest-%d", flares.Add(1)), Size: l.Size, Granularity: l.Granularity}
	transports := b(tb, cfg.Packs())
	packs := make([]*comm.Pack, 0, len(transports))
	defer func() {
		for i, p := range packs {
			p.Close()
			transports[i].EndFlare(context.Background(), cfg.Flare)
		}
	}()
	for i, t := range transports {
		cfg.Transport = t
		p, err := comm.NewPack(ctx, cfg, i)
		if err != nil {
			tb.Fatal(err)
		}
		packs = append(packs, p)
	}
	out := make([]T, l.Size)
	errs := make([][]error, len(packs))
	var wg sync.WaitGroup
	for i, p := range packs {
		wg.Go(func() {
			errs[i] = p.Run(ctx, func(ctx context.Context, w *comm.Worker) error {
				v, err := fn(ctx, w)
				out[w.Rank()] = v
				return err
			})
		})
	}
	wg.Wait()
	var c comm.Counters
	for _, p := range packs {
		c = c.Add(p.Counters())
	}
	var first error
	for i, pe := range errs {
		for j, err := range pe {
			if err == nil {
				continue
			}
			err = fmt.Errorf("rank %d: %w", i*l.Granularity+j, err)
			if !errors.Is(err, comm.ErrAborted) && !errors.Is(err, comm.ErrClosed) {
				return out, c, err
			}
			if first == nil {
				first = err
			}
		}
	}
	return out, c, first
}

// RunParts runs fn as Run does, fn answering a result and the rank's part of a whole
// (its share of a vector, its sorted records), and returns the results in rank order,
// the parts joined in rank order, the traffic and the error of Run.
func RunParts[R, E any](tb testing.TB, l Layout, b Backend, fn func(ctx context.Context, w *comm.Worker) (R, []E, error)) ([]R, []E, comm.Counters, error) {
	tb.Helper()
	type out struct {
		res  R
		part []E
	}
	outs, c, err := Run(tb, l, b, func(ctx context.Context, w *comm.Worker) (out, error) {
		res, part, err := fn(ctx, w)
		return out{res, part}, err
	})
	results := make([]R, len(outs))
	var whole []E
	for r, o := range outs {
		results[r] = o.res
		whole = append(whole, o.part...)
	}
	return results, whole, c, err
}

// A Func is a function's entry point, the Burst of the function ABI.
type Func func(ctx context.Context, w *comm.Worker, input json.RawMessage) (any, error)

// Burst runs fn on a flare of layout l over the memory transport as the platform runs a
// function, every rank with the same input, and returns what Run does but the traffic.
func Burst(tb testing.TB, l Layout, fn Func, input string) ([]any, error) {
	tb.Helper()
	return BurstEach(tb, l, fn, func(int) string { return input })
}

// BurstEach is Burst with an input per rank: rank r gets input(r).
func BurstEach(tb testing.TB, l Layout, fn Func, input func(rank int) string) ([]any, error) {
	tb.Helper()
	results, _, err := Run(tb, l, Memory, func(ctx context.Context, w *comm.Worker) (any, error) {
		return fn(ctx, w, json.RawMessage(input(w.Rank())))
	})
	return results, err
}
