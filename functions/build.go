package functions

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"go/build"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
)

// Build builds the Go function in dir, a `package main` that exports Burst, as a plugin
// at out that this binary can load. It uses the same toolchain (the go command of
// runtime.GOROOT(), else the one on PATH) and copies this binary's own build settings, as
// debug.ReadBuildInfo reports them (-trimpath, -tags, -gcflags, CGO_ENABLED, GOARCH...),
// rather than fixed flags: a plugin must be compiled exactly like the binary that loads
// it, and a binary from `go run` and a release binary differ.
//
// The plugin is built from the list of dir's Go files, `go build -buildmode=plugin -o out
// f1.go f2.go`, not from a package path: the go command then names the plugin after a
// hash of the files' content, so a new version of a function loads beside the old one in
// a running process, where two builds of one package path could not.
//
// Dependencies are resolved from dir's module, which must require this binary's modules
// at the same versions (a directory inside this binary's own module does). When the
// build fails, the error holds the compiler's output. Build checks the result as Inspect
// does and removes it if this binary could not load it.
func Build(ctx context.Context, dir, out string) error {
	host, err := hostBuildInfo()
	if err != nil {
		return err
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("functions: build: %w", err)
	}
	// The go command runs in dir, so a relative out must not move with it.
	out, err = filepath.Abs(out)
	if err != nil {
		return fmt.Errorf("functions: build: %w", err)
	}
	files, err := sourceFiles(host, dir)
	if err != nil {
		return err
	}
	goCmd, err := goCommand()
	if err != nil {
		return err
	}
	flags, err := buildFlags(host)
	if err != nil {
		return err
	}
	args := append([]string{"build", "-buildmode=plugin", "-o", out}, flags...)
	args = append(args, files...)
	cmd := exec.CommandContext(ctx, goCmd, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), buildEnv(host)...)
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("functions: build %s: %w", dir, ctx.Err())
		}
		msg := strings.TrimSpace(output.String())
		if strings.Contains(msg, "no required module provides") || strings.Contains(msg, "go.mod file not found") {
			msg += "\n(a function must sit in a Go module that requires this binary's modules at the same versions, such as the burst module itself)"
		}
		return fmt.Errorf("functions: build %s: %w:\n%s", dir, err, msg)
	}
	if _, err := Inspect(out); err != nil {
		os.Remove(out)
		return fmt.Errorf("functions: build %s: the plugin built is not loadable by this binary: %w", dir, err)
	}
	return nil
}

// sourceFiles lists the Go files of the package main in dir that the host's build
// settings select (build tags, GOOS, GOARCH, cgo), by their names in dir.
func sourceFiles(host *debug.BuildInfo, dir string) ([]string, error) {
	bctx := build.Default
	bctx.GOOS = settingOr(host, "GOOS", bctx.GOOS)
	bctx.GOARCH = settingOr(host, "GOARCH", bctx.GOARCH)
	bctx.CgoEnabled = setting(host, "CGO_ENABLED") == "1"
	if tags := setting(host, "-tags"); tags != "" {
		bctx.BuildTags = strings.Split(tags, ",")
	}
	pkg, err := bctx.ImportDir(dir, 0)
	if err != nil {
		var noGo *build.NoGoError
		if errors.As(err, &noGo) {
			return nil, fmt.Errorf("functions: build %s: no Go files for %s/%s", dir, bctx.GOOS, bctx.GOARCH)
		}
		return nil, fmt.Errorf("functions: build %s: %w", dir, err)
	}
	if pkg.Name != "main" {
		return nil, fmt.Errorf("functions: build %s: package %s, want package main (a function is a main package exporting Burst)", dir, pkg.Name)
	}
	if others := otherFiles(pkg); len(others) > 0 {
		return nil, fmt.Errorf("functions: build %s: only Go files can be built from a file list, found %s", dir, strings.Join(others, ", "))
	}
	return append(append([]string(nil), pkg.GoFiles...), pkg.CgoFiles...), nil
}

func otherFiles(pkg *build.Package) []string {
	var all []string
	for _, fs := range [][]string{pkg.CFiles, pkg.CXXFiles, pkg.MFiles, pkg.HFiles, pkg.FFiles, pkg.SFiles, pkg.SwigFiles, pkg.SwigCXXFiles, pkg.SysoFiles} {
		all = append(all, fs...)
	}
	return all
}

// goCommand finds the go command of the toolchain that built this binary, if it is still
// where it was, else the one on PATH; a different version shows as a mismatch once the
// plugin is built.
func goCommand() (string, error) {
	//lint:ignore SA1019 the build-time root is what is wanted: the toolchain that built this binary.
	if root := runtime.GOROOT(); root != "" {
		p := filepath.Join(root, "bin", "go")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	p, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("functions: build: no go command in GOROOT or PATH: %w", err)
	}
	return p, nil
}

// buildFlags are the go build flags that reproduce the host's settings. Each is given
// explicitly, even at its default, so that GOFLAGS in the environment cannot change it.
// -ldflags is left out: link flags do not change the compiled packages, and the host's
// may name symbols of its own main package.
func buildFlags(host *debug.BuildInfo) ([]string, error) {
	flags := []string{
		"-trimpath=" + settingOr(host, "-trimpath", "false"),
		"-tags=" + setting(host, "-tags"),
		"-gcflags=" + setting(host, "-gcflags"),
		"-asmflags=" + setting(host, "-asmflags"),
	}
	if c := setting(host, "-compiler"); c != "" {
		flags = append(flags, "-compiler="+c)
	}
	for _, b := range []string{"-race", "-msan", "-asan"} {
		if setting(host, b) == "true" {
			flags = append(flags, b)
		}
	}
	pgo := setting(host, "-pgo")
	switch {
	case pgo == "":
		// Without this the go command would pick up a default.pgo in dir.
		pgo = "off"
	case !filepath.IsAbs(pgo):
		return nil, fmt.Errorf("functions: build: this binary was built with the profile %s, which is not here to build plugins with", pgo)
	default:
		if _, err := os.Stat(pgo); err != nil {
			return nil, fmt.Errorf("functions: build: this binary was built with a profile that is not here to build plugins with: %w", err)
		}
	}
	return append(flags, "-pgo="+pgo), nil
}

// envSetting matches build settings that are environment variables.
var envSetting = regexp.MustCompile(`^(CGO_[A-Z]+|GO[A-Z0-9]+)$`)

// buildEnv is the environment that reproduces the host's settings: CGO_ENABLED, GOOS,
// GOARCH, GOAMD64, GOEXPERIMENT, the cgo flags... It also keeps the go command from
// switching to another toolchain that a go.mod asks for.
func buildEnv(host *debug.BuildInfo) []string {
	env := []string{"GOTOOLCHAIN=local", "GOEXPERIMENT="}
	for _, s := range host.Settings {
		if envSetting.MatchString(s.Key) {
			env = append(env, s.Key+"="+s.Value)
		}
	}
	return env
}
