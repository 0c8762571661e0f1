package flaretest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
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

// RunParts joins the ranks' parts in rank order, empty parts and all.
func TestRunParts(t *testing.T) {
	for _, l := range Layouts {
		results, whole, _, err := RunParts(t, l, Memory, func(ctx context.Context, w *comm.Worker) (string, []int, error) {
			part := make([]int, w.Rank()%3) // ranks 0, 3, 6 have none
			for i := range part {
				part[i] = 10*w.Rank() + i
			}
			return fmt.Sprint("rank ", w.Rank()), part, w.Barrier(ctx)
		})
		if err != nil {
			t.Fatalf("%v: %v", l, err)
		}
		var want []int
		for r := range l.Size {
			for i := range r % 3 {
				want = append(want, 10*r+i)
			}
			if results[r] != fmt.Sprint("rank ", r) {
				t.Errorf("%v: result %d is %q", l, r, results[r])
			}
		}
		if !slices.Equal(whole, want) {
			t.Errorf("%v: joined %v, want %v", l, whole, want)
		}
	}
	_, _, _, err := RunParts(t, Layout{Size: 2, Granularity: 1}, Memory, func(ctx context.Context, w *comm.Worker) (int, []byte, error) {
		if w.Rank() == 1 {
			return 0, nil, errors.New("boom")
		}
		return 0, nil, w.Barrier(ctx)
	})
	if err == nil || !strings.Contains(err.Error(), "rank 1: boom") {
		t.Errorf("got %v, want rank 1's error", err)
	}
}

// echo is a function that answers its rank and its input.
func echo(_ context.Context, w *comm.Worker, input json.RawMessage) (any, error) {
	if string(input) == "fail" {
		return nil, errors.New("bad input")
	}
	return fmt.Sprintf("%d:%s", w.Rank(), input), nil
}

func TestBurst(t *testing.T) {
	l := Layout{Size: 3, Granularity: 2}
	tests := []struct {
		name string
		run  func() ([]any, error)
		want []any
		err  string
	}{
		{"one input", func() ([]any, error) { return Burst(t, l, echo, `{"x":1}`) }, []any{`0:{"x":1}`, `1:{"x":1}`, `2:{"x":1}`}, ""},
		{"input per rank", func() ([]any, error) {
			return BurstEach(t, l, echo, func(r int) string { return fmt.Sprint(r * r) })
		}, []any{"0:0", "1:1", "2:4"}, ""},
		{"failure", func() ([]any, error) {
			return BurstEach(t, l, echo, func(r int) string { return []string{"1", "fail", "2"}[r] })
		}, nil, "rank 1: bad input"},
	}
	for _, tt := range tests {
		got, err := tt.run()
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: got %v, want an error with %q", tt.name, err, tt.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("%s: got %v, %v; want %v", tt.name, got, err, tt.want)
		}
	}
}
