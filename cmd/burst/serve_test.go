package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/burstgo/burst/gateway"
)

// serve runs runServe on dir until the returned stop is called.
func serve(t *testing.T, dir string) (url string, stop func() error) {
	t.Helper()
	cfg, err := loadConfig([]string{"BURST_HTTP_ADDR=127.0.0.1:0", "BURST_NATS_PORT=-1", "BURST_DATA_DIR=" + dir})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- runServe(ctx, cfg, io.Discard, func(g *gateway.Gateway) { ready <- g.URL() }) }()
	select {
	case url = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("serve: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("serve did not come up")
	}
	stopped := false
	stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		return <-done
	}
	t.Cleanup(func() { stop() })
	return url, stop
}

func post(t *testing.T, url, body string) gateway.Record {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rec gateway.Record
	if err := json.NewDecoder(resp.Body).Decode(&rec); err != nil {
		t.Fatal(err)
	}
	return rec
}

func get(t *testing.T, url string) gateway.Record {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
	var rec gateway.Record
	json.NewDecoder(resp.Body).Decode(&rec)
	return rec
}

func TestServeRestartKeepsRecords(t *testing.T) {
	dir := t.TempDir()
	url, stop := serve(t, dir)
	done := post(t, url+"/flares?wait=true", `{"function":"hello","size":8,"granularity":4,"input":{"x":1}}`)
	if done.Status != "succeeded" || len(done.Results) != 8 || len(done.Packs) != 2 {
		t.Fatalf("hello flare: %s %q, %d results", done.Status, done.Error, len(done.Results))
	}
	inFlight := post(t, url+"/flares", `{"function":"sleep","size":2,"input":"1m"}`)
	// Graceful shutdown, as on SIGTERM: the flare in flight ends as cancelled.
	if err := stop(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}

	url, _ = serve(t, dir)
	if got := get(t, url+"/flares/"+done.ID); got.Status != "succeeded" || len(got.Workers) != 8 {
		t.Errorf("after restart: %s with %d workers", got.Status, len(got.Workers))
	}
	if got := get(t, url+"/flares/"+inFlight.ID); got.Status != "cancelled" {
		t.Errorf("flare in flight at shutdown is %s, want cancelled", got.Status)
	}
}
