package kmeans

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/burstgo/burst/comm"
	"github.com/burstgo/burst/functions/examples/dataset"
	"github.com/burstgo/burst/functions/examples/flareinput"
)

// Limits of the input.
const (
	DefaultIterations = 100
	MaxIterations     = 100000
	MaxK              = 1 << 16
	// MaxWorkerFloats bounds the coordinates one worker holds (2 GiB), so that a large
	// dataset asks for a larger burst rather than exhausting an invoker.
	MaxWorkerFloats = 1 << 28
)

// Input is the input of kmeans (see the package doc).
type Input struct {
	K          int             `json:"k"`
	Generate   *dataset.Points `json:"generate,omitempty"`
	File       string          `json:"file,omitempty"`
	Dataset    string          `json:"dataset,omitempty"`
	Iterations int             `json:"iterations,omitempty"`
	Tolerance  float64         `json:"tolerance,omitempty"`
	Centroids  [][]float64     `json:"centroids,omitempty"`
}

// ParseInput decodes and checks an input; name prefixes its errors.
func ParseInput(name string, raw json.RawMessage) (Input, error) {
	var in Input
	if err := flareinput.Decode(name, raw, &in, `{"k": 8, "generate": {"points": 100000, "seed": 1}} or {"k": 8, "file": "points.csv"} or {"k": 8, "dataset": "points"}`); err != nil {
		return in, err
	}
	in.Iterations = cmp.Or(in.Iterations, DefaultIterations)
	if in.Generate != nil {
		g := in.Generate.WithDefaults()
		in.Generate = &g
	}
	if err := flareinput.OneSource(name, in.Generate != nil, in.File, in.Dataset); err != nil {
		return in, err
	}
	switch {
	case in.K < 1 || in.K > MaxK:
		return in, fmt.Errorf("%s: k %d, want 1 to %d", name, in.K, MaxK)
	case in.Iterations < 1 || in.Iterations > MaxIterations:
		return in, fmt.Errorf("%s: %d iterations, want 1 to %d", name, in.Iterations, MaxIterations)
	case !(in.Tolerance >= 0 && in.Tolerance < 1e300):
		return in, fmt.Errorf("%s: tolerance %v, want a number ≥ 0", name, in.Tolerance)
	case in.Centroids != nil && len(in.Centroids) != in.K:
		return in, fmt.Errorf("%s: %d initial centroids for k = %d", name, len(in.Centroids), in.K)
	}
	if in.Generate != nil {
		if err := in.Generate.Validate(); err != nil {
			return in, fmt.Errorf("%s: generate: %w", name, err)
		}
		if in.Generate.N < int64(in.K) {
			return in, fmt.Errorf("%s: k %d is more than the %d points", name, in.K, in.Generate.N)
		}
	}
	return in, nil
}

// Data is one rank's share of the points.
type Data struct {
	Points []float64 // row after row
	Dims   int
	Total  int64 // points of every rank
}

// Len is the number of the rank's points.
func (d *Data) Len() int { return len(d.Points) / d.Dims }

// Load checks that every rank got the same input, then makes or reads this rank's
// share of the points and the initial centroids. Every rank calls it.
func Load(ctx context.Context, w *comm.Worker, name string, in Input) (*Data, []float64, error) {
	if err := flareinput.Agree(ctx, w, name, in); err != nil {
		return nil, nil, err
	}
	d := &Data{}
	var head []float64
	if g := in.Generate; g != nil {
		lo, hi := dataset.Split(g.N, w.Size(), w.Rank())
		if (hi-lo)*int64(g.Dims) > MaxWorkerFloats {
			return nil, nil, fmt.Errorf("%s: %d points of %d dims per worker is too many: use a larger burst", name, hi-lo, g.Dims)
		}
		d.Points, d.Dims, d.Total = g.Generate(lo, hi), g.Dims, g.N
		if in.Centroids == nil {
			head = g.Generate(0, int64(in.K))
		}
	} else {
		src, close, err := flareinput.Open(ctx, w, in.File, in.Dataset)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", name, err)
		}
		defer close()
		if d.Points, d.Dims, err = dataset.ReadPoints(src, w.Rank(), w.Size()); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", name, err)
		}
		if err := agreeOnShape(ctx, w, name, d); err != nil {
			return nil, nil, err
		}
		if d.Total < int64(in.K) {
			return nil, nil, fmt.Errorf("%s: k %d is more than the %d points of %s", name, in.K, d.Total, src.Name())
		}
		if in.Centroids == nil {
			var dims int
			if head, dims, err = dataset.HeadPoints(src, in.K); err != nil {
				return nil, nil, fmt.Errorf("%s: %w", name, err)
			}
			if len(head) != in.K*d.Dims || dims != d.Dims {
				return nil, nil, fmt.Errorf("%s: could not read the first %d points of %s", name, in.K, src.Name())
			}
		}
	}
	if in.Centroids != nil {
		head = make([]float64, 0, in.K*d.Dims)
		for i, c := range in.Centroids {
			if len(c) != d.Dims {
				return nil, nil, fmt.Errorf("%s: initial centroid %d has %d coordinates, want %d", name, i, len(c), d.Dims)
			}
			head = append(head, c...)
		}
	}
	return d, head, nil
}

// agreeOnShape counts the points of every rank and checks that the ranks' shares of a
// file have one dimension.
func agreeOnShape(ctx context.Context, w *comm.Worker, name string, d *Data) error {
	n := int64(0)
	if d.Dims > 0 {
		n = int64(len(d.Points) / d.Dims)
	}
	if n*int64(d.Dims) > MaxWorkerFloats {
		return fmt.Errorf("%s: %d points of %d dims per worker is too many: use a larger burst", name, n, d.Dims)
	}
	all, err := w.AllGather(ctx, comm.Bytes([]int64{int64(d.Dims), n}))
	if err != nil {
		return err
	}
	for r, b := range all {
		s := comm.Elements[int64](b)
		if len(s) != 2 {
			return fmt.Errorf("%s: rank %d sent %d bytes for its shape", name, r, len(b))
		}
		dims, count := int(s[0]), s[1]
		if count == 0 {
			continue
		}
		if d.Dims == 0 {
			d.Dims = dims
		}
		if dims != d.Dims {
			return fmt.Errorf("%s: points of %d and %d coordinates in one file", name, d.Dims, dims)
		}
		d.Total += count
	}
	if d.Total == 0 {
		return errors.New(name + ": the file has no points")
	}
	return nil
}
