package gateway

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

var testLimits = limits{defaultTimeout: time.Minute, maxTimeout: time.Hour}

func TestDecodeFlareRequest(t *testing.T) {
	tests := []struct {
		name string
		body string
		want flareSpec
	}{
		{"defaults", `{"function":"hello"}`,
			flareSpec{function: "hello", size: 1, granularity: 1, timeout: time.Minute, backend: "nats"}},
		{"granularity defaults to size", `{"function":"hello","size":8}`,
			flareSpec{function: "hello", size: 8, granularity: 8, timeout: time.Minute, backend: "nats"}},
		{"everything", `{"function":"f","size":4,"granularity":3,"input":{ "x" : 1 },"timeout":"2s","backend":"jetstream"}`,
			flareSpec{function: "f", size: 4, granularity: 3, input: json.RawMessage(`{"x":1}`), timeout: 2 * time.Second, backend: "jetstream"}},
		{"timeout in seconds", `{"function":"f","timeout":1.5}`,
			flareSpec{function: "f", size: 1, granularity: 1, timeout: 1500 * time.Millisecond, backend: "nats"}},
		{"inputs", `{"function":"f","size":2,"inputs":[1,null]}`,
			flareSpec{function: "f", size: 2, granularity: 2, inputs: []json.RawMessage{json.RawMessage("1"), json.RawMessage("null")}, timeout: time.Minute, backend: "nats"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeFlareRequest(strings.NewReader(tt.body), testLimits)
			if err != nil {
				t.Fatal(err)
			}
			if mustJSON(t, spec(got)) != mustJSON(t, spec(tt.want)) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// spec makes a flareSpec comparable as JSON.
func spec(s flareSpec) map[string]any {
	return map[string]any{"f": s.function, "n": s.size, "g": s.granularity, "in": s.input, "ins": s.inputs, "t": s.timeout, "b": s.backend}
}

func TestDecodeFlareRequestTimeoutBound(t *testing.T) {
	_, err := decodeFlareRequest(strings.NewReader(`{"function":"f","timeout":"2h"}`), testLimits)
	var e *Error
	if !errors.As(err, &e) || e.Status != http.StatusBadRequest || !strings.Contains(e.Message, "at most 1h0m0s") {
		t.Errorf("timeout over the maximum: %v", err)
	}
}

// FuzzDecodeFlareRequest checks that no body makes the decoder panic, and that what it
// accepts is a flare the gateway can run.
func FuzzDecodeFlareRequest(f *testing.F) {
	for _, s := range []string{
		`{"function":"hello","size":8,"granularity":4,"input":{"x":1}}`,
		`{"function":"f","size":2,"inputs":[1,2],"timeout":"1s","backend":"memory"}`,
		`{"function":"f","size":-1}`, `{`, `[]`, `null`, `{"timeout":1e400}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		s, err := decodeFlareRequest(strings.NewReader(body), testLimits)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Status/100 != 4 {
				t.Fatalf("error %v is not a 4xx API error", err)
			}
			return
		}
		if s.size < 1 || s.granularity < 1 || s.granularity > s.size || s.timeout <= 0 || s.timeout > testLimits.maxTimeout ||
			s.inputs != nil && len(s.inputs) != s.size || checkName("function", s.function) != nil {
			t.Fatalf("accepted a bad flare: %+v", s)
		}
	})
}
