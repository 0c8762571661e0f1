package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/burstgo/burst/invoker"
)

func TestRestartKeepsRecords(t *testing.T) {
	dir := t.TempDir()
	c := newCluster(t, clusterOptions{dir: dir})
	fn := call[FunctionRecord](c, "PUT", "/functions/faulty", mustRead(t, plugin(t, "gateway/testdata/faulty")), http.StatusCreated)
	done := c.run(map[string]any{"function": "faulty", "size": 4, "granularity": 2, "input": map[string]any{"log": "hello from a worker"}})
	if done.Status != invoker.StatusSucceeded {
		t.Fatalf("%s %q", done.Status, done.Error)
	}
	running := call[Record](c, "POST", "/flares", map[string]any{"function": "sleep", "size": 2, "input": "1m"}, http.StatusAccepted)
	logs := call[FlareLogs](c, "GET", "/flares/"+done.ID+"/logs", nil, http.StatusOK)
	// A graceful stop cancels the flare in flight and records it.
	c.close()

	c = newCluster(t, clusterOptions{dir: dir})
	if got := call[FunctionRecord](c, "GET", "/functions/faulty", nil, http.StatusOK); got != fn {
		t.Errorf("function after restart %+v, want %+v", got, fn)
	}
	got := call[Record](c, "GET", "/flares/"+done.ID, nil, http.StatusOK)
	want := done
	want.Results = nil
	if !reflect.DeepEqual(normal(got), normal(want)) {
		t.Errorf("record after restart\n%+v\nwant\n%+v", got, want)
	}
	res := call[FlareResults](c, "GET", "/flares/"+done.ID+"/results", nil, http.StatusOK)
	if b, _ := json.Marshal(res.Results); string(b) != mustJSON(t, done.Results) {
		t.Errorf("results after restart %s, want %s", b, mustJSON(t, done.Results))
	}
	if got := call[FlareLogs](c, "GET", "/flares/"+done.ID+"/logs", nil, http.StatusOK); !reflect.DeepEqual(normalLogs(got), normalLogs(logs)) || len(got.Lines) != 4 {
		t.Errorf("logs after restart %+v, want %+v", got, logs)
	}
	cancelled := call[Record](c, "GET", "/flares/"+running.ID, nil, http.StatusOK)
	if cancelled.Status != invoker.StatusCancelled || cancelled.Error != "gateway shutting down" {
		t.Errorf("flare in flight at shutdown: %s %q", cancelled.Status, cancelled.Error)
	}
	// The function runs again without another upload.
	if rec := c.run(map[string]any{"function": "faulty", "size": 2}); rec.Status != invoker.StatusSucceeded {
		t.Errorf("after restart: %s %q", rec.Status, rec.Error)
	}
	l := call[FlareList](c, "GET", "/flares", nil, http.StatusOK)
	if l.Total != 3 {
		t.Errorf("%d flares listed after restart, want 3", l.Total)
	}
}

func TestRecoverInterruptedFlare(t *testing.T) {
	dir := t.TempDir()
	c := newCluster(t, clusterOptions{dir: dir})
	// What a gateway that died leaves behind: a running flare's header.
	rec := Record{ID: "01900000-0000-7000-8000-000000000001", Function: "hello", Size: 1, Granularity: 1,
		Backend: "nats", Status: invoker.StatusRunning, Created: time.Now().UTC(), Packs: []PackRecord{}}
	if err := c.gw.store.putFlare(context.Background(), &rec, false); err != nil {
		t.Fatal(err)
	}
	c.close()
	c = newCluster(t, clusterOptions{dir: dir})
	got := call[Record](c, "GET", "/flares/"+rec.ID, nil, http.StatusOK)
	if got.Status != invoker.StatusFailed || !strings.Contains(got.Error, "gateway stopped") || got.Ended.IsZero() {
		t.Errorf("interrupted flare read back as %s %q", got.Status, got.Error)
	}
}

