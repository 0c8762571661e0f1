package functions

import (
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
)

// Info is what registration learns from a plugin file before loading it.
type Info struct {
	// Digest is the SHA-256 of the file, in hex: the plugin's name in the store.
	Digest string `json:"digest"`
	// GoVersion is the Go version that built the plugin, such as "go1.26.8".
	GoVersion string `json:"go_version"`
	// Path is the plugin's package path: "command-line-arguments" when it was built
	// from a file list, as Build does.
	Path string `json:"path"`
	// Settings are the plugin's build settings (-buildmode, -trimpath, CGO_ENABLED,
	// GOOS, GOARCH...).
	Settings map[string]string `json:"settings"`
	// Deps maps each module the plugin was built with to its version, after
	// replacements.
	Deps map[string]string `json:"deps"`
}

// Inspect reads the build info of the plugin at path without loading it and compares it
// with this binary's: the Go version, the build settings that change compiled packages
// and the version of every module both depend on. It returns an error wrapping
// ErrNotPlugin if the file is not a Go plugin and ErrMismatch, naming every difference,
// if this binary could not load it; in both cases the Info holds what could be read.
func Inspect(path string) (Info, error) {
	f, err := os.Open(path)
	if err != nil {
		return Info{}, fmt.Errorf("functions: inspect plugin: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return Info{}, fmt.Errorf("functions: inspect plugin %s: %w", path, err)
	}
	info := Info{Digest: hex.EncodeToString(h.Sum(nil))}
	bi, err := buildinfo.Read(f)
	if err != nil {
		return info, fmt.Errorf("%w: %v", ErrNotPlugin, err)
	}
	info.GoVersion = bi.GoVersion
	info.Path = bi.Path
	info.Settings = make(map[string]string, len(bi.Settings))
	for _, s := range bi.Settings {
		info.Settings[s.Key] = s.Value
	}
	info.Deps = make(map[string]string, len(bi.Deps))
	for _, m := range bi.Deps {
		info.Deps[m.Path] = moduleVersion(m)
	}
	return info, checkPlugin(bi)
}

// checkPlugin checks that bi is a plugin's build info that this binary can load.
func checkPlugin(bi *debug.BuildInfo) error {
	if mode := setting(bi, "-buildmode"); mode != "plugin" {
		return fmt.Errorf("%w: a Go program built with -buildmode=%s", ErrNotPlugin, mode)
	}
	host, err := hostBuildInfo()
	if err != nil {
		return err
	}
	return compare(host, bi)
}

// hostBuildInfo is this binary's build info, read once.
var hostBuildInfo = sync.OnceValues(func() (*debug.BuildInfo, error) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return nil, errors.New("functions: this binary has no build info, so it cannot check or build plugins")
	}
	return bi, nil
})

// compared are the build settings that must be equal in the host and a plugin: they
// change how packages compile, and a package compiled two ways makes plugin.Open fail
// with "plugin was built with a different version of package ...". A missing setting
// means its default. Settings that only change linking (-ldflags) or cgo's C flags are
// not compared.
var compared = []struct{ key, def string }{
	{"-compiler", "gc"},
	{"-trimpath", "false"},
	{"-race", "false"},
	{"-msan", "false"},
	{"-asan", "false"},
	{"-tags", ""},
	{"-gcflags", ""},
	{"-asmflags", ""},
	{"-pgo", ""},
	{"CGO_ENABLED", ""},
	{"GOOS", ""},
	{"GOARCH", ""},
	{"GOEXPERIMENT", ""},
	{"GOFIPS140", ""},
}

// archLevel matches the settings that tune code for an architecture's level, such as
// GOAMD64 or GOARM64.
var archLevel = regexp.MustCompile(`^GO(386|AMD64|ARM|ARM64|MIPS|MIPS64|PPC64|RISCV64|WASM|LOONG64)$`)

// compare returns an error wrapping ErrMismatch that names every way plugin differs from
// host that matters for loading it, or nil.
func compare(host, plugin *debug.BuildInfo) error {
	var diffs []string
	if plugin.GoVersion != host.GoVersion {
		diffs = append(diffs, fmt.Sprintf("go version %s vs %s", plugin.GoVersion, host.GoVersion))
	}
	keys := slices.Clone(compared)
	for _, s := range append(settingKeys(host), settingKeys(plugin)...) {
		if archLevel.MatchString(s) {
			keys = append(keys, struct{ key, def string }{s, ""})
		}
	}
	seen := make(map[string]bool)
	for _, k := range keys {
		if seen[k.key] {
			continue
		}
		seen[k.key] = true
		pv, hv := settingOr(plugin, k.key, k.def), settingOr(host, k.key, k.def)
		if pv == hv {
			continue
		}
		if pv == "" {
			pv = "(none)"
		}
		if hv == "" {
			hv = "(none)"
		}
		diffs = append(diffs, fmt.Sprintf("%s %s vs %s", k.key, pv, hv))
	}
	hostMods := make(map[string]*debug.Module, len(host.Deps)+1)
	hostMods[host.Main.Path] = &host.Main
	for _, m := range host.Deps {
		hostMods[m.Path] = m
	}
	for _, m := range plugin.Deps {
		hm, ok := hostMods[m.Path]
		if !ok {
			continue
		}
		pv, hv := moduleVersion(m), moduleVersion(hm)
		// A development build or a replacement by a directory has no version to
		// compare; plugin.Open still catches a difference in the code itself.
		if !versioned(pv) || !versioned(hv) {
			continue
		}
		if pv != hv {
			diffs = append(diffs, fmt.Sprintf("module %s %s vs %s", m.Path, pv, hv))
			continue
		}
		if ps, hs := moduleSum(m), moduleSum(hm); ps != "" && hs != "" && ps != hs {
			diffs = append(diffs, fmt.Sprintf("module %s %s: checksum %s vs %s", m.Path, pv, ps, hs))
		}
	}
	if len(diffs) == 0 {
		return nil
	}
	return fmt.Errorf("%w (plugin vs host): %s", ErrMismatch, strings.Join(diffs, "; "))
}

// settingKeys returns the keys of bi's settings.
func settingKeys(bi *debug.BuildInfo) []string {
	keys := make([]string, len(bi.Settings))
	for i, s := range bi.Settings {
		keys[i] = s.Key
	}
	return keys
}

func setting(bi *debug.BuildInfo, key string) string { return settingOr(bi, key, "") }

func settingOr(bi *debug.BuildInfo, key, def string) string {
	for _, s := range bi.Settings {
		if s.Key == key {
			return s.Value
		}
	}
	return def
}

// moduleVersion is the version m was built with: its replacement's when it has one, a
// directory (a replacement without version) as "=> dir".
func moduleVersion(m *debug.Module) string {
	if r := m.Replace; r != nil {
		if r.Version == "" {
			return "=> " + r.Path
		}
		if r.Path != m.Path {
			return "=> " + r.Path + " " + r.Version
		}
		return r.Version
	}
	return m.Version
}

func moduleSum(m *debug.Module) string {
	if m.Replace != nil {
		return m.Replace.Sum
	}
	return m.Sum
}

// versioned reports whether v names a released or pseudo version, as opposed to a
// development build or a directory.
func versioned(v string) bool {
	return v != "" && v != "(devel)" && !strings.HasPrefix(v, "=> /") && !strings.HasPrefix(v, "=> .")
}
