package functions

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestMain doubles as `burst fn check PATH` when CheckInChild runs the test binary, so
// the child-process check is tested with the real code path. Plugins are built once per
// test binary into a directory removed at the end.
func TestMain(m *testing.M) {
	if len(os.Args) == 4 && os.Args[1] == "fn" && os.Args[2] == "check" {
		if err := WriteCheck(os.Stdout, os.Args[3]); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	var err error
	pluginDir, err = os.MkdirTemp("", "burst-functions-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(pluginDir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutines left behind:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// pluginDir holds the plugins the tests build.
var pluginDir string

// Sources of the test plugins, relative to the package directory.
const (
	helloSrc     = "examples/hello/plugin"
	sleepSrc     = "examples/sleep/plugin"
	helloV2Src   = "testdata/hellov2"
	noBurstSrc   = "testdata/noburst"
	badSigSrc    = "testdata/badsig"
	burstVarSrc  = "testdata/burstvar"
	initPanicSrc = "testdata/initpanic"
)

var builds sync.Map // source → func() (string, error)

// builtPlugin returns the plugin built from src with Build, building it on first use.
func builtPlugin(t testing.TB, src string) string {
	t.Helper()
	once, _ := builds.LoadOrStore(src, sync.OnceValues(func() (string, error) {
		// One file per source: plugin.Open caches plugins by path.
		out := filepath.Join(pluginDir, strings.ReplaceAll(src, "/", "_")+".so")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		return out, Build(ctx, src, out)
	}))
	out, err := once.(func() (string, error))()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var otherBuilds sync.Map // name → func() (string, error)

// goBuilt returns the output of `go build ARGS -o OUT .` in src, built once per name: a
// plugin built unlike the host, or a program that is no plugin.
func goBuilt(t testing.TB, name, src string, args ...string) string {
	t.Helper()
	once, _ := otherBuilds.LoadOrStore(name, sync.OnceValues(func() (string, error) {
		out := filepath.Join(pluginDir, name)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", append(append([]string{"build"}, args...), "-o", out, ".")...)
		cmd.Dir = src
		if b, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("go build %v in %s: %w\n%s", args, src, err, b)
		}
		return out, nil
	}))
	out, err := once.(func() (string, error))()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// trimpathMismatch returns a plugin built with -trimpath the other way round from this
// test binary: loading it would fail, so Inspect, Load and the check must refuse it.
func trimpathMismatch(t testing.TB) string {
	t.Helper()
	host, err := hostBuildInfo()
	if err != nil {
		t.Fatal(err)
	}
	flip := "-trimpath=true"
	if setting(host, "-trimpath") == "true" {
		flip = "-trimpath=false"
	}
	// A plugin of the standard library only: the mismatch shows as well and builds faster.
	return goBuilt(t, "trimpath.so", noBurstSrc, "-buildmode=plugin", flip)
}

// goProgram returns a Go executable that is not a plugin.
func goProgram(t testing.TB) string {
	t.Helper()
	return goBuilt(t, "program", noBurstSrc)
}

// randomFile returns a file of n random bytes.
func randomFile(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	p := filepath.Join(t.TempDir(), "random.so")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
