package dataset

import (
	"math"
	"testing"
)

func TestStreamDeterministic(t *testing.T) {
	a, b := newStream(1, saltPoint, 5), newStream(1, saltPoint, 5)
	for range 10 {
		if x, y := a.uint64(), b.uint64(); x != y {
			t.Fatalf("same seed and index gave %x and %x", x, y)
		}
	}
	others := []stream{newStream(2, saltPoint, 5), newStream(1, saltCenter, 5), newStream(1, saltPoint, 6)}
	first := newStream(1, saltPoint, 5)
	x := first.uint64()
	for i, o := range others {
		if o.uint64() == x {
			t.Errorf("stream %d starts like the reference stream", i)
		}
	}
}

// The streams of neighbouring items must not be shifted copies of each other.
func TestStreamNeighboursDiffer(t *testing.T) {
	a, b := newStream(9, saltRecord, 100), newStream(9, saltRecord, 101)
	seen := map[uint64]bool{}
	for range 100 {
		seen[a.uint64()] = true
	}
	for range 100 {
		if seen[b.uint64()] {
			t.Fatal("neighbouring streams share numbers")
		}
	}
}

func TestStreamMoments(t *testing.T) {
	tests := []struct {
		name      string
		draw      func(s *stream) float64
		mean, sd  float64
		low, high float64
	}{
		{"float64", (*stream).float64, 0.5, math.Sqrt(1.0 / 12), 0, 1},
		{"open", (*stream).open, 0.5, math.Sqrt(1.0 / 12), 0, 1},
		{"norm", (*stream).norm, 0, 1, -10, 10},
		{"intn(10)", func(s *stream) float64 { return float64(s.intn(10)) }, 4.5, math.Sqrt(99.0 / 12), 0, 9},
	}
	const n = 200000
	for _, tt := range tests {
		var sum, sq float64
		for i := range n {
			s := newStream(3, saltSample, uint64(i))
			x := tt.draw(&s)
			if x < tt.low || x > tt.high || (tt.name == "float64" && x == 1) || (tt.name == "open" && x == 0) {
				t.Fatalf("%s: %v out of range", tt.name, x)
			}
			sum += x
			sq += x * x
		}
		mean := sum / n
		sd := math.Sqrt(sq/n - mean*mean)
		// Five standard errors: a deterministic stream either passes or not.
		if math.Abs(mean-tt.mean) > 5*tt.sd/math.Sqrt(n) {
			t.Errorf("%s: mean %v, want %v", tt.name, mean, tt.mean)
		}
		if math.Abs(sd-tt.sd) > 0.01*tt.sd {
			t.Errorf("%s: standard deviation %v, want %v", tt.name, sd, tt.sd)
		}
	}
}
