package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/burstgo/burst/control"
)

func TestInvokerLost(t *testing.T) {
	c := newCluster(t, clusterOptions{slots: []int{64}, gateway: Options{LostAfter: 300 * time.Millisecond}})
	c.addInvoker("small", 8)
	nc := c.conns[len(c.conns)-1]
	c.waitInvokers(2)
	// Best fit puts the flare on the small invoker.
	rec := call[Record](c, "POST", "/flares", map[string]any{"function": "sleep", "size": 4, "granularity": 2, "input": "1m"}, http.StatusAccepted)
	if rec.Packs[0].Invoker != "small" || rec.Packs[1].Invoker != "small" {
		t.Fatalf("placed on %+v, want the small invoker", rec.Packs)
	}
	eventually(t, func() bool {
		return call[Record](c, "GET", "/flares/"+rec.ID, nil, http.StatusOK).Workers[0].Status == control.StatusRunning
	}, "the flare to run")
	// The invoker's host goes dark: no heartbeat, no reports.
	nc.Close()
	got := c.waitFlare(rec.ID)
	if got.Status != control.StatusFailed || !strings.Contains(got.Error, "invoker small lost") {
		t.Fatalf("%s %q, want failed naming the lost invoker", got.Status, got.Error)
	}
	for _, w := range got.Workers {
		if w.Status != control.StatusFailed {
			t.Errorf("worker %+v, want failed", w)
		}
	}
	l := call[struct{ Invokers []InvokerInfo }](c, "GET", "/invokers", nil, http.StatusOK)
	if len(l.Invokers) != 1 || l.Invokers[0].ID != "inv0" || l.Invokers[0].Used != 0 {
		t.Errorf("invokers after the loss: %+v", l.Invokers)
	}
	// The cluster serves on with the invoker left.
	if rec := c.run(map[string]any{"function": "hello", "size": 4}); rec.Status != control.StatusSucceeded || rec.Packs[0].Invoker != "inv0" {
		t.Errorf("after the loss: %s on %+v", rec.Status, rec.Packs)
	}
}

func TestPlacementAcrossInvokers(t *testing.T) {
	c := newCluster(t, clusterOptions{slots: []int{4, 4}})
	call[FunctionRecord](c, "PUT", "/functions/faulty", mustRead(t, plugin(t, "gateway/testdata/faulty")), http.StatusCreated)
	rec := c.run(map[string]any{"function": "faulty", "size": 8, "granularity": 4})
	if rec.Status != control.StatusSucceeded {
		t.Fatalf("%s %q", rec.Status, rec.Error)
	}
	if rec.Packs[0].Invoker == rec.Packs[1].Invoker {
		t.Errorf("both packs on %s, which has 4 slots", rec.Packs[0].Invoker)
	}
	// The packs on the two invokers talked over NATS.
	if rec.Comm.RemoteMessages == 0 {
		t.Errorf("no remote traffic between the invokers: %+v", rec.Comm)
	}
	c.apiError("POST", "/flares", map[string]any{"function": "hello", "size": 8}, http.StatusServiceUnavailable, CodeNoCapacity)
	c.apiError("POST", "/flares", map[string]any{"function": "hello", "size": 8, "granularity": 4, "backend": "memory"}, http.StatusServiceUnavailable, CodeNoCapacity)
	// 8 slots in all, but packs of 3, 3 and 2 on two invokers of 4 never fit: refused,
	// rather than queued at the head of the queue till its timeout.
	c.apiError("POST", "/flares", map[string]any{"function": "hello", "size": 8, "granularity": 3}, http.StatusServiceUnavailable, CodeNoCapacity)
	l := call[struct{ Invokers []InvokerInfo }](c, "GET", "/invokers", nil, http.StatusOK)
	if len(l.Invokers) != 2 || l.Invokers[0].ID != "inv0" || l.Invokers[1].Slots != 4 || l.Invokers[0].LastHeartbeat.IsZero() || !strings.Contains(l.Invokers[0].Build, "go1.") {
		t.Errorf("invokers %+v", l.Invokers)
	}
}

