package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

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

func TestFnBuildAndCheck(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a plugin")
	}
	so := filepath.Join(t.TempDir(), "hello.so")
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"fn", "build", "../../functions/examples/hello/plugin", "-o", so}, nil, &out, &errOut); code != 0 {
		t.Fatalf("fn build: exit %d: %s", code, errOut.String())
	}
	if strings.TrimSpace(out.String()) != so {
		t.Errorf("fn build printed %q, want the plugin's path", out.String())
	}
	out.Reset()
	if code := run(context.Background(), []string{"fn", "check", so}, nil, &out, &errOut); code != 0 {
		t.Fatalf("fn check: exit %d: %s %s", code, out.String(), errOut.String())
	}
	var report struct {
		OK   bool `json:"ok"`
		Info struct {
			Digest    string `json:"digest"`
			GoVersion string `json:"go_version"`
		} `json:"info"`
	}
	if err := json.Unmarshal(out.Bytes(), &report); err != nil || !report.OK {
		t.Errorf("fn check printed %q (%v)", out.String(), err)
	}
}
