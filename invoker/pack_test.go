package invoker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/burstgo/burst/comm"
)

func TestClassify(t *testing.T) {
	cancelled, cancel := context.WithCancelCause(context.Background())
	cancel(fmt.Errorf("%w: by request", ErrCancelled))
	timedOut, cancel2 := context.WithCancelCause(context.Background())
	cancel2(ErrTimedOut)
	aborted, cancel3 := context.WithCancelCause(context.Background())
	cancel3(fmt.Errorf("%w: rank 3", comm.ErrAborted))
	live := context.Background()
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		want string
	}{
		{"success", live, nil, StatusSucceeded},
		{"own error", live, errors.New("boom"), StatusFailed},
		{"panic", live, &comm.PanicError{Value: "x"}, StatusFailed},
		{"abort echo", live, fmt.Errorf("%w: rank 2: boom", comm.ErrAborted), StatusAborted},
		{"cancelled", cancelled, context.Canceled, StatusCancelled},
		{"timed out", timedOut, context.Canceled, StatusTimedOut},
		{"relayed abort", aborted, context.Canceled, StatusAborted},
		{"own error while cancelled", cancelled, errors.New("boom"), StatusFailed},
	}
	for _, tt := range tests {
		if got := classify(tt.ctx, nil, tt.err); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestBackendsAndResults(t *testing.T) {
	e := newEnv(t, Options{MaxResult: 64})
	tests := []struct {
		name    string
		a       Assignment
		status  string
		says    string
		packs   int
		results bool
	}{
		{"memory, two packs", Assignment{Function: "hello", Size: 4, Granularity: 2, Backend: BackendMemory}, StatusSucceeded, "", 2, true},
		{"jetstream", Assignment{Function: "hello", Size: 2, Granularity: 1, Backend: BackendJetStream}, StatusSucceeded, "", 2, true},
		{"result over the bound", Assignment{Function: "hello", Size: 1, Granularity: 1, Input: json.RawMessage(`"` + strings.Repeat("x", 100) + `"`)},
			StatusFailed, "over the 64-byte bound", 1, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			flare := fmt.Sprintf("b%d", i)
			ch := e.events(flare)
			for p := range tt.packs {
				a := tt.a
				a.Flare, a.Pack, a.Timeout = flare, p, time.Minute
				if r := e.assign(a); !r.OK {
					t.Fatal(r.Error)
				}
			}
			for _, pe := range collect(t, ch, tt.packs) {
				if pe.ended.Status != tt.status || !strings.Contains(pe.ended.Error, tt.says) {
					t.Errorf("ended %s %q, want %s saying %q", pe.ended.Status, pe.ended.Error, tt.status, tt.says)
				}
				for _, w := range pe.workers {
					if (w.Result != nil) != tt.results {
						t.Errorf("worker %d result %s", w.Rank, w.Result)
					}
				}
			}
		})
	}
}
