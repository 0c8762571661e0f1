package kmeans_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/burstgo/burst/functions/examples/flaretest"
	"github.com/burstgo/burst/functions/examples/kmeans"
)

// Bad input fails the flare with a clear error, and nothing hangs.
func TestBurstBadInput(t *testing.T) {
	ragged := flaretest.TempFile(t, "ragged.csv", strings.Repeat("1,2\n", 50)+"3\n"+strings.Repeat("1,2\n", 50))
	few := flaretest.TempFile(t, "few.csv", "1,2\n3,4\n")
	huge := flaretest.TempFile(t, "huge.csv", "1e300,1\n-1e300,1\n")
	empty := flaretest.TempFile(t, "empty.csv", "x,y\n")
	tests := []struct {
		name  string
		input func(rank int) string
		want  string
	}{
		{"no input", func(int) string { return "" }, "no input"},
		{"not json", func(int) string { return "{" }, "input"},
		{"unknown field", func(int) string { return `{"k": 2, "file": "x", "kk": 1}` }, "unknown field"},
		{"no k", func(int) string { return `{"file": "x"}` }, "k 0"},
		{"neither source", func(int) string { return `{"k": 2}` }, "exactly one"},
		{"both sources", func(int) string { return `{"k": 2, "file": "x", "generate": {"points": 5}}` }, "exactly one"},
		{"k above points", func(int) string { return `{"k": 20, "generate": {"points": 5}}` }, "more than the 5 points"},
		{"bad generator", func(int) string { return `{"k": 2, "generate": {"points": 5, "dims": -2}}` }, "dims"},
		{"negative tolerance", func(int) string { return `{"k": 2, "file": "x", "tolerance": -1}` }, "tolerance"},
		{"too many iterations", func(int) string { return `{"k": 2, "file": "x", "iterations": 1000000}` }, "iterations"},
		{"missing file", func(int) string { return `{"k": 2, "file": "/nonexistent/points.csv"}` }, "no such file"},
		{"ragged file", func(int) string { return `{"k": 2, "file": "` + ragged + `"}` }, "coordinates"},
		{"file with few points", func(int) string { return `{"k": 3, "file": "` + few + `"}` }, "more than the 2 points"},
		{"overflow", func(int) string { return `{"k": 1, "file": "` + huge + `"}` }, "too large"},
		{"file with no points", func(int) string { return `{"k": 1, "file": "` + empty + `"}` }, "no points"},
		{"centroids count", func(int) string { return `{"k": 2, "generate": {"points": 50}, "centroids": [[1, 2]]}` }, "1 initial centroids"},
		{"centroid dims", func(int) string { return `{"k": 1, "generate": {"points": 50}, "centroids": [[1, 2, 3]]}` }, "3 coordinates"},
		{"ranks disagree", func(r int) string { return fmt.Sprintf(`{"k": 2, "generate": {"points": 50}, "iterations": %d}`, 5+r) }, "differs from rank 0"},
	}
	for _, tt := range tests {
		_, err := flaretest.BurstEach(t, flaretest.Layout{Size: 4, Granularity: 2}, kmeans.Burst, tt.input)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want an error with %q", tt.name, err, tt.want)
		}
	}
}
