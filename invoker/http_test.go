package invoker

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/burstgo/burst/control"
)

// get answers a request of h.
func get(h http.Handler, path string) (int, string) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(b)
}

// TestHTTP: an invoker's own probes and metrics, healthy and not.
func TestHTTP(t *testing.T) {
	e := newEnv(t, Options{Slots: 7})
	h := e.inv.Handler()
	if code, body := get(h, "/livez"); code != http.StatusOK || !strings.Contains(body, `"invoker":"inv"`) {
		t.Errorf("livez: %d %s", code, body)
	}
	if code, body := get(h, "/readyz"); code != http.StatusOK || !strings.Contains(body, `"slots":7`) {
		t.Errorf("readyz: %d %s", code, body)
	}
	code, body := get(h, "/metrics")
	for _, want := range []string{"burst_invoker_slots 7", "burst_invoker_slots_used 0", "burst_invoker_healthy 1", "burst_invoker_events_queued 0", "go_goroutines"} {
		if code != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("metrics: %d, no %q", code, want)
		}
	}
	if code, _ := get(h, "/nope"); code != http.StatusNotFound {
		t.Errorf("an unknown path: %d", code)
	}

	sick := newEnv(t, Options{Isolation: control.IsolationProcess, HostExe: "/nonexistent/burst"})
	h = sick.inv.Handler()
	if code, body := get(h, "/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "cannot start function hosts") {
		t.Errorf("readyz of an invoker that cannot start hosts: %d %s", code, body)
	}
	if _, body := get(h, "/metrics"); !strings.Contains(body, "burst_invoker_healthy 0") {
		t.Error("metrics of an invoker that cannot start hosts: not unhealthy")
	}
	sick.nc.Close()
	sick.inv.opts.Conn.Close()
	if code, body := get(h, "/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "not connected to NATS") {
		t.Errorf("readyz without NATS: %d %s", code, body)
	}
}
