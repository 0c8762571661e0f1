package flareinput

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/burstgo/burst/comm"
	"github.com/burstgo/burst/functions"
	"github.com/burstgo/burst/functions/examples/dataset"
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

// OneSource checks that an input names exactly one source of its data: generated, a
// file on the worker's host, or a dataset stored in the cluster.
func OneSource(name string, generate bool, file, ds string) error {
	n := 0
	for _, given := range []bool{generate, file != "", ds != ""} {
		if given {
			n++
		}
	}
	if n != 1 {
		return fmt.Errorf(`%s: want exactly one of "generate", "file" and "dataset"`, name)
	}
	return nil
}

// Open opens the data an input names: the dataset ds of the flare's namespace if it
// names one, else the file at path on the worker's host; close releases it. Every rank
// calls it: with one broadcast the ranks check that they opened the same bytes (one
// version of a dataset, files of one size), since a dataset replaced while the flare
// starts, or a file that differs between hosts, would have them read parts of
// different data.
func Open(ctx context.Context, w *comm.Worker, path, ds string) (src dataset.Source, close func(), err error) {
	src, close, err = open(ctx, path, ds)
	if err != nil {
		return nil, nil, err
	}
	id := fmt.Sprintf("%s of %d bytes", src.Name(), src.Size())
	if d, ok := src.(functions.Dataset); ok {
		id += ", version " + d.ID()
	}
	first, err := w.Broadcast(ctx, 0, []byte(id))
	if err != nil {
		close()
		return nil, nil, err
	}
	if string(first) != id {
		close()
		return nil, nil, fmt.Errorf("rank %d opened %s, but rank 0 %s: a dataset replaced while the flare started, or a file that differs between hosts", w.Rank(), id, first)
	}
	return src, close, nil
}

func open(ctx context.Context, path, ds string) (dataset.Source, func(), error) {
	if ds != "" {
		d, err := functions.OpenDataset(ctx, ds)
		if err != nil {
			return nil, nil, err
		}
		return d, func() {}, nil
	}
	f, err := dataset.OpenFile(path)
	if err != nil {
		return nil, nil, err
	}
	return f, func() { f.Close() }, nil
}
