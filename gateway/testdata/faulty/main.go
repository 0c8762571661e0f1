// Command faulty is a test plugin that talks across packs and fails on demand: every
// worker logs a line, then rank Fail returns an error, rank Panic panics, and the others
// wait in a barrier, which the failure must release.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/burstgo/burst/comm"
)

// Input says which rank misbehaves; -1 for none.
type Input struct {
	Fail  int    `json:"fail"`
	Panic int    `json:"panic"`
	Log   string `json:"log"`
	// Pad lengthens the failing rank's error by that many bytes.
	Pad int `json:"pad"`
}

// Burst logs, misbehaves if asked, and else meets every rank in a barrier and a sum.
func Burst(ctx context.Context, w *comm.Worker, input json.RawMessage) (any, error) {
	in := Input{Fail: -1, Panic: -1}
	if len(input) > 0 && string(input) != "null" {
		if err := json.Unmarshal(input, &in); err != nil {
			return nil, err
		}
	}
	if in.Log != "" {
		w.Logger().Info(in.Log, "rank_seen", w.Rank())
	}
	switch w.Rank() {
	case in.Fail:
		return nil, fmt.Errorf("boom from rank %d%s", w.Rank(), strings.Repeat("x", in.Pad))
	case in.Panic:
		panic(fmt.Sprintf("kaboom from rank %d", w.Rank()))
	}
	if err := w.Barrier(ctx); err != nil {
		return nil, err
	}
	b, err := w.AllGather(ctx, []byte{byte(w.Rank())})
	if err != nil {
		return nil, err
	}
	if len(b) != w.Size() {
		return nil, errors.New("allgather lost parts")
	}
	return map[string]int{"rank": w.Rank(), "peers": len(b)}, nil
}

func main() {}
