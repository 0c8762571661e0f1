package sleep

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/burstgo/burst/comm"
)

func TestParseInput(t *testing.T) {
	tests := []struct {
		input   string
		want    time.Duration
		wantErr string
	}{
		{`{"duration":"250ms"}`, 250 * time.Millisecond, ""},
		{`"1m30s"`, 90 * time.Second, ""},
		{`"0s"`, 0, ""},
		{``, 0, ""},
		{`null`, 0, ""},
		{`"24h"`, MaxDuration, ""},
		{`"24h1ns"`, 0, "want 0 to 24h0m0s"},
		{`"-5ms"`, 0, "want 0 to"},
		{`"250"`, 0, "missing unit"},
		{`{"duration":5}`, 0, "input must be"},
		{`{"duration":""}`, 0, `no "duration"`},
		{`{"wait":"1s"}`, 0, `no "duration"`},
		{`[1]`, 0, "input must be"},
		{`{`, 0, "input must be"},
	}
	for _, tt := range tests {
		got, err := ParseInput(json.RawMessage(tt.input))
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseInput(%s) = %v, %v; want an error saying %q", tt.input, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseInput(%s) = %v, %v; want %v", tt.input, got, err, tt.want)
		}
	}
}

// runOne runs Burst on a flare of one worker.
func runOne(t *testing.T, ctx context.Context, input string) (any, error) {
	t.Helper()
	g, err := comm.NewGroup(ctx, comm.Config{Flare: "sleep-test", Size: 1, Granularity: 1, Transport: comm.NewMemoryTransport()})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	var result any
	err = g.Run(ctx, func(ctx context.Context, w *comm.Worker) error {
		r, err := Burst(ctx, w, json.RawMessage(input))
		result = r
		return err
	})
	return result, err
}

func TestBurst(t *testing.T) {
	got, err := runOne(t, t.Context(), `{"duration":"3ms"}`)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Result{Rank: 0, Slept: "3ms"}); got != want {
		t.Errorf("answered %+v, want %+v", got, want)
	}
}

func TestBurstCancelled(t *testing.T) {
	tests := []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"cancel", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(t.Context())
			time.AfterFunc(10*time.Millisecond, cancel)
			return ctx, cancel
		}, context.Canceled},
		{"timeout", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(t.Context(), 10*time.Millisecond)
		}, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := tt.ctx()
			defer cancel()
			got, err := runOne(t, ctx, `"1h"`)
			if !errors.Is(err, tt.want) || got != nil {
				t.Fatalf("answered %v, %v; want nil, %v", got, err, tt.want)
			}
		})
	}
}
