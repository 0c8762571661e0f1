package gridsearch

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/burstgo/burst/comm"
	"github.com/burstgo/burst/functions/examples/dataset"
	"github.com/burstgo/burst/functions/examples/flareinput"
)

// Limits of the input.
const (
	MaxDegree  = 10
	MaxGrid    = 10000
	MaxColumns = 512 // features × largest degree: the normal equations' size
	// MaxWorkerFloats bounds samples × columns, the expanded features that a worker
	// makes for each grid point (512 MiB), so that a large dataset fails at once with a
	// clear error rather than exhausting an invoker: every rank holds the whole dataset.
	MaxWorkerFloats = 1 << 26
)

// Input is the input of gridsearch (see the package doc).
type Input struct {
	Generate *dataset.Regression `json:"generate,omitempty"`
	File     string              `json:"file,omitempty"`
	Dataset  string              `json:"dataset,omitempty"`
	Alphas   []float64           `json:"alphas,omitempty"`
	Degrees  []int               `json:"degrees,omitempty"`
	Folds    int                 `json:"folds,omitempty"`
}

// Score is one grid point's cross-validated mean squared error.
type Score struct {
	Degree int     `json:"degree"`
	Alpha  float64 `json:"alpha"`
	MSE    float64 `json:"mse"`
}

// Result is what rank 0 answers (see the package doc).
type Result struct {
	Rank      int     `json:"rank"`
	Evaluated int     `json:"evaluated"`
	Best      Score   `json:"best"`
	Scores    []Score `json:"scores"`
	Samples   int     `json:"samples"`
	Features  int     `json:"features"`
}

// Share is what the other ranks answer.
type Share struct {
	Rank      int `json:"rank"`
	Evaluated int `json:"evaluated"`
}

// DefaultAlphas are 10^-4 to 10^2 in half-decade steps.
func DefaultAlphas() []float64 {
	a := make([]float64, 13)
	for i := range a {
		a[i] = math.Pow(10, -4+float64(i)/2)
	}
	return a
}

// ParseInput decodes and checks an input.
func ParseInput(raw json.RawMessage) (Input, error) {
	var in Input
	if err := flareinput.Decode("gridsearch", raw, &in, `{"generate": {"samples": 2000, "seed": 1}} or {"file": "samples.csv"} or {"dataset": "samples"}`); err != nil {
		return in, err
	}
	if in.Alphas == nil {
		in.Alphas = DefaultAlphas()
	}
	if in.Degrees == nil {
		in.Degrees = []int{1, 2, 3}
	}
	in.Folds = cmp.Or(in.Folds, 5)
	if err := flareinput.OneSource("gridsearch", in.Generate != nil, in.File, in.Dataset); err != nil {
		return in, err
	}
	switch {
	case len(in.Alphas) == 0 || len(in.Degrees) == 0:
		return in, errors.New("gridsearch: an empty grid: give at least one alpha and one degree")
	case len(in.Alphas)*len(in.Degrees) > MaxGrid:
		return in, fmt.Errorf("gridsearch: a grid of %d points, want at most %d", len(in.Alphas)*len(in.Degrees), MaxGrid)
	case in.Folds < 2 || in.Folds > 100:
		return in, fmt.Errorf("gridsearch: %d folds, want 2 to 100", in.Folds)
	}
	for _, a := range in.Alphas {
		if !(a > 0 && a < 1e300) {
			return in, fmt.Errorf("gridsearch: alpha %v, want a positive number", a)
		}
	}
	for _, d := range in.Degrees {
		if d < 1 || d > MaxDegree {
			return in, fmt.Errorf("gridsearch: degree %d, want 1 to %d", d, MaxDegree)
		}
	}
	if in.Generate != nil {
		g := in.Generate.WithDefaults()
		in.Generate = &g
		if err := g.Validate(); err != nil {
			return in, fmt.Errorf("gridsearch: generate: %w", err)
		}
		if err := checkSize(g.Samples, g.Features, in); err != nil {
			return in, err
		}
	}
	return in, nil
}

