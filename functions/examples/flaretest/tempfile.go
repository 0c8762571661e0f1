package flaretest

import (
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TempFile writes content to a file called name in the test's temporary directory and
// returns its path: an input file for a function that reads one.
func TempFile(tb testing.TB, name, content string) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		tb.Fatal(err)
	}
	return path
}

// TempFileOf is TempFile with the content written by write, such as a dataset's
// writer, so that a large file need not be built in memory first.
func TempFileOf(tb testing.TB, name string, write func(w io.Writer) error) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), name)
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	err = write(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		tb.Fatalf("writing %s: %v", name, err)
	}
	return path
}
