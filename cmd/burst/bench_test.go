package main

import (
	"bytes"
	"context"
	"io"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/burstgo/burst/cluster/clustertest"
	"github.com/burstgo/burst/gateway"
)

// benchPair runs the original's two-terminal pair workflow: two `burst bench`
// processes, one per group, that find each other through the NATS server at url.
func benchPair(t *testing.T, url string, embedFirst bool, backend string) [2]string {
	t.Helper()
	var outs [2]bytes.Buffer
	var codes [2]int
	var wg sync.WaitGroup
	for g := range 2 {
		args := []string{"bench", "--benchmark", "pair", "--burst-size", "2", "--group-id", strconv.Itoa(g),
			"--server", url, "--payload-size", "65536", "--repeat", "3", "--timeout", "30s", "--burst-id", "pairtest"}
		if g == 0 && embedFirst {
			args = append(args, "--embed")
		}
		args = append(args, backend)
		wg.Go(func() {
			var errOut bytes.Buffer
			codes[g] = run(context.Background(), args, nil, &outs[g], &errOut)
			if codes[g] != 0 {
				t.Errorf("group %d: exit %d: %s", g, codes[g], errOut.String())
			}
		})
		if g == 0 && embedFirst {
			time.Sleep(500 * time.Millisecond) // the second terminal starts once the server is up
		}
	}
	wg.Wait()
	return [2]string{outs[0].String(), outs[1].String()}
}

func checkPairOutput(t *testing.T, outs [2]string) {
	t.Helper()
	for g, out := range outs {
		if !strings.Contains(out, "worker "+strconv.Itoa(g)+" (group "+strconv.Itoa(g)+"): 65536 bytes") ||
			!strings.Contains(out, "MiB/s") || !strings.Contains(out, "latency p50") {
			t.Errorf("group %d printed:\n%s", g, out)
		}
	}
}

func TestBenchPairEmbedded(t *testing.T) {
	checkPairOutput(t, benchPair(t, "nats://127.0.0.1:"+strconv.Itoa(clustertest.FreePort(t)), true, "nats"))
}

// The byte-stream baselines, the same way: the second group's listener found through
// the first one's server.
func TestBenchStreams(t *testing.T) {
	for _, backend := range []string{"tcp", "unix"} {
		checkPairOutput(t, benchPair(t, "nats://127.0.0.1:"+strconv.Itoa(clustertest.FreePort(t)), true, backend))
	}
}

// TestBenchAgainstServe: the bus of `burst serve` is closed, and the benchmark says so
// and what to do instead.
func TestBenchAgainstServe(t *testing.T) {
	port := clustertest.FreePort(t)
	cfg, err := loadConfig([]string{"BURST_HTTP_ADDR=127.0.0.1:0", "BURST_NATS_PORT=" + strconv.Itoa(port), "BURST_DATA_DIR=" + t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- runServe(ctx, cfg, io.Discard, func(*gateway.Gateway) { close(ready) }) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("serve: %v", err)
	}
	code, _, errOut := burstCmd([]string{"bench", "--benchmark", "pair", "--burst-size", "2", "--group-id", "0",
		"--server", "nats://127.0.0.1:" + strconv.Itoa(port), "nats"})
	if code != 1 || !strings.Contains(errOut, "Authorization Violation") || !strings.Contains(errOut, "--embed") {
		t.Errorf("bench against serve: exit %d, %q; want refused, saying to use --embed", code, errOut)
	}
}

func TestBenchErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"bench", "nats", "extra"}, "accepts 1 arg"},
		{[]string{"bench", "--benchmark", "sort", "nats"}, "--benchmark"},
		{[]string{"bench", "redis"}, "backend"},
		{[]string{"bench", "--server", "nats://127.0.0.1:1", "--timeout", "2s", "nats"}, "connect to nats://127.0.0.1:1"},
	}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		code := run(context.Background(), tt.args, nil, &out, &errOut)
		if code == 0 || !strings.Contains(errOut.String(), tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want an error naming %q", tt.args, code, errOut.String(), tt.want)
		}
	}
}
