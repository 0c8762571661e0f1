// Command pingpong is a benchmark plugin for two workers in two packs: rank 0 sends
// rank 1 a message of "bytes" bytes and rank 1 answers with 8 bytes, "rounds" times;
// rank 1 answers the mean time of a round, in nanoseconds, measured inside the flare.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/burstgo/burst/comm"
)

// Input is the size of a message and how many rounds to time.
type Input struct {
	Bytes  int `json:"bytes"`
	Rounds int `json:"rounds"`
}

// Burst plays its side of the rounds.
func Burst(ctx context.Context, w *comm.Worker, input json.RawMessage) (any, error) {
	var in Input
	if err := json.Unmarshal(input, &in); err != nil || in.Rounds < 1 || in.Bytes < 0 || w.Size() != 2 {
		return nil, fmt.Errorf("pingpong: want {bytes, rounds} and 2 workers: %v", err)
	}
	msg := make([]byte, in.Bytes)
	ack := make([]byte, 8)
	round := func() error {
		if w.Rank() == 0 {
			if err := w.Send(ctx, 1, msg); err != nil {
				return err
			}
			_, err := w.Recv(ctx, 1)
			return err
		}
		got, err := w.Recv(ctx, 0)
		if err != nil {
			return err
		}
		if len(got) != in.Bytes {
			return fmt.Errorf("pingpong: %d bytes, want %d", len(got), in.Bytes)
		}
		return w.Send(ctx, 0, ack)
	}
	// One round to warm up: the packs say hello the first time.
	if err := round(); err != nil {
		return nil, err
	}
	if err := w.Barrier(ctx); err != nil {
		return nil, err
	}
	start := time.Now()
	for range in.Rounds {
		if err := round(); err != nil {
			return nil, err
		}
	}
	return map[string]int64{"ns_per_round": time.Since(start).Nanoseconds() / int64(in.Rounds)}, nil
}

func main() {}
