package flaretest

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestTempFile(t *testing.T) {
	long := strings.Repeat("0123456789\n", 10000)
	tests := []struct {
		file string
		path func(t *testing.T, file string) string
		want string
	}{
		{"a.csv", func(t *testing.T, file string) string { return TempFile(t, file, "1,2\n") }, "1,2\n"},
		{"empty.txt", func(t *testing.T, file string) string { return TempFile(t, file, "") }, ""},
		{"written.txt", func(t *testing.T, file string) string {
			return TempFileOf(t, file, func(w io.Writer) error {
				_, err := io.WriteString(w, long)
				return err
			})
		}, long},
	}
	for _, tt := range tests {
		path := tt.path(t, tt.file)
		got, err := os.ReadFile(path)
		if err != nil || string(got) != tt.want || filepath.Base(path) != tt.file {
			t.Errorf("%s: %s holds %.20q, %v; want %.20q", tt.file, path, got, err, tt.want)
		}
	}
}

// fatalRecorder is a test that notes a fatal failure instead of failing.
type fatalRecorder struct {
	testing.TB
	fatal string
}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// A writer's error fails the test rather than leaving a short file unnoticed.
func TestTempFileOfError(t *testing.T) {
	r := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		TempFileOf(r, "bad.txt", func(io.Writer) error { return errors.New("disk full") })
	}()
	<-done
	if !strings.Contains(r.fatal, "writing bad.txt: disk full") {
		t.Errorf("a failing writer ended the test with %q", r.fatal)
	}
}
