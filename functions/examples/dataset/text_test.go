package dataset

import (
	"bytes"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
)

func TestReadLinesParts(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    []string
	}{
		{"empty", "", nil},
		{"one line no newline", "abc", []string{"abc"}},
		{"lines", "a\nbb\nccc\n", []string{"a", "bb", "ccc"}},
		{"crlf", "a\r\nbb\r\n\r\nc", []string{"a", "bb", "", "c"}},
		{"blank lines", "\n\n\nx\n\n", []string{"", "", "", "x", ""}},
		{"long line", strings.Repeat("x", 200000) + "\nshort\n", []string{strings.Repeat("x", 200000), "short"}},
		{"many", strings.Repeat("0123456789\n", 1000), slices.Repeat([]string{"0123456789"}, 1000)},
	}
	for _, tt := range tests {
		path := writeFile(t, "lines.txt", tt.content)
		for _, parts := range []int{1, 2, 3, 5, 8, 64} {
			var got []string
			var offsets []int64
			for part := range parts {
				err := readLines(path, part, parts, func(offset int64, line []byte) error {
					got = append(got, string(line))
					offsets = append(offsets, offset)
					return nil
				})
				if err != nil {
					t.Fatalf("%s, part %d of %d: %v", tt.name, part, parts, err)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("%s in %d parts: got %d lines %.40q, want %d lines %.40q", tt.name, parts, len(got), got, len(tt.want), tt.want)
			}
			for i, off := range offsets {
				if !strings.HasPrefix(tt.content[off:], got[i]) {
					t.Errorf("%s in %d parts: line %d at offset %d is not there", tt.name, parts, i, off)
				}
			}
		}
	}
}

func TestReadLinesErrors(t *testing.T) {
	long := writeFile(t, "long.txt", strings.Repeat("x", MaxLine+10))
	tests := []struct {
		name        string
		src         Source
		part, parts int
		want        string
	}{
		{"bad part", long, 2, 2, "part 2 of 2"},
		{"too long", long, 0, 1, "longer than"},
	}
	for _, tt := range tests {
		err := readLines(tt.src, tt.part, tt.parts, func(int64, []byte) error { return nil })
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want an error with %q", tt.name, err, tt.want)
		}
	}
}

func TestLineWriter(t *testing.T) {
	tests := []struct {
		name  string
		write func(lw *lineWriter)
		want  string
	}{
		{"nothing", func(*lineWriter) {}, ""},
		{"floats", func(lw *lineWriter) {
			lw.floats([]float64{1, -2.5, 1e-300}, []float64{0.1})
			lw.floats([]float64{math.MaxFloat64})
		}, "1,-2.5,1e-300,0.1\n1.7976931348623157e+308\n"},
		{"empty rows", func(lw *lineWriter) { lw.floats(nil, []float64{3}, nil, []float64{4}) }, "3,4\n"},
		{"made lines", func(lw *lineWriter) {
			lw.line = append(lw.line, "# a"...)
			lw.end()
			lw.end()
			lw.floats([]float64{7})
		}, "# a\n\n7\n"},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		lw := newLineWriter(&buf)
		tt.write(lw)
		if err := lw.flush(); err != nil || buf.String() != tt.want {
			t.Errorf("%s: wrote %q, %v; want %q", tt.name, buf.String(), err, tt.want)
		}
	}
}

// failWriter takes n bytes, then fails.
type failWriter struct{ n int }

func (w *failWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		k := w.n
		w.n = 0
		return k, errors.New("disk full")
	}
	w.n -= len(p)
	return len(p), nil
}

// A write error, whether it comes while writing or when flushing, is what flush returns.
func TestLineWriterError(t *testing.T) {
	for _, tt := range []struct{ lines, n int }{{1, 0}, {100000, 100}} {
		lw := newLineWriter(&failWriter{n: tt.n})
		for range tt.lines {
			lw.floats([]float64{1.25, 2.5})
		}
		if err := lw.flush(); err == nil || !strings.Contains(err.Error(), "dataset: disk full") {
			t.Errorf("%d lines: got %v, want the write error", tt.lines, err)
		}
	}
}
