package dataset

import (
	"cmp"
	"fmt"
	"io"
)

// Limits of generated points.
const (
	MaxPoints = 1 << 36
	MaxDims   = 1 << 12
	// MaxCenterCoords bounds clusters × dims, the coordinates of the mixture's centres,
	// which every generator call makes (128 MiB).
	MaxCenterCoords = 1 << 24
)

// Points describes a seeded Gaussian mixture: Clusters centres drawn uniformly in
// [-10, 10]^Dims, and each point a centre picked at random plus normal noise of standard
// deviation Spread in every coordinate. As JSON:
//
//	{"points": 1000000, "dims": 2, "clusters": 8, "spread": 1, "seed": 42}
//
// Zero dims, clusters or spread mean 2, 8 and 1.
type Points struct {
	N        int64   `json:"points"`
	Dims     int     `json:"dims,omitempty"`
	Clusters int     `json:"clusters,omitempty"`
	Spread   float64 `json:"spread,omitempty"`
	Seed     uint64  `json:"seed"`
}

// WithDefaults returns p with its zero fields set to their defaults.
func (p Points) WithDefaults() Points {
	p.Dims = cmp.Or(p.Dims, 2)
	p.Clusters = cmp.Or(p.Clusters, 8)
	p.Spread = cmp.Or(p.Spread, 1)
	return p
}

// Validate checks p, defaults applied.
func (p Points) Validate() error {
	p = p.WithDefaults()
	switch {
	case p.N < 1 || p.N > MaxPoints:
		return fmt.Errorf("dataset: %d points, want 1 to %d", p.N, int64(MaxPoints))
	case p.Dims < 1 || p.Dims > MaxDims:
		return fmt.Errorf("dataset: %d dims, want 1 to %d", p.Dims, MaxDims)
	case p.Clusters < 1 || p.Clusters > 1<<20:
		return fmt.Errorf("dataset: %d clusters, want 1 to %d", p.Clusters, 1<<20)
	case int64(p.Clusters)*int64(p.Dims) > MaxCenterCoords:
		return fmt.Errorf("dataset: %d clusters of %d dims, want at most %d coordinates of centres", p.Clusters, p.Dims, MaxCenterCoords)
	case !(p.Spread > 0 && p.Spread < 1e12):
		return fmt.Errorf("dataset: spread %v, want a positive number", p.Spread)
	}
	return nil
}

// Centers returns the mixture's centres, row after row.
func (p Points) Centers() []float64 {
	p = p.WithDefaults()
	c := make([]float64, p.Clusters*p.Dims)
	for j := range p.Clusters {
		s := newStream(p.Seed, saltCenter, uint64(j))
		for d := range p.Dims {
			c[j*p.Dims+d] = 20*s.float64() - 10
		}
	}
	return c
}

// Generate returns points lo..hi-1, row after row (Dims numbers each).
func (p Points) Generate(lo, hi int64) []float64 {
	p = p.WithDefaults()
	centers := p.Centers()
	out := make([]float64, (hi-lo)*int64(p.Dims))
	for i := lo; i < hi; i++ {
		s := newStream(p.Seed, saltPoint, uint64(i))
		c := centers[int(s.intn(uint64(p.Clusters)))*p.Dims:]
		row := out[(i-lo)*int64(p.Dims):]
		for d := range p.Dims {
			row[d] = c[d] + p.Spread*s.norm()
		}
	}
	return out
}

// WriteCSV writes every point to w as CSV, one point a line, in a form that reads back
// to the very same numbers.
func (p Points) WriteCSV(w io.Writer) error {
	p = p.WithDefaults()
	if err := p.Validate(); err != nil {
		return err
	}
	lw := newLineWriter(w)
	const block = 4096
	for lo := int64(0); lo < p.N; lo += block {
		rows := p.Generate(lo, min(lo+block, p.N))
		for i := 0; i < len(rows); i += p.Dims {
			lw.floats(rows[i : i+p.Dims])
		}
	}
	return lw.flush()
}

// ReadPoints reads part part of parts of a CSV file of points from src: one point a line,
// coordinates separated by commas, every line with the same number of them. Blank lines
// and lines starting with '#' or '%' are skipped, and so is a first line that is a
// header (its first field not a number). It returns the part's points row after row and
// their dimension, 0 when the part holds none.
func ReadPoints(src Source, part, parts int) (data []float64, dims int, err error) {
	return readPoints(src, part, parts, -1)
}

// HeadPoints reads the first k points of a CSV file of points (fewer if the file has
// fewer), in the format of ReadPoints.
func HeadPoints(src Source, k int) (data []float64, dims int, err error) {
	return readPoints(src, 0, 1, k)
}

// readPoints reads at most limit points (no bound if limit < 0).
func readPoints(src Source, part, parts, limit int) (data []float64, dims int, err error) {
	n := 0
	err = readLines(src, part, parts, func(offset int64, line []byte) error {
		if n == limit {
			return errStop
		}
		if skippable(line) || isHeader(offset, line) {
			return nil
		}
		before := len(data)
		var perr error
		if data, perr = parseFloats(data, line); perr != nil {
			return fmt.Errorf("dataset: %s: line at byte %d: %w", src.Name(), offset, perr)
		}
		switch got := len(data) - before; {
		case dims == 0 && got > MaxDims:
			return fmt.Errorf("dataset: %s: %d coordinates, want at most %d", src.Name(), got, MaxDims)
		case dims == 0:
			dims = got
		case got != dims:
			return fmt.Errorf("dataset: %s: line at byte %d has %d coordinates, want %d", src.Name(), offset, got, dims)
		}
		n++
		return nil
	})
	return data, dims, err
}
