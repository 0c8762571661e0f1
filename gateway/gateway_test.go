package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

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
