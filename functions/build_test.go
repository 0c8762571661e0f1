package functions

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
)

func TestBuildRefuses(t *testing.T) {
	withC := t.TempDir()
	writeFiles(t, withC, map[string]string{
		"main.go": "package main\n\nimport \"C\"\n\nfunc main() {}\n",
		"lib.c":   "int answer(void) { return 42; }\n",
	})
	outside := t.TempDir()
	writeFiles(t, outside, map[string]string{
		"main.go": "package main\n\nimport _ \"github.com/burstgo/burst/comm\"\n\nfunc main() {}\n",
	})
	tests := []struct {
		name string
		dir  string
		want string
	}{
		{"outside any module", outside, "must sit in a Go module"},
		{"not package main", "examples/hello", "package hello, want package main"},
		{"no Go files", t.TempDir(), "no Go files"},
		{"no directory", filepath.Join(t.TempDir(), "gone"), "gone"},
		{"C files", withC, "only Go files can be built from a file list, found lib.c"},
		// The compiler's own words come back.
		{"compile error", "testdata/broken", "undefined: undefinedThing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "f.so")
			err := Build(t.Context(), tt.dir, out)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Build: %v, want an error saying %q", err, tt.want)
			}
			if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a failed build left %s behind (%v)", out, err)
			}
		})
	}
}

func TestBuildCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := Build(ctx, noBurstSrc, filepath.Join(t.TempDir(), "f.so"))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Build with a cancelled context: %v, want context.Canceled", err)
	}
}

// TestBuildRelativeOut checks that out is taken from the caller's directory, not from
// dir, where the go command runs.
func TestBuildRelativeOut(t *testing.T) {
	src, err := filepath.Abs(noBurstSrc)
	if err != nil {
		t.Fatal(err)
	}
	wd := t.TempDir()
	t.Chdir(wd)
	if err := Build(t.Context(), src, "rel.so"); err != nil {
		t.Fatal(err)
	}
	if _, err := Inspect(filepath.Join(wd, "rel.so")); err != nil {
		t.Errorf("the plugin in the caller's directory: %v", err)
	}
}

func TestSourceFiles(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"main.go":      "package main\n\nfunc main() {}\n",
		"burst.go":     "package main\n\nfunc Burst() {}\n",
		"main_test.go": "package main\n",
		"ignored.go":   "//go:build ignore\n\npackage main\n",
		"other_os.go":  "//go:build plan9\n\npackage main\n",
		"tagged.go":    "//go:build burstextra\n\npackage main\n",
		"notes.txt":    "not Go\n",
	})
	tests := []struct {
		tags string
		want []string
	}{
		{"", []string{"burst.go", "main.go"}},
		{"burstextra", []string{"burst.go", "main.go", "tagged.go"}},
	}
	for _, tt := range tests {
		host := testHost()
		if tt.tags != "" {
			setSetting(host, "-tags", tt.tags)
		}
		got, err := sourceFiles(host, dir)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(got)
		if !slices.Equal(got, tt.want) {
			t.Errorf("tags %q: files %v, want %v", tt.tags, got, tt.want)
		}
	}
}

func TestBuildFlags(t *testing.T) {
	profile := filepath.Join(t.TempDir(), "default.pgo")
	writeFiles(t, filepath.Dir(profile), map[string]string{"default.pgo": ""})
	tests := []struct {
		name    string
		host    func(*debug.BuildInfo)
		want    []string
		not     []string
		wantErr string
	}{
		{name: "defaults", want: []string{"-trimpath=false", "-tags=", "-gcflags=", "-asmflags=", "-compiler=gc", "-pgo=off"}, not: []string{"-race"}},
		{name: "trimpath", host: func(bi *debug.BuildInfo) { setSetting(bi, "-trimpath", "true") }, want: []string{"-trimpath=true"}},
		{name: "tags and gcflags", host: func(bi *debug.BuildInfo) {
			setSetting(bi, "-tags", "netgo,osusergo")
			setSetting(bi, "-gcflags", "all=-N -l")
		}, want: []string{"-tags=netgo,osusergo", "-gcflags=all=-N -l"}},
		{name: "race", host: func(bi *debug.BuildInfo) { setSetting(bi, "-race", "true") }, want: []string{"-race"}},
		{name: "link flags stay out", host: func(bi *debug.BuildInfo) { setSetting(bi, "-ldflags", "-X main.version=1") }, not: []string{"-ldflags=-X main.version=1"}},
		{name: "profile", host: func(bi *debug.BuildInfo) { setSetting(bi, "-pgo", profile) }, want: []string{"-pgo=" + profile}},
		{name: "profile gone", host: func(bi *debug.BuildInfo) { setSetting(bi, "-pgo", profile+".gone") }, wantErr: "profile"},
		{name: "profile trimmed", host: func(bi *debug.BuildInfo) { setSetting(bi, "-pgo", "default.pgo") }, wantErr: "not here"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host := testHost()
			if tt.host != nil {
				tt.host(host)
			}
			got, err := buildFlags(host)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("buildFlags: %v, want an error saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !slices.Contains(got, w) {
					t.Errorf("flags %q lack %q", got, w)
				}
			}
			for _, n := range tt.not {
				if slices.Contains(got, n) {
					t.Errorf("flags %q hold %q", got, n)
				}
			}
		})
	}
}

func TestBuildEnv(t *testing.T) {
	host := testHost()
	setSetting(host, "CGO_CFLAGS", "-O2")
	setSetting(host, "GOEXPERIMENT", "arenas")
	setSetting(host, "DefaultGODEBUG", "panicnil=1")
	env := buildEnv(host)
	for _, w := range []string{"GOTOOLCHAIN=local", "CGO_ENABLED=1", "CGO_CFLAGS=-O2", "GOOS=linux", "GOARCH=amd64", "GOAMD64=v1", "GOEXPERIMENT=arenas"} {
		if !slices.Contains(env, w) {
			t.Errorf("env %q lacks %q", env, w)
		}
	}
	for _, e := range env {
		if strings.HasPrefix(e, "-") || strings.HasPrefix(e, "DefaultGODEBUG") {
			t.Errorf("env %q holds %q, which is no environment variable", env, e)
		}
	}
	// The host's GOEXPERIMENT comes after the default, and the last one wins.
	if i, j := slices.Index(env, "GOEXPERIMENT="), slices.Index(env, "GOEXPERIMENT=arenas"); i > j {
		t.Errorf("env %q: the default GOEXPERIMENT comes after the host's", env)
	}
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
