package gateway

import (
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5/middleware"
)

// TestRequestLog checks the request log: a line per request with its id, which the
// answer carries too, and for a 5xx the cause that the client does not see.
func TestRequestLog(t *testing.T) {
	var logs syncBuffer
	g := &Gateway{log: slog.New(slog.NewTextHandler(&logs, nil))}
	h := middleware.RequestID(g.requestLog(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/broken" {
			writeError(w, r, errors.New("disk on fire"))
			return
		}
		writeJSON(w, http.StatusOK, "fine")
	})))
	for _, path := range []string{"/fine", "/broken"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Header().Get(middleware.RequestIDHeader) == "" {
			t.Errorf("%s: no request id in the answer", path)
		}
		if strings.Contains(rec.Body.String(), "fire") != (path == "/broken") {
			t.Errorf("%s answered %s", path, rec.Body)
		}
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("log:\n%s", logs.String())
	}
	for i, want := range []string{"level=INFO msg=request method=GET path=/fine status=200", "level=ERROR msg=request method=GET path=/broken status=500"} {
		if !strings.Contains(lines[i], want) || !strings.Contains(lines[i], "request=") {
			t.Errorf("log line %q, want %q and a request id", lines[i], want)
		}
	}
	if !strings.Contains(lines[1], `err="disk on fire"`) {
		t.Errorf("the 5xx line does not name the cause: %s", lines[1])
	}
}

func TestFlareRoutes(t *testing.T) {
	c := newCluster(t, clusterOptions{})
	// An id no flare can have is unknown, on every route of a flare.
	for _, path := range []string{"/flares/x.y", "/flares/x.y/results", "/flares/x.y/logs", "/flares/x.y/events", "/flares/01900000-0000-7000-8000-000000000099"} {
		c.apiError("GET", path, nil, http.StatusNotFound, CodeUnknownFlare)
	}
	c.apiError("DELETE", "/flares/x.y", nil, http.StatusNotFound, CodeUnknownFlare)
}