// checkSize checks that n samples of p features suit the input's folds and are not too
// many for a worker at the largest degree.
func checkSize(n, p int, in Input) error {
	largest := slices.Max(in.Degrees)
	switch q := p * largest; {
	case q > MaxColumns:
		return fmt.Errorf("gridsearch: %d features at degree %d make %d columns, want at most %d", p, largest, q, MaxColumns)
	case int64(n)*int64(q) > MaxWorkerFloats:
		return fmt.Errorf("gridsearch: %d samples of %d columns (%d features at degree %d) is too many, want at most %d numbers", n, q, p, largest, MaxWorkerFloats)
	case n < 2*in.Folds:
		return fmt.Errorf("gridsearch: %d samples for %d folds, want at least two a fold", n, in.Folds)
	}
	return nil
}

// Burst is the entry point of the function "gridsearch".
func Burst(ctx context.Context, w *comm.Worker, input json.RawMessage) (any, error) {
	in, err := ParseInput(input)
	if err != nil {
		return nil, err
	}
	res, err := run(ctx, w, in)
	if err != nil {
		return nil, err
	}
	if w.Rank() != 0 {
		return Share{Rank: res.Rank, Evaluated: res.Evaluated}, nil
	}
	return res, nil
}

// run scores the rank's grid points and gathers every score at rank 0, which gets the
// whole result; the other ranks get their rank and count.
func run(ctx context.Context, w *comm.Worker, in Input) (Result, error) {
	if err := flareinput.Agree(ctx, w, "gridsearch", in); err != nil {
		return Result{}, err
	}
	var x, y []float64
	var p int
	var err error
	if g := in.Generate; g != nil {
		x, y = g.Generate()
		p = g.Features
	} else {
		src, close, err := flareinput.Open(ctx, w, in.File, in.Dataset)
		if err != nil {
			return Result{}, fmt.Errorf("gridsearch: %w", err)
		}
		x, y, p, err = dataset.ReadSamples(src)
		close()
		if err != nil {
			return Result{}, fmt.Errorf("gridsearch: %w", err)
		}
	}
	n := len(y)
	if err := checkSize(n, p, in); err != nil {
		return Result{}, err
	}

	grid := len(in.Degrees) * len(in.Alphas)
	res := Result{Rank: w.Rank(), Samples: n, Features: p}
	var mine []float64 // pairs of grid index and score
	for i := w.Rank(); i < grid; i += w.Size() {
		if err := ctx.Err(); err != nil {
			return Result{}, err
		}
		mse, err := CrossValidate(x, y, p, in.Degrees[i/len(in.Alphas)], in.Alphas[i%len(in.Alphas)], in.Folds)
		if err != nil {
			return Result{}, fmt.Errorf("gridsearch: %w", err)
		}
		mine = append(mine, float64(i), mse)
		res.Evaluated++
		w.Logger().Debug("gridsearch: scored", "point", i, "mse", mse)
	}
	all, err := w.Gather(ctx, 0, comm.Bytes(mine))
	if err != nil || w.Rank() != 0 {
		return res, err
	}
	res.Scores = make([]Score, grid)
	seen := 0
	for _, b := range all {
		v := comm.Elements[float64](b)
		for j := 0; j+1 < len(v); j += 2 {
			i := int(v[j])
			res.Scores[i] = Score{Degree: in.Degrees[i/len(in.Alphas)], Alpha: in.Alphas[i%len(in.Alphas)], MSE: v[j+1]}
			seen++
		}
	}
	if seen != grid {
		return Result{}, fmt.Errorf("gridsearch: got %d scores for a grid of %d", seen, grid)
	}
	res.Best = res.Scores[0]
	for _, s := range res.Scores[1:] {
		if s.MSE < res.Best.MSE {
			res.Best = s
		}
	}
	return res, nil
}

