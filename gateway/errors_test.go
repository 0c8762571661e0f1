package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }

// mustRequest makes a request for a handler, as a local client sends it (to the
// loopback name: a gateway with keys off takes no other).
func mustRequest(t testing.TB, method, path, body string) *http.Request {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.Host = "127.0.0.1:8080"
	return r
}

func TestWriteError(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
		code   string
	}{
		{"api error", errorf(404, CodeUnknownFlare, "no flare %q", "x"), 404, CodeUnknownFlare},
		{"wrapped api error", fmt.Errorf("context: %w", errorf(429, CodeQueueFull, "full")), 429, CodeQueueFull},
		{"plain error", errors.New("disk on fire"), 500, CodeInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			writeError(rec, httptest.NewRequest("GET", "/", nil), tt.err)
			var body struct {
				Error Error `json:"error"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			if rec.Code != tt.status || body.Error.Code != tt.code || body.Error.Message == "" {
				t.Errorf("%d %+v, want %d %s", rec.Code, body.Error, tt.status, tt.code)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("content type %q", ct)
			}
		})
	}
}

func TestRecoverer(t *testing.T) {
	h := recoverer(testLogger(t))(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("bad handler") }))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 500 || !strings.Contains(rec.Body.String(), CodeInternal) {
		t.Errorf("%d %s", rec.Code, rec.Body)
	}
}
