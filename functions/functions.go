package functions

import (
	"context"
	"encoding/json"
	"errors"
	"io"

	"github.com/burstgo/burst/comm"
)

// Func is the ABI of a Burst function: the type of the Burst entry point. It runs once per
// worker; the result is marshalled to JSON, and an error or a panic fails the worker and
// aborts the flare.
type Func func(ctx context.Context, w *comm.Worker, input json.RawMessage) (any, error)

// A Dataset is a dataset stored in the cluster (`burst data put`) as a worker reads it:
// any byte range, fetched from whichever host the worker runs on. It is safe for
// concurrent use.
type Dataset interface {
	io.ReaderAt
	// Size is the dataset's size in bytes.
	Size() int64
	// Name names the dataset in errors.
	Name() string
	// ID identifies the bytes: an upload of the same name replaces them, and a
	// Dataset opened after it has another ID.
	ID() string
}

// ErrNoDatasets is returned by OpenDataset with a context that is not a worker's.
var ErrNoDatasets = errors.New("functions: no datasets: not the context of a flare's worker")

type datasetsKey struct{}

// OpenDataset opens dataset name of the flare's namespace, with a worker's context.
func OpenDataset(ctx context.Context, name string) (Dataset, error) {
	open, _ := ctx.Value(datasetsKey{}).(func(context.Context, string) (Dataset, error))
	if open == nil {
		return nil, ErrNoDatasets
	}
	return open(ctx, name)
}

// WithDatasets returns a context whose OpenDataset calls open: the invoker runs workers
// with one.
func WithDatasets(ctx context.Context, open func(ctx context.Context, name string) (Dataset, error)) context.Context {
	return context.WithValue(ctx, datasetsKey{}, open)
}
