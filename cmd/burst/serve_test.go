package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"reflect"
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
	// The gateway hears of the invoker a moment after it listens.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		resp, err := http.Get(url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("serve not ready: %v", err)
		}
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

// call sends a request, checks the status and decodes the answer into a T.
func call[T any](t *testing.T, method, url string, body []byte, want int) T {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d, want %d: %s", method, url, resp.StatusCode, want, b)
	}
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s %s: %v: %s", method, url, err, b)
	}
	return v
}

func TestServeRestartKeepsRecords(t *testing.T) {
	dir := t.TempDir()
	url, stop := serve(t, dir)
	done := call[gateway.Record](t, "POST", url+"/flares?wait=true", []byte(`{"function":"hello","size":8,"granularity":4,"input":{"x":1}}`), http.StatusOK)
	if done.Status != "succeeded" || len(done.Results) != 8 || len(done.Packs) != 2 {
		t.Fatalf("hello flare: %s %q, %d results", done.Status, done.Error, len(done.Results))
	}
	var fn gateway.FunctionRecord
	if !testing.Short() {
		// A plugin, checked by this binary in a child process as `burst fn check`.
		so, err := helloPlugin()
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(so)
		if err != nil {
			t.Fatal(err)
		}
		fn = call[gateway.FunctionRecord](t, "PUT", url+"/functions/greet", b, http.StatusCreated)
	}
	inFlight := call[gateway.Record](t, "POST", url+"/flares", []byte(`{"function":"sleep","size":2,"input":"1m"}`), http.StatusAccepted)
	// Graceful shutdown, as on SIGTERM: the flare in flight ends as cancelled.
	if err := stop(); err != nil {
		t.Fatalf("shutdown: %v", err)
	}

	url, _ = serve(t, dir)
	if got := call[gateway.Record](t, "GET", url+"/flares/"+done.ID, nil, http.StatusOK); got.Status != "succeeded" || len(got.Workers) != 8 {
		t.Errorf("after restart: %s with %d workers", got.Status, len(got.Workers))
	}
	if got := call[gateway.Record](t, "GET", url+"/flares/"+inFlight.ID, nil, http.StatusOK); got.Status != "cancelled" {
		t.Errorf("flare in flight at shutdown is %s, want cancelled", got.Status)
	}
	if testing.Short() {
		return
	}
	if got := call[gateway.FunctionRecord](t, "GET", url+"/functions/greet", nil, http.StatusOK); !reflect.DeepEqual(got, fn) {
		t.Errorf("function after restart %+v, want %+v", got, fn)
	}
	rec := call[gateway.Record](t, "POST", url+"/flares?wait=true", []byte(`{"function":"greet","size":2,"input":"hi"}`), http.StatusOK)
	if rec.Status != "succeeded" || rec.Version != fn.Version || string(rec.Results[1]) != `{"rank":1,"size":2,"pack":0,"input":"hi"}` {
		t.Errorf("plugin after restart: %s %q %s", rec.Status, rec.Error, rec.Results)
	}
}
