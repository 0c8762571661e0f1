package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/burstgo/burst/cluster/clustertest"
)

// burstCmd runs `burst args...` in this process with environ and returns its exit
// code, stdout and stderr.
func burstCmd(args []string, environ ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, environ, &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestKeyCommands drives `burst key` against a server on loopback, from its first run
// without keys to keys enforced, made, listed and revoked.
func TestKeyCommands(t *testing.T) {
	url, _ := serve(t, t.TempDir())
	api := "--api=" + url
	if code, _, errOut := burstCmd([]string{"key", "create", "--role", "runner", api}); code != 1 || !strings.Contains(errOut, "first key must be an admin key") {
		t.Errorf("first runner key: exit %d, %q", code, errOut)
	}
	if code, _, errOut := burstCmd([]string{"key", "create", api}); code != 1 || !strings.Contains(errOut, `"role" not set`) {
		t.Errorf("no role: exit %d, %q", code, errOut)
	}
	code, admin, errOut := burstCmd([]string{"key", "create", "--role", "admin", "--name", "ops", api})
	admin = strings.TrimSpace(admin)
	if code != 0 || !strings.HasPrefix(admin, "burst_") || !strings.Contains(errOut, "shown this once") {
		t.Fatalf("admin key: exit %d, %q, %q", code, admin, errOut)
	}
	if code, _, errOut := burstCmd([]string{"key", "ls", api}); code != 1 || !strings.Contains(errOut, "needs a key") || !strings.Contains(errOut, "401") {
		t.Errorf("ls without a key once keys exist: exit %d, %q", code, errOut)
	}
	// BURST_KEY and BURST_API stand for the flags.
	env := []string{"BURST_KEY=" + admin, "BURST_API=" + url}
	code, runner, _ := burstCmd([]string{"key", "create", "--role", "runner", "--expires", "1h"}, env...)
	runner = strings.TrimSpace(runner)
	if code != 0 {
		t.Fatalf("runner key: exit %d", code)
	}
	code, out, _ := burstCmd([]string{"key", "ls"}, env...)
	if code != 0 || !strings.Contains(out, "ops") || !strings.Contains(out, "runner") || strings.Contains(out, "burst_") {
		t.Errorf("ls: exit %d\n%s", code, out)
	}
	code, join, _ := burstCmd([]string{"key", "create", "--role", "invoker", "--invoker", "host-b"}, env...)
	if code != 0 || !strings.HasPrefix(join, "burst_") {
		t.Errorf("join key: exit %d, %q", code, join)
	}
	if code, _, errOut := burstCmd([]string{"key", "create", "--role", "invoker"}, env...); code != 1 || !strings.Contains(errOut, "needs the id of its invoker") {
		t.Errorf("join key without an invoker: exit %d, %q", code, errOut)
	}
	if code, _, errOut := burstCmd([]string{"key", "ls", "--key", runner, api}); code != 1 || !strings.Contains(errOut, "403") {
		t.Errorf("ls as a runner: exit %d, %q", code, errOut)
	}
	var id string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 2 && f[2] == "runner" {
			id = f[0]
		}
	}
	if code, _, errOut := burstCmd([]string{"key", "revoke", id}, env...); code != 0 || !strings.Contains(errOut, "revoked") {
		t.Fatalf("revoke %q: exit %d, %q", id, code, errOut)
	}
	req, _ := http.NewRequest("GET", url+"/flares", nil)
	req.Header.Set("Authorization", "Bearer "+runner)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a revoked key: %v %v", resp.Status, err)
	}
	if code, _, errOut := burstCmd([]string{"key", "revoke", id}, env...); code != 1 || !strings.Contains(errOut, "no key") {
		t.Errorf("revoke twice: exit %d, %q", code, errOut)
	}
}

// TestServeBeyondLoopbackEnforcesKeys runs `burst serve --http 0.0.0.0:PORT`: every
// request needs a key from the start, and the log says where the first admin key is.
func TestServeBeyondLoopbackEnforcesKeys(t *testing.T) {
	dir := t.TempDir()
	port := clustertest.FreePort(t)
	p := start(t, "serve", "--http", fmt.Sprintf("0.0.0.0:%d", port), "--nats-port", "-1", "--data", dir)
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitHTTP(t, url+"/readyz")
	file := filepath.Join(dir, "admin.key")
	if !strings.Contains(p.out.String(), file) || !strings.Contains(p.out.String(), "burst key ls --key") {
		t.Errorf("the log does not say where the first admin key is:\n%s", p.out.String())
	}
	status := func(key string) int {
		req, _ := http.NewRequest("POST", url+"/flares?wait=true", strings.NewReader(`{"function":"hello","size":2}`))
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := status(""); got != http.StatusUnauthorized {
		t.Errorf("a flare without a key: %d, want 401", got)
	}
	key, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for status(strings.TrimSpace(string(key))) != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("a flare with the first admin key did not run")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
