package dataset

import (
	"fmt"
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

// writeFile writes content to a file in a test's temporary directory and opens it.
func writeFile(t *testing.T, name, content string) *File {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return open(t, path)
}

// open opens the file at path for a test.
func open(t *testing.T, path string) *File {
	t.Helper()
	f, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestOpenFile(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, "f.txt", "0123456789").Name()
	tests := []struct {
		name string
		path string
		want string
	}{
		{"file", file, ""},
		{"missing", filepath.Join(dir, "nope.txt"), "no such file"},
		{"relative", "nope.txt", "a relative path, from the worker's directory"},
		{"directory", dir, "not a regular file"},
	}
	for _, tt := range tests {
		f, err := OpenFile(tt.path)
		if tt.want != "" {
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%s: got %v, want an error with %q", tt.name, err, tt.want)
			}
			continue
		}
		if err != nil || f.Size() != 10 || f.Name() != file {
			t.Fatalf("%s: %v", tt.name, err)
		}
		f.Close()
	}
	src := writeFile(t, "g.txt", "0123456789")
	for _, parts := range [][2]int{{2, 2}, {-1, 2}, {0, 0}} {
		want := fmt.Sprintf("part %d of %d", parts[0], parts[1])
		if _, _, err := ReadPoints(src, parts[0], parts[1]); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ReadPoints: got %v, want %q", err, want)
		}
		if _, err := ReadRecords(src, parts[0], parts[1]); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ReadRecords: got %v, want %q", err, want)
		}
	}
}
