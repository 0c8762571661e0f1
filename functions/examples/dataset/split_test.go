package dataset

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestSplit(t *testing.T) {
	tests := []struct {
		n     int64
		parts int
	}{
		{0, 1}, {1, 1}, {1, 4}, {10, 3}, {100, 7}, {1 << 40, 1<<31 - 1}, {1<<62 + 5, 9},
	}
	for _, tt := range tests {
		var next int64
		var smallest, largest int64 = 1 << 62, -1
		for part := range min(tt.parts, 1000) {
			lo, hi := Split(tt.n, tt.parts, part)
			if lo != next || hi < lo {
				t.Fatalf("Split(%d, %d, %d) = [%d, %d), want to start at %d", tt.n, tt.parts, part, lo, hi, next)
			}
			next = hi
			smallest, largest = min(smallest, hi-lo), max(largest, hi-lo)
		}
		if tt.parts <= 1000 && next != tt.n {
			t.Errorf("Split(%d, %d, ·) ends at %d", tt.n, tt.parts, next)
		}
		if largest-smallest > 1 {
			t.Errorf("Split(%d, %d, ·): shares of %d to %d items", tt.n, tt.parts, smallest, largest)
		}
		if _, hi := Split(tt.n, tt.parts, tt.parts-1); hi != tt.n {
			t.Errorf("Split(%d, %d, last) ends at %d", tt.n, tt.parts, hi)
		}
	}
}

// writeFile writes content to a file in a test's temporary directory.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

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
	dir := t.TempDir()
	long := writeFile(t, "long.txt", strings.Repeat("x", MaxLine+10))
	tests := []struct {
		name        string
		path        string
		part, parts int
		want        string
	}{
		{"missing", filepath.Join(dir, "nope.txt"), 0, 1, "no such file"},
		{"directory", dir, 0, 1, "not a regular file"},
		{"bad part", long, 2, 2, "part 2 of 2"},
		{"no parts", long, 0, 0, "part 0 of 0"},
		{"too long", long, 0, 1, "longer than"},
	}
	for _, tt := range tests {
		err := readLines(tt.path, tt.part, tt.parts, func(int64, []byte) error { return nil })
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want an error with %q", tt.name, err, tt.want)
		}
	}
}