// CrossValidate returns the mean over folds of the held-out mean squared error of ridge
// regression with penalty alpha on the features of x (n rows of p) expanded to degree,
// sample i being in fold i mod folds.
func CrossValidate(x, y []float64, p, degree int, alpha float64, folds int) (float64, error) {
	n, q := len(y), p*degree
	z := make([]float64, n*q)
	for i := range n {
		for j, v := range x[i*p : (i+1)*p] {
			pow := 1.0
			for d := range degree {
				pow *= v
				z[i*q+j*degree+d] = pow
			}
		}
	}
	total := 0.0
	for f := range folds {
		mse, err := fold(z, y, q, alpha, folds, f)
		if err != nil {
			return 0, fmt.Errorf("degree %d, alpha %v, fold %d: %w", degree, alpha, f, err)
		}
		total += mse
	}
	if mse := total / float64(folds); !math.IsInf(mse, 0) && !math.IsNaN(mse) {
		return mse, nil
	}
	return 0, fmt.Errorf("degree %d, alpha %v: the squared errors overflow: targets or features are too large", degree, alpha)
}

// fold trains on every sample but fold f's and returns the mean squared error on f's.
func fold(z, y []float64, q int, alpha float64, folds, f int) (float64, error) {
	n := len(y)
	mean, scale := make([]float64, q), make([]float64, q)
	ymean, train := 0.0, 0
	for i := range n {
		if i%folds == f {
			continue
		}
		train++
		ymean += y[i]
		for c, v := range z[i*q : (i+1)*q] {
			mean[c] += v
		}
	}
	ymean /= float64(train)
	for c := range mean {
		mean[c] /= float64(train)
	}
	for i := range n {
		if i%folds == f {
			continue
		}
		for c, v := range z[i*q : (i+1)*q] {
			scale[c] += (v - mean[c]) * (v - mean[c])
		}
	}
	for c := range scale {
		scale[c] = math.Sqrt(scale[c] / float64(train))
		if scale[c] == 0 {
			scale[c] = 1 // a constant column: centring made it zero anyway
		}
	}
	// Normal equations (ZᵀZ + αI)β = Zᵀy on the standardised training rows; only the
	// lower triangle of the Gram matrix is filled.
	gram, rhs, row := make([]float64, q*q), make([]float64, q), make([]float64, q)
	for i := range n {
		if i%folds == f {
			continue
		}
		for c, v := range z[i*q : (i+1)*q] {
			row[c] = (v - mean[c]) / scale[c]
		}
		t := y[i] - ymean
		for a, ra := range row {
			g := gram[a*q : a*q+a+1]
			for b := range g {
				g[b] += ra * row[b]
			}
			rhs[a] += ra * t
		}
	}
	for a := range q {
		gram[a*q+a] += alpha
	}
	beta, err := cholesky(gram, rhs, q)
	if err != nil {
		return 0, err
	}
	sse, tests := 0.0, 0
	for i := f; i < n; i += folds {
		pred := ymean
		for c, v := range z[i*q : (i+1)*q] {
			pred += (v - mean[c]) / scale[c] * beta[c]
		}
		sse += (y[i] - pred) * (y[i] - pred)
		tests++
	}
	return sse / float64(tests), nil
}

// cholesky solves a·x = b for a symmetric positive definite q×q matrix given by its
// lower triangle (overwritten by the factor).
func cholesky(a, b []float64, q int) ([]float64, error) {
	for j := range q {
		s := a[j*q+j]
		for k := range j {
			s -= a[j*q+k] * a[j*q+k]
		}
		if !(s > 0) {
			return nil, errors.New("the normal equations are not positive definite")
		}
		a[j*q+j] = math.Sqrt(s)
		for i := j + 1; i < q; i++ {
			s := a[i*q+j]
			for k := range j {
				s -= a[i*q+k] * a[j*q+k]
			}
			a[i*q+j] = s / a[j*q+j]
		}
	}
	x := make([]float64, q)
	for i := range q { // L·u = b
		s := b[i]
		for k := range i {
			s -= a[i*q+k] * x[k]
		}
		x[i] = s / a[i*q+i]
	}
	for i := q - 1; i >= 0; i-- { // Lᵀ·x = u
		s := x[i]
		for k := i + 1; k < q; k++ {
			s -= a[k*q+i] * x[k]
		}
		x[i] = s / a[i*q+i]
	}
	return x, nil
}
