package functions

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestInspectHello(t *testing.T) {
	path := builtPlugin(t, helloSrc)
	info, err := Inspect(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	host, _ := hostBuildInfo()
	checks := []struct {
		what      string
		got, want string
	}{
		{"digest", info.Digest, hex.EncodeToString(sum[:])},
		{"go version", info.GoVersion, runtime.Version()},
		{"path", info.Path, "command-line-arguments"},
		{"-buildmode", info.Settings["-buildmode"], "plugin"},
		{"-trimpath", info.Settings["-trimpath"], setting(host, "-trimpath")},
		{"CGO_ENABLED", info.Settings["CGO_ENABLED"], setting(host, "CGO_ENABLED")},
		{"GOARCH", info.Settings["GOARCH"], runtime.GOARCH},
		// A test binary records no dependencies, so go.mod says what the version is.
		{"nats.go", info.Deps["github.com/nats-io/nats.go"], required(t, "github.com/nats-io/nats.go")},
		{"burst", info.Deps["github.com/burstgo/burst"], "(devel)"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.what, c.got, c.want)
		}
	}
}

func TestInspectRefuses(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "empty.so")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		path     func(t *testing.T) string
		want     error
		wantText string
	}{
		{"random bytes", func(t *testing.T) string { return randomFile(t, 4096) }, ErrNotPlugin, ""},
		{"empty file", func(*testing.T) string { return empty }, ErrNotPlugin, ""},
		{"ELF not built by Go", func(t *testing.T) string { return elfNotGo(t) }, ErrNotPlugin, "not a Go executable"},
		{"Go program", func(t *testing.T) string { return goProgram(t) }, ErrNotPlugin, "-buildmode=exe"},
		{"-trimpath toggled", func(t *testing.T) string { return trimpathMismatch(t) }, ErrMismatch, "-trimpath"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.path(t)
			info, err := Inspect(path)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Inspect: %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("Inspect: %q does not say %q", err, tt.wantText)
			}
			if len(info.Digest) != 64 {
				t.Errorf("digest %q of a readable file, want 64 hex digits", info.Digest)
			}
		})
	}
}

func TestInspectMissingFile(t *testing.T) {
	_, err := Inspect(filepath.Join(t.TempDir(), "nothing.so"))
	if !errors.Is(err, os.ErrNotExist) || ErrorCode(err) != "internal" {
		t.Fatalf("Inspect of a missing file: %v (code %q), want a not-exist error of code internal", err, ErrorCode(err))
	}
}

// required returns the version of module path that ../go.mod requires.
func required(t *testing.T, path string) string {
	b, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == path {
			return f[1]
		}
	}
	t.Fatalf("go.mod does not require %s", path)
	return ""
}

// elfNotGo returns an ELF executable that Go did not build.
func elfNotGo(t *testing.T) string {
	for _, p := range []string{"/bin/true", "/usr/bin/true", "/bin/sh"} {
		if b, err := os.ReadFile(p); err == nil && len(b) > 4 && string(b[:4]) == "\x7fELF" {
			return p
		}
	}
	t.Skip("no ELF executable outside Go here")
	return ""
}

// testHost is a host build info for the comparison tests.
func testHost() *debug.BuildInfo {
	return &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Path:      "github.com/burstgo/burst/cmd/burst",
		Main:      debug.Module{Path: "github.com/burstgo/burst", Version: "(devel)"},
		Deps: []*debug.Module{
			{Path: "github.com/nats-io/nats.go", Version: "v1.55.0", Sum: "h1:nats="},
			{Path: "golang.org/x/sys", Version: "v0.49.0", Sum: "h1:sys="},
			{Path: "example.com/forked", Version: "v1.0.0", Replace: &debug.Module{Path: "example.com/fork", Version: "v1.0.1", Sum: "h1:fork="}},
		},
		Settings: []debug.BuildSetting{
			{Key: "-buildmode", Value: "exe"},
			{Key: "-compiler", Value: "gc"},
			{Key: "CGO_ENABLED", Value: "1"},
			{Key: "GOARCH", Value: "amd64"},
			{Key: "GOOS", Value: "linux"},
			{Key: "GOAMD64", Value: "v1"},
		},
	}
}

// testPlugin is a plugin build info that matches testHost.
func testPlugin() *debug.BuildInfo {
	bi := testHost()
	bi.Path = "command-line-arguments"
	bi.Main = debug.Module{}
	bi.Deps = append([]*debug.Module{{Path: "github.com/burstgo/burst", Version: "(devel)"}}, testHost().Deps...)
	bi.Settings[0].Value = "plugin"
	return bi
}

func setSetting(bi *debug.BuildInfo, key, value string) {
	for i, s := range bi.Settings {
		if s.Key == key {
			bi.Settings[i].Value = value
			return
		}
	}
	bi.Settings = append(bi.Settings, debug.BuildSetting{Key: key, Value: value})
}

func dep(bi *debug.BuildInfo, path string) *debug.Module {
	for _, m := range bi.Deps {
		if m.Path == path {
			return m
		}
	}
	m := &debug.Module{Path: path}
	bi.Deps = append(bi.Deps, m)
	return m
}

