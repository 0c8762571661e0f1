package invoker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/burstgo/burst/comm"
	"github.com/burstgo/burst/control"
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
		want control.Status
	}{
		{"success", live, nil, control.StatusSucceeded},
		{"own error", live, errors.New("boom"), control.StatusFailed},
		{"panic", live, &comm.PanicError{Value: "x"}, control.StatusFailed},
		{"abort echo", live, fmt.Errorf("%w: rank 2: boom", comm.ErrAborted), control.StatusAborted},
		{"cancelled", cancelled, context.Canceled, control.StatusCancelled},
		{"timed out", timedOut, context.Canceled, control.StatusTimedOut},
		{"relayed abort", aborted, context.Canceled, control.StatusAborted},
		{"own error while cancelled", cancelled, errors.New("boom"), control.StatusFailed},
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
		a       control.Assignment
		status  control.Status
		says    string
		packs   int
		results bool
	}{
		{"memory, two packs", control.Assignment{Function: "hello", Size: 4, Granularity: 2, Backend: control.BackendMemory}, control.StatusSucceeded, "", 2, true},
		{"jetstream", control.Assignment{Function: "hello", Size: 2, Granularity: 1, Backend: control.BackendJetStream}, control.StatusSucceeded, "", 2, true},
		{"result over the bound", control.Assignment{Function: "hello", Size: 1, Granularity: 1, Input: json.RawMessage(`"` + strings.Repeat("x", 100) + `"`)},
			control.StatusFailed, "over the 64-byte bound", 1, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			flare := fmt.Sprintf("b%d", i)
			ch := e.events(flare)
			for p := range tt.packs {
				a := tt.a
				a.Flare, a.Pack, a.Timeout = flare, p, control.Duration(time.Minute)
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

func TestFlushLogsUnderPayloadLimit(t *testing.T) {
	e := newEnv(t, Options{})
	attrs := func(n int) map[string]string {
		m := make(map[string]string, n)
		for i := range n {
			m["k"+strconv.Itoa(i)] = strings.Repeat("v", maxLogValue)
		}
		return m
	}
	tests := []struct {
		name    string
		lines   int
		attrs   int
		kept    int
		dropped int
	}{
		{"a few lines", 10, 1, 10, 0},
		// 1,000 lines of 4 KiB and 5 KiB of attributes: 9 MiB, over the server's 8 MiB.
		{"more than one message holds", 1000, 5, 1000, 0},
		// One line whose attributes alone are over the limit: dropped, and counted.
		{"a line over the limit", 1, 10000, 0, 1},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			flare := "logs" + strconv.Itoa(i)
			ch := e.events(flare)
			a := control.Assignment{Flare: flare}
			p := &packRun{a: a, log: slog.New(slog.DiscardHandler), report: e.inv.packEnv(a).report,
				logs: newLogSink(0, 10, tt.lines, 0, slog.LevelInfo, nil), maxEvent: int(e.nc.MaxPayload()) / 4}
			for r := range tt.lines {
				p.logs.add(control.LogLine{Rank: r % 10, Level: "INFO", Message: strings.Repeat("m", maxLogMessage), Attrs: attrs(tt.attrs)})
			}
			p.flushLogs()
			kept, dropped := 0, 0
			timeout := time.After(20 * time.Second)
			for kept+dropped < tt.lines {
				select {
				case ev := <-ch:
					kept += len(ev.Lines)
					dropped += ev.Dropped
				case <-timeout:
					t.Fatalf("%d lines and %d dropped reached the gateway, want %d and %d", kept, dropped, tt.kept, tt.dropped)
				}
			}
			if kept != tt.kept || dropped != tt.dropped {
				t.Errorf("%d lines and %d dropped reached the gateway, want %d and %d", kept, dropped, tt.kept, tt.dropped)
			}
		})
	}
}
