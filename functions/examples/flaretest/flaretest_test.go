package flaretest

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/burstgo/burst/comm"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRun(t *testing.T) {
	backends := []struct {
		name string
		b    Backend
	}{{"memory", Memory}, {"nats", NATS(t)}}
	for _, be := range backends {
		for _, l := range Layouts {
			results, c, err := Run(t, l, be.b, func(ctx context.Context, w *comm.Worker) (int64, error) {
				sum, err := comm.AllReduceSlice(ctx, w, []int64{int64(w.Rank())}, comm.Sum[int64])
				if err != nil {
					return 0, err
				}
				return sum[0]*100 + int64(w.Rank()), nil
			})
			if err != nil {
				t.Fatalf("%s %v: %v", be.name, l, err)
			}
			want := int64(l.Size * (l.Size - 1) / 2)
			for r, v := range results {
				if v != want*100+int64(r) {
					t.Errorf("%s %v: rank %d answered %d", be.name, l, r, v)
				}
			}
			if packs := (l.Size + l.Granularity - 1) / l.Granularity; (c.RemoteMessages == 0) != (packs == 1) {
				t.Errorf("%s %v: %d remote messages for %d packs", be.name, l, c.RemoteMessages, packs)
			}
		}
	}
}

// A failing worker fails the run with its own error, not a peer's abort, and nobody
// hangs.
func TestRunFailure(t *testing.T) {
	for _, b := range []Backend{Memory, NATS(t)} {
		_, _, err := Run(t, Layout{Size: 4, Granularity: 2}, b, func(ctx context.Context, w *comm.Worker) (int, error) {
			if w.Rank() == 3 {
				return 0, errors.New("boom")
			}
			return 0, w.Barrier(ctx)
		})
		if err == nil || !strings.Contains(err.Error(), "rank 3: boom") {
			t.Errorf("got %v, want rank 3's error", err)
		}
	}
}
