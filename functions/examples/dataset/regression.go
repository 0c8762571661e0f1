package dataset

import (
	"cmp"
	"fmt"
	"io"
)

// Limits of regression datasets.
const (
	MaxSamples  = 1 << 24
	MaxFeatures = 256
	// MaxSampleValues bounds samples × features, all made at once (512 MiB).
	MaxSampleValues = 1 << 26
)

// Regression describes a seeded regression dataset: features drawn uniformly in
// [-1, 1], and a target that is a quadratic in them (seeded coefficients, no cross
// terms) plus normal noise of standard deviation Noise. As JSON:
//
//	{"samples": 2000, "features": 5, "noise": 0.1, "seed": 3}
//
// Zero samples, features or noise mean 1000, 5 and 0.1.
type Regression struct {
	Samples  int     `json:"samples,omitempty"`
	Features int     `json:"features,omitempty"`
	Noise    float64 `json:"noise,omitempty"`
	Seed     uint64  `json:"seed"`
}

// WithDefaults returns r with its zero fields set to their defaults.
func (r Regression) WithDefaults() Regression {
	r.Samples = cmp.Or(r.Samples, 1000)
	r.Features = cmp.Or(r.Features, 5)
	r.Noise = cmp.Or(r.Noise, 0.1)
	return r
}

// Validate checks r, defaults applied.
func (r Regression) Validate() error {
	r = r.WithDefaults()
	switch {
	case r.Samples < 2 || r.Samples > MaxSamples:
		return fmt.Errorf("dataset: %d samples, want 2 to %d", r.Samples, MaxSamples)
	case r.Features < 1 || r.Features > MaxFeatures:
		return fmt.Errorf("dataset: %d features, want 1 to %d", r.Features, MaxFeatures)
	case int64(r.Samples)*int64(r.Features) > MaxSampleValues:
		return fmt.Errorf("dataset: %d samples of %d features, want at most %d values", r.Samples, r.Features, MaxSampleValues)
	case !(r.Noise > 0 && r.Noise < 1e12):
		return fmt.Errorf("dataset: noise %v, want a positive number", r.Noise)
	}
	return nil
}

// Generate returns the samples' features, row after row, and their targets.
func (r Regression) Generate() (x, y []float64) {
	r = r.WithDefaults()
	p := r.Features
	lin, quad := make([]float64, p), make([]float64, p)
	for j := range p {
		s := newStream(r.Seed, saltCoef, uint64(j))
		lin[j], quad[j] = s.norm(), s.norm()
	}
	x, y = make([]float64, r.Samples*p), make([]float64, r.Samples)
	for i := range r.Samples {
		s := newStream(r.Seed, saltSample, uint64(i))
		row := x[i*p : (i+1)*p]
		t := 0.0
		for j := range row {
			v := 2*s.float64() - 1
			row[j] = v
			t += lin[j]*v + quad[j]*v*v
		}
		y[i] = t + r.Noise*s.norm()
	}
	return x, y
}

// WriteCSV writes every sample to w as CSV, one sample a line: its features, then its
// target, in a form that reads back to the very same numbers.
func (r Regression) WriteCSV(w io.Writer) error {
	if err := r.Validate(); err != nil {
		return err
	}
	r = r.WithDefaults()
	x, y := r.Generate()
	lw := newLineWriter(w)
	for i := range y {
		lw.floats(x[i*r.Features:(i+1)*r.Features], y[i:i+1])
	}
	return lw.flush()
}

// ReadSamples reads a whole CSV file of samples: one a line, the features then the
// target, separated by commas, every line with the same number of fields (at least
// two); blank lines, comments ('#' or '%') and a header line are skipped as by
// ReadPoints. It returns the features row after row, the targets and the number of
// features.
func ReadSamples(src Source) (x, y []float64, features int, err error) {
	data, dims, err := ReadPoints(src, 0, 1)
	if err != nil {
		return nil, nil, 0, err
	}
	if dims < 2 {
		return nil, nil, 0, fmt.Errorf("dataset: %s: want features and a target on each line, got %d fields", src.Name(), dims)
	}
	rows := len(data) / dims
	if rows > MaxSamples {
		return nil, nil, 0, fmt.Errorf("dataset: %s: %d samples, want at most %d", src.Name(), rows, MaxSamples)
	}
	features = dims - 1
	x, y = make([]float64, 0, rows*features), make([]float64, rows)
	for i := range rows {
		row := data[i*dims : (i+1)*dims]
		x = append(x, row[:features]...)
		y[i] = row[features]
	}
	return x, y, features, nil
}
