package flareinput

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/burstgo/burst/comm"
)

// Decode decodes raw into v, refusing unknown fields and trailing data; name (the
// function's) prefixes its errors, and usage, an example of a good input, goes with
// the error for a missing input.
func Decode(name string, raw json.RawMessage, v any, usage string) error {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return fmt.Errorf("%s: no input: want %s", name, usage)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: input: %w", name, err)
	}
	if dec.More() {
		return fmt.Errorf("%s: input: data after the JSON value", name)
	}
	return nil
}

// Agree checks that every rank has the same input v (compared as JSON) as rank 0, with
// one broadcast; a rank whose input differs gets an error, which aborts the flare.
// Every rank calls it.
func Agree(ctx context.Context, w *comm.Worker, name string, v any) error {
	mine, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	first, err := w.Broadcast(ctx, 0, mine)
	if err != nil {
		return err
	}
	if !bytes.Equal(first, mine) {
		return fmt.Errorf("%s: rank %d's input differs from rank 0's: a flare's ranks must share one input", name, w.Rank())
	}
	return nil
}
