// Package sleep is a Burst function that only waits: a stand-in for work of a known
// length, to see placement, timeouts and cancellation at work. It is linked into the
// binary as the built-in "sleep", and its plugin directory builds the same code as a
// plugin.
package sleep

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/burstgo/burst/comm"
)

// MaxDuration bounds what one worker may be asked to sleep, so a typo cannot hold slots
// for days; the flare's timeout usually ends it sooner.
const MaxDuration = 24 * time.Hour

// Input is the object form of sleep's input.
type Input struct {
	// Duration is a Go duration string such as "250ms" or "1m30s".
	Duration string `json:"duration"`
}

// Result is what each worker of sleep returns.
type Result struct {
	Rank int `json:"rank"`
	// Slept is the duration asked for, as a Go duration string.
	Slept string `json:"slept"`
}

// Burst sleeps for the duration of its input, {"duration":"250ms"} or just "250ms", and
// answers {"rank":R,"slept":"250ms"}, logging a line when it starts and one when it
// wakes. A missing or null input sleeps for zero. When ctx is cancelled first (flare
// timeout or cancel) it returns ctx's error.
func Burst(ctx context.Context, w *comm.Worker, input json.RawMessage) (any, error) {
	d, err := ParseInput(input)
	if err != nil {
		return nil, err
	}
	w.Logger().Info("sleep: sleeping", "for", d.String())
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		w.Logger().Info("sleep: woke")
		return Result{Rank: w.Rank(), Slept: d.String()}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// ParseInput reads a duration from sleep's input: an object {"duration":"250ms"}, a JSON
// string "250ms", or nothing (zero).
func ParseInput(input json.RawMessage) (time.Duration, error) {
	var s string
	switch {
	case len(input) == 0 || string(input) == "null":
		return 0, nil
	case json.Unmarshal(input, &s) == nil:
	default:
		var in Input
		if err := json.Unmarshal(input, &in); err != nil {
			return 0, fmt.Errorf("sleep: input must be {\"duration\":\"250ms\"} or \"250ms\": %w", err)
		}
		if in.Duration == "" {
			return 0, errors.New("sleep: input has no \"duration\"")
		}
		s = in.Duration
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("sleep: %w", err)
	}
	if d < 0 || d > MaxDuration {
		return 0, fmt.Errorf("sleep: duration %s, want 0 to %s", d, MaxDuration)
	}
	return d, nil
}
