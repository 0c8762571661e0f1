package dataset

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
)

func TestPointsGenerateParts(t *testing.T) {
	p := Points{N: 1001, Dims: 3, Clusters: 4, Seed: 11}
	all := p.Generate(0, p.N)
	if len(all) != 1001*3 {
		t.Fatalf("got %d numbers, want %d", len(all), 1001*3)
	}
	for _, parts := range []int{1, 4, 7} {
		if !slices.Equal(inParts(p.N, parts, p.Generate), all) {
			t.Errorf("%d parts do not make the whole dataset", parts)
		}
	}
	if other := (Points{N: 1001, Dims: 3, Clusters: 4, Seed: 12}).Generate(0, 1001); slices.Equal(other, all) {
		t.Error("another seed gave the same points")
	}
}

// Each point lies near one of the mixture's centres, and every centre gets points.
func TestPointsMixture(t *testing.T) {
	p := Points{N: 4000, Dims: 2, Clusters: 5, Spread: 0.1, Seed: 1}.WithDefaults()
	centers, pts := p.Centers(), p.Generate(0, p.N)
	hits := make([]int, p.Clusters)
	for i := 0; i < len(pts); i += 2 {
		best, bestD := -1, math.Inf(1)
		for j := range p.Clusters {
			dx, dy := pts[i]-centers[2*j], pts[i+1]-centers[2*j+1]
			if d := math.Hypot(dx, dy); d < bestD {
				best, bestD = j, d
			}
		}
		if bestD > 1 { // ten standard deviations
			t.Fatalf("point %d is %v from the nearest centre", i/2, bestD)
		}
		hits[best]++
	}
	for j, h := range hits {
		if h < 4000/5/2 {
			t.Errorf("centre %d got %d points of 4000", j, h)
		}
	}
}

func TestPointsValidate(t *testing.T) {
	tests := []struct {
		p    Points
		want string
	}{
		{Points{N: 10}, ""},
		{Points{N: 0}, "0 points"},
		{Points{N: MaxPoints + 1}, "points"},
		{Points{N: 5, Dims: -1}, "-1 dims"},
		{Points{N: 5, Dims: MaxDims + 1}, "dims"},
		{Points{N: 5, Clusters: -3}, "-3 clusters"},
		{Points{N: 5, Clusters: 1 << 20, Dims: MaxDims}, "1048576 clusters of 4096 dims"},
		{Points{N: 5, Clusters: MaxCenterCoords / 64, Dims: 64}, ""},
		{Points{N: 5, Clusters: MaxCenterCoords/64 + 1, Dims: 64}, "coordinates of centres"},
		{Points{N: 5, Spread: -1}, "spread"},
		{Points{N: 5, Spread: math.NaN()}, "spread"},
	}
	for _, tt := range tests {
		err := tt.p.Validate()
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%+v: got %v, want %q", tt.p, err, tt.want)
		}
	}
}

// A CSV file written by WriteCSV reads back to the very same points, whatever the
// number of parts.
func TestPointsCSVRoundTrip(t *testing.T) {
	p := Points{N: 777, Dims: 4, Clusters: 3, Seed: 5}
	var buf bytes.Buffer
	if err := p.WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	path := writeFile(t, "points.csv", buf.String())
	want := p.Generate(0, p.N)
	for _, parts := range []int{1, 3, 8} {
		var got []float64
		for part := range parts {
			data, dims, err := ReadPoints(path, part, parts)
			if err != nil {
				t.Fatal(err)
			}
			if len(data) > 0 && dims != 4 {
				t.Fatalf("part %d: %d dims, want 4", part, dims)
			}
			got = append(got, data...)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%d parts: the points read differ from those written", parts)
		}
	}
	head, dims, err := HeadPoints(path, 5)
	if err != nil || dims != 4 || !slices.Equal(head, want[:20]) {
		t.Errorf("HeadPoints(5) = %v, %d, %v; want the first 5 points", head, dims, err)
	}
}

func TestReadPointsFormat(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    []float64
		dims    int
		err     string
	}{
		{"header and comments", "x,y\n# a comment\n1,2\n\n% another\n3, 4\n", []float64{1, 2, 3, 4}, 2, ""},
		{"crlf", "1.5,2e3\r\n-3,4\r\n", []float64{1.5, 2000, -3, 4}, 2, ""},
		{"one column", "1\n2\n3", []float64{1, 2, 3}, 1, ""},
		{"empty", "", nil, 0, ""},
		{"ragged", "1,2\n3\n", nil, 0, "has 1 coordinates, want 2"},
		{"not a number", "1,2\n3,x\n", nil, 0, `"x" is not a number`},
		{"nan", "1,2\nNaN,1\n", nil, 0, "not a finite number"},
		{"infinity", "1,+Inf\n", nil, 0, "not a finite number"},
		{"header later", "1,2\na,b\n", nil, 0, `"a" is not a number`},
		// A first line with a number in it is data, not a header: its mistake is said,
		// not dropped with the line.
		{"not a header", "1e,2,3\n4,5,6\n7,8,9\n", nil, 0, `line at byte 0: "1e" is not a number`},
		{"a header of words", "x, y ,z\n4,5,6\n", []float64{4, 5, 6}, 3, ""},
	}
	for _, tt := range tests {
		path := writeFile(t, "p.csv", tt.content)
		got, dims, err := ReadPoints(path, 0, 1)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: got error %v, want %q", tt.name, err, tt.err)
			}
			continue
		}
		if err != nil || dims != tt.dims || !slices.Equal(got, tt.want) {
			t.Errorf("%s: got %v, %d, %v; want %v, %d", tt.name, got, dims, err, tt.want, tt.dims)
		}
	}
}

// TestReadPointsErrorsQuoteLittle: a binary file read as points gets an error that
// quotes a short, escaped excerpt; a missing relative path says where it was looked for.
func TestReadPointsErrorsQuoteLittle(t *testing.T) {
	junk := make([]byte, 4000)
	for i := range junk {
		junk[i] = byte(i*7 + 1)
		if junk[i] == '\n' || junk[i] == ',' {
			junk[i] = 0xff
		}
	}
	_, _, err := ReadPoints(writeFile(t, "junk.csv", "1,2\n"+string(junk)+"\n"), 0, 1)
	if err == nil || len(err.Error()) > 300 || !strings.Contains(err.Error(), "(4000 bytes)") {
		t.Errorf("a binary line: %d bytes of error: %.300v", len(fmt.Sprint(err)), err)
	}
	_, err = OpenFile("no/such/points.csv")
	wd, _ := os.Getwd()
	if err == nil || !strings.Contains(err.Error(), "relative path") || !strings.Contains(err.Error(), wd) {
		t.Errorf("a missing relative path: %v", err)
	}
}