func TestCompare(t *testing.T) {
	tests := []struct {
		name   string
		host   func(*debug.BuildInfo)
		plugin func(*debug.BuildInfo)
		want   []string // each must be named; none means a match
	}{
		{name: "same"},
		{name: "go version", plugin: func(bi *debug.BuildInfo) { bi.GoVersion = "go1.26.7" },
			want: []string{"go version go1.26.7 vs go1.26.8"}},
		{name: "plugin with -trimpath", plugin: func(bi *debug.BuildInfo) { setSetting(bi, "-trimpath", "true") },
			want: []string{"-trimpath true vs false"}},
		{name: "host with -trimpath", host: func(bi *debug.BuildInfo) { setSetting(bi, "-trimpath", "true") },
			want: []string{"-trimpath false vs true"}},
		{name: "cgo", plugin: func(bi *debug.BuildInfo) { setSetting(bi, "CGO_ENABLED", "0") },
			want: []string{"CGO_ENABLED 0 vs 1"}},
		{name: "GOOS and GOARCH", plugin: func(bi *debug.BuildInfo) { setSetting(bi, "GOOS", "darwin"); setSetting(bi, "GOARCH", "arm64") },
			want: []string{"GOOS darwin vs linux", "GOARCH arm64 vs amd64"}},
		{name: "arch level", plugin: func(bi *debug.BuildInfo) { setSetting(bi, "GOAMD64", "v3") },
			want: []string{"GOAMD64 v3 vs v1"}},
		{name: "arch level only in host", host: func(bi *debug.BuildInfo) { setSetting(bi, "GOARM64", "v8.0") },
			want: []string{"GOARM64 (none) vs v8.0"}},
		{name: "tags", plugin: func(bi *debug.BuildInfo) { setSetting(bi, "-tags", "netgo") },
			want: []string{"-tags netgo vs (none)"}},
		{name: "race", host: func(bi *debug.BuildInfo) { setSetting(bi, "-race", "true") },
			want: []string{"-race false vs true"}},
		{name: "gcflags", plugin: func(bi *debug.BuildInfo) { setSetting(bi, "-gcflags", "all=-N -l") },
			want: []string{"-gcflags all=-N -l vs (none)"}},
		{name: "experiment", plugin: func(bi *debug.BuildInfo) { setSetting(bi, "GOEXPERIMENT", "arenas") },
			want: []string{"GOEXPERIMENT arenas vs (none)"}},
		{name: "explicit default is the default", plugin: func(bi *debug.BuildInfo) { setSetting(bi, "-trimpath", "false"); setSetting(bi, "-compiler", "gc") }},
		{name: "link flags do not matter", plugin: func(bi *debug.BuildInfo) { setSetting(bi, "-ldflags", "-s -w") }},
		{name: "module version", plugin: func(bi *debug.BuildInfo) { dep(bi, "github.com/nats-io/nats.go").Version = "v1.54.0" },
			want: []string{"module github.com/nats-io/nats.go v1.54.0 vs v1.55.0"}},
		{name: "module checksum", plugin: func(bi *debug.BuildInfo) { dep(bi, "golang.org/x/sys").Sum = "h1:other=" },
			want: []string{"module golang.org/x/sys v0.49.0: checksum h1:other= vs h1:sys="}},
		{name: "replacement", plugin: func(bi *debug.BuildInfo) { dep(bi, "example.com/forked").Replace = nil },
			want: []string{"module example.com/forked v1.0.0 vs => example.com/fork v1.0.1"}},
		{name: "module only in the plugin", plugin: func(bi *debug.BuildInfo) { dep(bi, "example.com/extra").Version = "v0.1.0" }},
		{name: "development builds are not compared", plugin: func(bi *debug.BuildInfo) { dep(bi, "github.com/burstgo/burst").Version = "v1.0.0" }},
		{name: "directory replacement is not compared", plugin: func(bi *debug.BuildInfo) {
			dep(bi, "golang.org/x/sys").Replace = &debug.Module{Path: "../sys"}
		}},
		{name: "released host against released plugin",
			host:   func(bi *debug.BuildInfo) { bi.Main.Version = "v1.1.0" },
			plugin: func(bi *debug.BuildInfo) { dep(bi, "github.com/burstgo/burst").Version = "v1.0.0" },
			want:   []string{"module github.com/burstgo/burst v1.0.0 vs v1.1.0"}},
		{name: "every difference", plugin: func(bi *debug.BuildInfo) {
			bi.GoVersion = "go1.25.0"
			setSetting(bi, "-trimpath", "true")
			dep(bi, "golang.org/x/sys").Version = "v0.1.0"
		}, want: []string{"go version go1.25.0 vs go1.26.8", "-trimpath true vs false", "module golang.org/x/sys v0.1.0 vs v0.49.0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host, plugin := testHost(), testPlugin()
			if tt.host != nil {
				tt.host(host)
			}
			if tt.plugin != nil {
				tt.plugin(plugin)
			}
			err := compare(host, plugin)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("compare: %v, want a match", err)
				}
				return
			}
			if !errors.Is(err, ErrMismatch) {
				t.Fatalf("compare: %v, want ErrMismatch", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("compare: %q does not name %q", err, w)
				}
			}
		})
	}
}

func TestCheckPluginBuildmode(t *testing.T) {
	for _, mode := range []string{"exe", "pie", "c-shared", ""} {
		bi := testPlugin()
		setSetting(bi, "-buildmode", mode)
		if err := checkPlugin(bi); !errors.Is(err, ErrNotPlugin) {
			t.Errorf("-buildmode=%q: %v, want ErrNotPlugin", mode, err)
		}
	}
}

// BenchmarkInspect measures reading a plugin's build info and digest.
func BenchmarkInspect(b *testing.B) {
	path := builtPlugin(b, helloSrc)
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(st.Size())
	for b.Loop() {
		if _, err := Inspect(path); err != nil {
			b.Fatal(err)
		}
	}
}
