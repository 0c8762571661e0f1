package dataset

import (
	"os"
	"path/filepath"
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

// inParts makes n items in parts blocks, as the ranks of a flare would, with gen, and
// joins the blocks in order.
func inParts[T any](n int64, parts int, gen func(lo, hi int64) []T) []T {
	var joined []T
	for part := range parts {
		lo, hi := Split(n, parts, part)
		joined = append(joined, gen(lo, hi)...)
	}
	return joined
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

func TestOpenPart(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, "f.txt", "0123456789")
	tests := []struct {
		name        string
		path        string
		part, parts int
		want        string
	}{
		{"file", file, 1, 2, ""},
		{"missing", filepath.Join(dir, "nope.txt"), 0, 1, "no such file"},
		{"directory", dir, 0, 1, "not a regular file"},
		{"part past the end", file, 2, 2, "part 2 of 2"},
		{"negative part", file, -1, 2, "part -1 of 2"},
		{"no parts", file, 0, 0, "part 0 of 0"},
	}
	for _, tt := range tests {
		f, size, err := openPart(tt.path, tt.part, tt.parts)
		if tt.want != "" {
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%s: got %v, want an error with %q", tt.name, err, tt.want)
			}
			continue
		}
		if err != nil || size != 10 {
			t.Errorf("%s: size %d, %v", tt.name, size, err)
		}
		f.Close()
	}
}
