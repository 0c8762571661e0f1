package dataset

import (
	"bytes"
	"math"
	"slices"
	"strings"
	"testing"
)

func TestRegressionGenerate(t *testing.T) {
	r := Regression{Samples: 5000, Features: 3, Noise: 0.01, Seed: 6}
	x, y := r.Generate()
	x2, y2 := r.Generate()
	if !slices.Equal(x, x2) || !slices.Equal(y, y2) {
		t.Fatal("the same description gave two datasets")
	}
	if len(x) != 15000 || len(y) != 5000 {
		t.Fatalf("%d features and %d targets", len(x), len(y))
	}
	for _, v := range x {
		if v < -1 || v > 1 {
			t.Fatalf("feature %v out of [-1, 1]", v)
		}
	}
	// With little noise the target is far from constant: it varies with the features.
	mean := 0.0
	for _, v := range y {
		mean += v / 5000
	}
	sd := 0.0
	for _, v := range y {
		sd += (v - mean) * (v - mean) / 5000
	}
	if math.Sqrt(sd) < 0.1 {
		t.Errorf("target standard deviation %v: the target hardly depends on the features", math.Sqrt(sd))
	}
}

func TestRegressionCSVRoundTrip(t *testing.T) {
	r := Regression{Samples: 300, Features: 4, Seed: 2}
	var buf bytes.Buffer
	if err := r.WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	path := writeFile(t, "samples.csv", buf.String())
	x, y, features, err := ReadSamples(path)
	wx, wy := r.Generate()
	if err != nil || features != 4 || !slices.Equal(x, wx) || !slices.Equal(y, wy) {
		t.Errorf("read back %d features, %v; want the samples written", features, err)
	}
}

func TestRegressionErrors(t *testing.T) {
	tests := []struct {
		name string
		r    Regression
		want string
	}{
		{"defaults", Regression{}, ""},
		{"one sample", Regression{Samples: 1}, "1 samples"},
		{"too many features", Regression{Features: MaxFeatures + 1}, "features"},
		{"negative noise", Regression{Noise: -1}, "noise"},
		{"most values", Regression{Samples: MaxSampleValues / MaxFeatures, Features: MaxFeatures}, ""},
		{"too many values", Regression{Samples: MaxSamples, Features: MaxFeatures}, "16777216 samples of 256 features"},
	}
	for _, tt := range tests {
		err := tt.r.Validate()
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: got %v, want %q", tt.name, err, tt.want)
		}
	}
	path := writeFile(t, "one.csv", "1\n2\n")
	if _, _, _, err := ReadSamples(path); err == nil || !strings.Contains(err.Error(), "features and a target") {
		t.Errorf("one column: got %v", err)
	}
}
