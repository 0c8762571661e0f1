package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/burstgo/burst/invoker"
)

// TestMain doubles as `burst fn check PATH`: the gateway checks an uploaded plugin by
// running its own executable, which in these tests is this test binary. With
// asBinary=1 in its environment it is the burst binary, whole (processes.go).
func TestMain(m *testing.M) {
	if os.Getenv(asBinary) == "1" || invoker.IsHost(os.Args[1:]) {
		main()
	}
	if len(os.Args) > 1 && os.Args[1] == "fn" {
		os.Exit(run(context.Background(), os.Args[1:], nil, os.Stdout, os.Stderr))
	}
	code := m.Run()
	for _, dir := range []string{pluginDir, binaryDir} {
		if dir != "" {
			os.RemoveAll(dir)
		}
	}
	os.Exit(code)
}

// pluginDir holds the plugin helloPlugin builds.
var pluginDir string

// helloPlugin builds the hello example with `burst fn build`, once per test binary, and
// returns the plugin's path.
var helloPlugin = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "burst-cmd-test-")
	if err != nil {
		return "", err
	}
	pluginDir = dir
	so := filepath.Join(dir, "hello.so")
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"fn", "build", "../../functions/examples/hello/plugin", "-o", so}, nil, &out, &errOut); code != 0 {
		return "", fmt.Errorf("fn build: exit %d: %s", code, errOut.String())
	}
	if strings.TrimSpace(out.String()) != so {
		return "", fmt.Errorf("fn build printed %q, want the plugin's path", out.String())
	}
	return so, nil
})

func TestRun(t *testing.T) {
	random := filepath.Join(t.TempDir(), "random.so")
	os.WriteFile(random, []byte("not a plugin at all"), 0o644)
	tests := []struct {
		name   string
		args   []string
		env    []string
		code   int
		stdout string
		stderr string
	}{
		{"help", []string{"--help"}, nil, 0, "serve", ""},
		{"unknown command", []string{"fly"}, nil, 1, "", "unknown command"},
		{"check refuses", []string{"fn", "check", random}, nil, 1, `"code":"not_plugin"`, ""},
		{"check needs a path", []string{"fn", "check"}, nil, 1, "", "accepts 1 arg"},
		{"bad environment", []string{"serve"}, []string{"BURST_NATS_PORT=x"}, 2, "", "BURST_NATS_PORT"},
		// Help works whatever the environment, and names the bad variable.
		{"help with a bad environment", []string{"--help"}, []string{"BURST_NATS_PORT=x"}, 0, "serve", "BURST_NATS_PORT"},
		{"command help with a bad environment", []string{"serve", "--help"}, []string{"BURST_SLOTS=x", "BURST_INVOKER_SLOTS=y"}, 0, "--slots", "BURST_INVOKER_SLOTS"},
		// --join is another name of --nats: it reaches the same setting.
		{"join", []string{"invoker", "--join", "nats://127.0.0.1:1", "--slots", "0"}, nil, 1, "", "slots 0"},
		{"invoker needs a cluster", []string{"invoker"}, nil, 1, "", "--nats"},
		{"bad flag", []string{"serve", "--slots", "0"}, nil, 1, "", "slots 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(context.Background(), tt.args, tt.env, &out, &errOut)
			if code != tt.code || !strings.Contains(out.String(), tt.stdout) || !strings.Contains(errOut.String(), tt.stderr) {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d, %q, %q", code, out.String(), errOut.String(), tt.code, tt.stdout, tt.stderr)
			}
		})
	}
}

// TestInvokerHelp checks what `burst invoker --help` says of its flags: it embeds no
// server, and --join is not a flag of its own.
func TestInvokerHelp(t *testing.T) {
	var out bytes.Buffer
	if code := run(context.Background(), []string{"invoker", "--help"}, nil, &out, io.Discard); code != 0 {
		t.Fatalf("exit %d", code)
	}
	help := out.String()
	for _, bad := range []string{"instead of embedding", "--join string"} {
		if strings.Contains(help, bad) {
			t.Errorf("invoker help says %q:\n%s", bad, help)
		}
	}
	// Both ways into a cluster: joining a server, or embedding one routed to the others.
	for _, want := range []string{"--join is the same", "--nats-cluster-port int", "--nats-routes strings", "--nats-tls-cert string"} {
		if !strings.Contains(help, want) {
			t.Errorf("invoker help does not name %q:\n%s", want, help)
		}
	}
}

func TestFnBuildAndCheck(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a plugin")
	}
	so, err := helloPlugin()
	if err != nil {
		t.Fatal(err)
	}
	// In a child process, as the gateway runs it: opening the plugin here would keep the
	// in-process invoker of the serve tests from opening it again.
	var out, errOut bytes.Buffer
	cmd := exec.Command(os.Args[0], "fn", "check", so)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("fn check: %v: %s %s", err, out.String(), errOut.String())
	}
	var report struct {
		OK   bool `json:"ok"`
		Info struct {
			Digest    string `json:"digest"`
			GoVersion string `json:"go_version"`
		} `json:"info"`
	}
	if err := json.Unmarshal(out.Bytes(), &report); err != nil || !report.OK || len(report.Info.Digest) != 64 || report.Info.GoVersion == "" {
		t.Errorf("fn check printed %q (%v)", out.String(), err)
	}
}

// TestLogsAndErrorsOnStderr runs commands that fail early: their log lines and errors
// reach the command's error writer, and a NATS port that is taken is named at once.
func TestLogsAndErrorsOnStderr(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	tests := []struct {
		args []string
		says []string
	}{
		{[]string{"serve", "--nats-port", taken, "--http", "127.0.0.1:0", "--data", t.TempDir()}, []string{"address already in use"}},
		{[]string{"invoker", "--nats", "nats://127.0.0.1:" + taken, "--data", t.TempDir()}, []string{"joining NATS", "connect to NATS"}},
	}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		code := run(context.Background(), tt.args, nil, &out, &errOut)
		for _, want := range tt.says {
			if code == 0 || !strings.Contains(errOut.String(), want) {
				t.Errorf("%v: exit %d, stderr %q; want a failure saying %q", tt.args, code, errOut.String(), want)
			}
		}
	}
}