func TestInvokerLeaves(t *testing.T) {
	// Heartbeats are missed only after a minute: only the goodbye can tell the gateway.
	c := newCluster(t, clusterOptions{slots: []int{8, 8}, gateway: Options{LostAfter: time.Minute}})
	// A graceful shutdown says goodbye at once, without waiting for missed heartbeats.
	c.invokers[1].Shutdown(t.Context())
	c.invokers = c.invokers[:1]
	c.waitInvokers(1)
}

func TestInvokerRestarted(t *testing.T) {
	c := newCluster(t, clusterOptions{slots: []int{64}, gateway: Options{LostAfter: time.Minute}})
	c.addInvoker("again", 8)
	old := c.conns[len(c.conns)-1]
	c.waitInvokers(2)
	rec := call[Record](c, "POST", "/flares", map[string]any{"function": "sleep", "size": 2, "input": "1m"}, http.StatusAccepted)
	if rec.Packs[0].Invoker != "again" {
		t.Fatalf("placed on %s", rec.Packs[0].Invoker)
	}
	// Once its pack runs (closed before it has answered the assignment, the invoker is
	// only gone, and the flare fails for that), the process dies and comes back under
	// the same name before it is missed.
	eventually(t, func() bool {
		return call[Record](c, "GET", "/flares/"+rec.ID, nil, http.StatusOK).Workers[0].Status == control.StatusRunning
	}, "the pack running")
	old.Close()
	c.addInvoker("again", 8)
	got := c.waitFlare(rec.ID)
	if got.Status != control.StatusFailed || !strings.Contains(got.Error, "invoker again lost: restarted") {
		t.Fatalf("%s %q", got.Status, got.Error)
	}
	c.waitInvokers(2)
	c.gw.mu.Lock()
	used := c.gw.invokers["again"].used
	c.gw.mu.Unlock()
	if used != 0 {
		t.Errorf("the new process inherited %d used slots", used)
	}
}

// TestRefusedInvoker joins an invoker of another protocol level, as an older or newer
// burst would: the gateway logs it, lists it as refused with the reason, and places
// nothing on it, however many slots it offers.
func TestRefusedInvoker(t *testing.T) {
	var logs syncBuffer
	c := newCluster(t, clusterOptions{slots: []int{4}, gateway: Options{
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
	}})
	hb := control.Heartbeat{Proto: control.Version + 1, ID: "newer", Host: "h", Slots: 1000, Builtins: []string{"hello"},
		Started: time.Now(), Interval: control.Duration(50 * time.Millisecond)}
	b, _ := json.Marshal(hb)
	nc := c.conns[0]
	var l struct{ Invokers []InvokerInfo }
	eventually(t, func() bool {
		nc.Publish(control.HeartbeatSubject(hb.ID), b)
		l = call[struct{ Invokers []InvokerInfo }](c, "GET", "/invokers", nil, http.StatusOK)
		return len(l.Invokers) == 2
	}, "the refused invoker to be listed")
	got := l.Invokers[1]
	if got.ID != "newer" || got.Status != "refused" || got.Proto != control.Version+1 ||
		got.Reason != fmt.Sprintf("speaks protocol level %d; this gateway speaks level %d", control.Version+1, control.Version) {
		t.Errorf("refused invoker listed as %+v", got)
	}
	if !strings.Contains(logs.String(), "invoker refused: another protocol level") || !strings.Contains(logs.String(), "invoker=newer") {
		t.Errorf("no log line for the refused invoker:\n%s", logs.String())
	}
	// Its slots count for nothing: 8 workers do not fit on the 4 of inv0.
	c.apiError("POST", "/flares", map[string]any{"function": "hello", "size": 8}, http.StatusServiceUnavailable, CodeNoCapacity)
	if rec := c.run(map[string]any{"function": "hello", "size": 4}); rec.Status != control.StatusSucceeded || rec.Packs[0].Invoker != "inv0" {
		t.Errorf("flare with a refused invoker about: %s on %+v", rec.Status, rec.Packs)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
