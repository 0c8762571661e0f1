package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/burstgo/burst/control"
)

func TestRestartKeepsRecords(t *testing.T) {
	dir := t.TempDir()
	c := newCluster(t, clusterOptions{dir: dir})
	fn := call[FunctionRecord](c, "PUT", "/functions/faulty", mustRead(t, plugin(t, "gateway/testdata/faulty")), http.StatusCreated)
	done := c.run(map[string]any{"function": "faulty", "size": 4, "granularity": 2, "input": map[string]any{"log": "hello from a worker"}})
	if done.Status != control.StatusSucceeded {
		t.Fatalf("%s %q", done.Status, done.Error)
	}
	if string(done.Input) != `{"log":"hello from a worker"}` {
		t.Errorf("the record keeps input %s", done.Input)
	}
	running := call[Record](c, "POST", "/flares", map[string]any{"function": "sleep", "size": 2, "input": "1m"}, http.StatusAccepted)
	logs := call[FlareLogs](c, "GET", "/flares/"+done.ID+"/logs", nil, http.StatusOK)
	// A graceful stop cancels the flare in flight and records it.
	c.close()

	c = newCluster(t, clusterOptions{dir: dir})
	if got := call[FunctionRecord](c, "GET", "/functions/faulty", nil, http.StatusOK); !reflect.DeepEqual(got, fn) {
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
	if cancelled.Status != control.StatusCancelled || cancelled.Error != "the gateway shut down" {
		t.Errorf("flare in flight at shutdown: %s %q", cancelled.Status, cancelled.Error)
	}
	// The function runs again without another upload.
	if rec := c.run(map[string]any{"function": "faulty", "size": 2}); rec.Status != control.StatusSucceeded {
		t.Errorf("after restart: %s %q", rec.Status, rec.Error)
	}
	l := call[FlareList](c, "GET", "/flares", nil, http.StatusOK)
	if len(l.Flares) != 3 {
		t.Errorf("%d flares listed after restart, want 3", len(l.Flares))
	}
}

// TestLeaveRunning stops a gateway that leaves its flares running, lets the packs end
// while no gateway listens, and starts another on the same store: it takes the flare up
// from its record and the events that waited in the stream, and records it succeeded
// with every result.
func TestLeaveRunning(t *testing.T) {
	for _, during := range []string{"while away", "after the restart"} {
		t.Run(during, func(t *testing.T) {
			c := newCluster(t, clusterOptions{gateway: Options{LeaveRunning: true}})
			gateName := newGate(t)
			rec := call[Record](c, "POST", "/flares", map[string]any{"function": "gate", "size": 4, "granularity": 2, "input": gateName}, http.StatusAccepted)
			eventually(t, func() bool {
				return call[Record](c, "GET", "/flares/"+rec.ID, nil, http.StatusOK).Workers[3].Status == control.StatusRunning
			}, "every worker to run")
			if err := c.gw.Shutdown(t.Context()); err != nil {
				t.Fatal(err)
			}
			if during == "while away" {
				openGate(gateName)
				// The packs end with no gateway: their events wait in the stream.
				eventually(t, func() bool { return c.invokers[0].Heartbeat().Packs == 0 }, "the packs to end")
			}
			c.startGateway(Options{LeaveRunning: true})
			if during != "while away" {
				if got := call[Record](c, "GET", "/flares/"+rec.ID, nil, http.StatusOK); got.Status != control.StatusRunning {
					t.Fatalf("taken up as %s %q, want running", got.Status, got.Error)
				}
				openGate(gateName)
			}
			got := c.waitFlare(rec.ID)
			if got.Status != control.StatusSucceeded {
				t.Fatalf("%s %q, want succeeded", got.Status, got.Error)
			}
			checkWorkers(t, got, control.StatusSucceeded)
			if string(got.Input) != mustJSON(t, gateName) {
				t.Errorf("the input after the restart: %s, want %q", got.Input, gateName)
			}
			res := call[FlareResults](c, "GET", "/flares/"+rec.ID+"/results", nil, http.StatusOK)
			if b, _ := json.Marshal(res.Results); string(b) != `[{"rank":0},{"rank":1},{"rank":2},{"rank":3}]` {
				t.Errorf("results %s", b)
			}
			eventually(t, func() bool {
				l := call[struct{ Invokers []InvokerInfo }](c, "GET", "/invokers", nil, http.StatusOK)
				return len(l.Invokers) == 1 && l.Invokers[0].Used == 0 && l.Invokers[0].Status == invokerReady
			}, "the slots to come back")
		})
	}
}

// TestRecoverLostPacks starts a gateway on records of running flares whose packs are
// gone: on an invoker that came back without them (it restarted), and on one that never
// comes back. Both flares fail, naming the invoker, with their workers.
func TestRecoverLostPacks(t *testing.T) {
	ctx := context.Background()
	for _, backend := range []control.Backend{control.BackendNATS, control.BackendJetStream} {
		t.Run(string(backend), func(t *testing.T) {
			c := newCluster(t, clusterOptions{gateway: Options{RecoverWait: time.Second}})
			st := c.gw.store
			if err := c.gw.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			// What a gateway that died leaves behind: running flares' records.
			restarted := Record{ID: "01900000-0000-7000-8000-0000000000a" + strconv.Itoa(len(backend)), Function: "sleep", Size: 2, Granularity: 1,
				Backend: backend, Status: control.StatusRunning, Timeout: control.Duration(time.Hour), Created: time.Now().UTC(),
				Packs: []PackRecord{{Pack: 0, Invoker: "inv0", Ranks: [2]int{0, 0}}, {Pack: 1, Invoker: "inv0", Ranks: [2]int{1, 1}}}}
			ghost := restarted
			ghost.ID = "01900000-0000-7000-8000-0000000000b" + strconv.Itoa(len(backend))
			ghost.Packs = []PackRecord{{Pack: 0, Invoker: "ghost", Ranks: [2]int{0, 0}}, {Pack: 1, Invoker: "ghost", Ranks: [2]int{1, 1}}}
			for _, r := range []*Record{&restarted, &ghost} {
				if err := st.putFlare(ctx, r, false); err != nil {
					t.Fatal(err)
				}
			}
			c.startGateway(Options{RecoverWait: time.Second})
			for _, tt := range []struct {
				rec  Record
				says string
			}{
				{restarted, "invoker inv0 lost: it no longer runs the flare's packs"},
				{ghost, "invoker ghost lost: did not come back after the gateway restarted"},
			} {
				got := c.waitFlare(tt.rec.ID)
				if got.Status != control.StatusFailed || !strings.Contains(got.Error, tt.says) || len(got.Workers) != 2 {
					t.Fatalf("%s: %s %q with %d workers, want failed saying %q", tt.rec.ID, got.Status, got.Error, len(got.Workers), tt.says)
				}
				for _, w := range got.Workers {
					if w.Status != control.StatusFailed || w.Error != got.Error {
						t.Errorf("worker %+v, want failed with the flare's error", w)
					}
				}
			}
			// The invoker that came back takes new flares on all its slots.
			if rec := c.run(map[string]any{"function": "hello", "size": 2}); rec.Status != control.StatusSucceeded {
				t.Errorf("after recovery: %s %q", rec.Status, rec.Error)
			}
		})
	}
}

// TestRecoverQueuedFlare starts a gateway on the record of a flare that was queued when
// its gateway died: its input was not kept, so it is recorded as failed.
func TestRecoverQueuedFlare(t *testing.T) {
	dir := t.TempDir()
	c := newCluster(t, clusterOptions{dir: dir})
	rec := Record{ID: "01900000-0000-7000-8000-000000000001", Function: "hello", Size: 2, Granularity: 1,
		Backend: control.BackendNATS, Status: control.StatusQueued, Created: time.Now().UTC(), Packs: []PackRecord{}}
	if err := c.gw.store.putFlare(context.Background(), &rec, false); err != nil {
		t.Fatal(err)
	}
	c.close()
	c = newCluster(t, clusterOptions{dir: dir})
	got := call[Record](c, "GET", "/flares/"+rec.ID, nil, http.StatusOK)
	if got.Status != control.StatusFailed || !strings.Contains(got.Error, "while the flare was queued") || got.Ended.IsZero() || len(got.Workers) != 2 {
		t.Errorf("queued flare read back as %s %q with %d workers", got.Status, got.Error, len(got.Workers))
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
