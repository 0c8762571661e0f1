package functions

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCheckInChild runs the test binary itself as `exe fn check PATH` (see TestMain).
func TestCheckInChild(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		path     func(t *testing.T) string
		want     error // nil for a plugin that passes
		wantText string
	}{
		{"hello", func(t *testing.T) string { return builtPlugin(t, helloSrc) }, nil, ""},
		{"no Burst", func(t *testing.T) string { return builtPlugin(t, noBurstSrc) }, ErrNoBurst, "want func Burst("},
		{"wrong signature", func(t *testing.T) string { return builtPlugin(t, badSigSrc) }, ErrBadSignature, "func(string) (string, error)"},
		{"random bytes", func(t *testing.T) string { return randomFile(t, 2048) }, ErrNotPlugin, ""},
		{"Go program", func(t *testing.T) string { return goProgram(t) }, ErrNotPlugin, "-buildmode=exe"},
		{"-trimpath toggled", func(t *testing.T) string { return trimpathMismatch(t) }, ErrMismatch, "-trimpath"},
		// The panic kills the child, not this process.
		{"init panics", func(t *testing.T) string { return builtPlugin(t, initPanicSrc) }, ErrLoad, "no report: panic: initpanic: refusing to start | goroutine 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.path(t)
			info, err := CheckInChild(t.Context(), exe, path)
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				want, err := Inspect(path)
				if err != nil {
					t.Fatal(err)
				}
				if info.Digest != want.Digest || info.GoVersion != want.GoVersion || info.Path != want.Path ||
					fmt.Sprint(info.Settings) != fmt.Sprint(want.Settings) || fmt.Sprint(info.Deps) != fmt.Sprint(want.Deps) {
					t.Errorf("info from the child\n%+v\nwant, as Inspect gives it,\n%+v", info, want)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("CheckInChild: %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("CheckInChild: %q does not say %q", err, tt.wantText)
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		_, err := CheckInChild(t.Context(), exe, filepath.Join(t.TempDir(), "gone.so"))
		if err == nil || ErrorCode(err) != "internal" || !strings.Contains(err.Error(), "no such file") {
			t.Fatalf("CheckInChild: %v (code %q), want an internal error about the missing file", err, ErrorCode(err))
		}
	})
}

// TestCheckInChildMisbehaves runs stand-in children that hang, crash or talk too much.
func TestCheckInChildMisbehaves(t *testing.T) {
	defer func(d time.Duration) { checkTimeout = d }(checkTimeout)
	checkTimeout = 300 * time.Millisecond
	report := `{"ok":false,"code":"mismatch","message":"plugin does not match this binary (plugin vs host): -trimpath true vs false"}`
	tests := []struct {
		name     string
		script   string
		ctx      func(t *testing.T) context.Context
		want     error // a sentinel, or a context error
		wantCode string
		wantText string
	}{
		{name: "hangs", script: "exec sleep 60", want: ErrLoad, wantText: "did not finish within 300ms"},
		{name: "caller gives up", script: "exec sleep 60", ctx: func(t *testing.T) context.Context {
			ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
			t.Cleanup(cancel)
			return ctx
		}, want: context.DeadlineExceeded, wantCode: "internal"},
		{name: "crashes", script: "echo 'fatal error: out of memory' >&2; echo 'goroutine 1' >&2; exit 2", want: ErrLoad, wantText: "ended with exit status 2 and no report: fatal error: out of memory | goroutine 1"},
		{name: "talks before its report", script: "echo hello from init; echo '{\"not\":\"a report\"}'; echo '" + report + "'; echo bye; exit 1",
			want: ErrMismatch, wantText: "-trimpath true vs false"},
		{name: "succeeds without info", script: `echo '{"ok":true}'`, want: ErrLoad, wantText: "without info"},
		{name: "says nothing", script: "exit 0", wantCode: "internal", wantText: "printed no report"},
		{name: "unknown code", script: `echo '{"ok":false,"code":"weird","message":"store is down"}'; exit 1`, wantCode: "internal", wantText: "store is down"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exe := filepath.Join(t.TempDir(), "burst")
			if err := os.WriteFile(exe, []byte("#!/bin/sh\n"+tt.script+"\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			ctx := t.Context()
			if tt.ctx != nil {
				ctx = tt.ctx(t)
			}
			_, err := CheckInChild(ctx, exe, "f.so")
			if err == nil {
				t.Fatal("CheckInChild succeeded")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("CheckInChild: %v, want %v", err, tt.want)
			}
			if tt.wantCode != "" && ErrorCode(err) != tt.wantCode {
				t.Errorf("CheckInChild: %v has code %q, want %q", err, ErrorCode(err), tt.wantCode)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("CheckInChild: %q does not say %q", err, tt.wantText)
			}
		})
	}
	t.Run("no such program", func(t *testing.T) {
		_, err := CheckInChild(t.Context(), filepath.Join(t.TempDir(), "nothing"), "f.so")
		if !errors.Is(err, os.ErrNotExist) || ErrorCode(err) != "internal" {
			t.Fatalf("CheckInChild: %v, want an internal not-exist error", err)
		}
	})
}

func TestCheckReport(t *testing.T) {
	info := Info{Digest: strings.Repeat("ab", 32), GoVersion: "go1.26.8", Path: "command-line-arguments",
		Settings: map[string]string{"-buildmode": "plugin"}, Deps: map[string]string{"example.com/m": "v1.0.0"}}
	tests := []struct {
		name     string
		info     Info
		err      error
		wantLine string
	}{
		{"ok", info, nil, `{"ok":true,"info":{"digest":"` + info.Digest + `","go_version":"go1.26.8","path":"command-line-arguments","settings":{"-buildmode":"plugin"},"deps":{"example.com/m":"v1.0.0"}}}`},
		{"not a plugin", Info{}, fmt.Errorf("%w: unrecognized file format", ErrNotPlugin), `{"ok":false,"code":"not_plugin","message":"not a Go plugin: unrecognized file format"}`},
		{"no Burst", info, fmt.Errorf("%w: f.so", ErrNoBurst), ""},
		{"mismatch", info, fmt.Errorf("%w: go version go1.25.0 vs go1.26.8", ErrMismatch), ""},
		{"bad signature", info, fmt.Errorf("%w: Burst is func()", ErrBadSignature), ""},
		{"load", info, fmt.Errorf("%w: plugin already loaded", ErrLoad), ""},
		{"internal", Info{}, errors.New("functions: inspect plugin: open f.so: permission denied"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			line, err := json.Marshal(NewCheckReport(tt.info, tt.err))
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantLine != "" && string(line) != tt.wantLine {
				t.Errorf("report\n got %s\nwant %s", line, tt.wantLine)
			}
			var r CheckReport
			if err := json.Unmarshal(line, &r); err != nil {
				t.Fatal(err)
			}
			got := r.Err()
			if tt.err == nil {
				if got != nil || r.Info == nil || r.Info.Digest != info.Digest {
					t.Errorf("back from JSON: %v, %+v; want no error and the info", got, r.Info)
				}
				return
			}
			if got == nil || got.Error() != tt.err.Error() || ErrorCode(got) != ErrorCode(tt.err) {
				t.Errorf("back from JSON: %v (code %q), want %v (code %q)", got, ErrorCode(got), tt.err, ErrorCode(tt.err))
			}
		})
	}
}

func TestWriteCheck(t *testing.T) {
	tests := []struct {
		src  string
		want error
		code string
	}{
		{helloSrc, nil, ""},
		{badSigSrc, ErrBadSignature, "bad_signature"},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		err := WriteCheck(&out, builtPlugin(t, tt.src))
		if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("%s: WriteCheck: %v, want %v", tt.src, err, tt.want)
		}
		if n := strings.Count(out.String(), "\n"); n != 1 || !strings.HasSuffix(out.String(), "\n") {
			t.Errorf("%s: wrote %q, want one line", tt.src, out.String())
		}
		var r CheckReport
		if err := json.Unmarshal(out.Bytes(), &r); err != nil {
			t.Fatalf("%s: %v", tt.src, err)
		}
		if r.OK != (tt.want == nil) || r.Code != tt.code || r.Info == nil {
			t.Errorf("%s: report %+v, want ok %v, code %q and the info", tt.src, r, tt.want == nil, tt.code)
		}
	}
}

func TestTailBuffer(t *testing.T) {
	tests := []struct {
		writes []string
		want   string
	}{
		{[]string{"ab", "cd"}, "abcd"},
		{[]string{"abc", "def", "g"}, "cdefg"},
		{[]string{"abcdefgh"}, "defgh"},
		{[]string{"abcd", "efghij"}, "fghij"},
		{nil, ""},
	}
	for _, tt := range tests {
		b := &tailBuffer{max: 5}
		for _, w := range tt.writes {
			if n, err := b.Write([]byte(w)); n != len(w) || err != nil {
				t.Errorf("Write(%q) = %d, %v", w, n, err)
			}
		}
		if got := string(b.Bytes()); got != tt.want {
			t.Errorf("after %q kept %q, want %q", tt.writes, got, tt.want)
		}
	}
}

func TestHeadBuffer(t *testing.T) {
	b := &headBuffer{max: 5}
	for _, w := range []string{"abc", "def", "ghi"} {
		if n, err := b.Write([]byte(w)); n != len(w) || err != nil {
			t.Errorf("Write(%q) = %d, %v", w, n, err)
		}
	}
	if got := string(b.Bytes()); got != "abcde" {
		t.Errorf("kept %q, want abcde", got)
	}
}

func TestLastReport(t *testing.T) {
	tests := []struct {
		out    string
		ok     bool
		wantOK bool // the report's own ok field
	}{
		{`{"ok":true,"info":{"digest":"x"}}` + "\n", true, true},
		{"init says hi\n{\"ok\":false,\"code\":\"no_burst\"}\n\ntrailing words\n", true, false},
		{`{"ok":true}` + "\n" + `{"ok":false,"code":"mismatch"}`, true, false},
		{`{"status":"fine"}`, false, false},
		{`{"ok":tru`, false, false},
		{"", false, false},
	}
	for _, tt := range tests {
		r, ok := lastReport([]byte(tt.out))
		if ok != tt.ok || r.OK != tt.wantOK {
			t.Errorf("lastReport(%q) = %+v, %v; want ok %v, found %v", tt.out, r, ok, tt.wantOK, tt.ok)
		}
	}
}

// BenchmarkCheckInChild measures what registration pays to check a plugin: a child
// process that inspects and opens it.
func BenchmarkCheckInChild(b *testing.B) {
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	path := builtPlugin(b, helloSrc)
	for b.Loop() {
		if _, err := CheckInChild(b.Context(), exe, path); err != nil {
			b.Fatal(err)
		}
	}
}