func TestRecoverStopsOrphanedPacks(t *testing.T) {
	ctx := context.Background()
	for _, backend := range []string{invoker.BackendNATS, invoker.BackendJetStream} {
		t.Run(backend, func(t *testing.T) {
			c := newCluster(t, clusterOptions{})
			inv := c.invokers[0]
			// A gateway dies with a flare running: its record says running, and the
			// invoker, which outlived that gateway, still runs the pack.
			st := c.gw.store
			if err := c.gw.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			id := "01900000-0000-7000-8000-0000000000b" + strconv.Itoa(len(backend))
			rec := Record{ID: id, Function: "sleep", Size: 2, Granularity: 2, Backend: backend, Status: invoker.StatusRunning,
				Created: time.Now().UTC(), Packs: []PackRecord{{Pack: 0, Invoker: inv.ID(), Ranks: [2]int{0, 1}}}}
			if err := st.putFlare(ctx, &rec, false); err != nil {
				t.Fatal(err)
			}
			a, _ := json.Marshal(invoker.Assignment{Flare: id, Function: "sleep", Size: 2, Granularity: 2, Backend: backend,
				Timeout: time.Hour, Input: json.RawMessage(`"1h"`)})
			m, err := c.conns[0].Request(invoker.AssignSubject(inv.ID()), a, 10*time.Second)
			if err != nil || !strings.Contains(string(m.Data), `"ok":true`) {
				t.Fatalf("assignment: %v %s", err, m.Data)
			}
			if hb := inv.Heartbeat(); hb.Used != 2 {
				t.Fatalf("the orphaned pack holds %d slots, want 2", hb.Used)
			}

			c.startGateway(Options{})
			eventually(t, func() bool { return inv.Heartbeat().Used == 0 }, "the orphaned pack to stop")
			got := call[Record](c, "GET", "/flares/"+id, nil, http.StatusOK)
			if got.Status != invoker.StatusFailed || !strings.Contains(got.Error, "gateway stopped") {
				t.Errorf("interrupted flare read back as %s %q", got.Status, got.Error)
			}
			if backend == invoker.BackendJetStream {
				js, _ := jetstream.New(c.conns[0])
				if _, err := js.Stream(ctx, "BURST_"+id); !errors.Is(err, jetstream.ErrStreamNotFound) {
					t.Errorf("the interrupted flare's stream is still there: %v", err)
				}
			}
		})
	}
}

// normal drops what JSON cannot tell apart: monotonic clock readings and locations.
func normal(r Record) Record {
	b, _ := json.Marshal(r)
	var n Record
	json.Unmarshal(b, &n)
	return n
}

func normalLogs(l FlareLogs) FlareLogs {
	b, _ := json.Marshal(l)
	var n FlareLogs
	json.Unmarshal(b, &n)
	return n
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestHealth(t *testing.T) {
	c := newCluster(t, clusterOptions{})
	tests := []struct {
		path   string
		status int
		says   string
	}{
		{"/livez", 200, `"ok"`},
		{"/readyz", 200, `"ready"`},
		{"/", 200, "POST /flares"},
	}
	for _, tt := range tests {
		status, b := c.do("GET", tt.path, nil)
		if status != tt.status || !strings.Contains(string(b), tt.says) {
			t.Errorf("GET %s: %d %s", tt.path, status, b)
		}
	}
	// Without invokers the gateway lives but is not ready.
	for _, inv := range c.invokers {
		inv.Shutdown(context.Background())
	}
	c.invokers = nil
	c.waitInvokers(0)
	c.apiError("GET", "/readyz", nil, http.StatusServiceUnavailable, CodeNotReady)
	c.apiError("POST", "/flares", map[string]any{"function": "hello"}, http.StatusServiceUnavailable, CodeNoInvokers)
	if status, _ := c.do("GET", "/livez", nil); status != 200 {
		t.Errorf("livez %d", status)
	}
}

func TestShutdownRefusesFlares(t *testing.T) {
	c := newCluster(t, clusterOptions{})
	gw := c.gw
	h := gw.Handler()
	if err := gw.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.gw = nil
	rec := newRecorder()
	h.ServeHTTP(rec, mustRequest(t, "POST", "/flares", `{"function":"hello"}`))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), CodeShuttingDown) {
		t.Errorf("POST after shutdown: %d %s", rec.Code, rec.Body)
	}
}
