package gateway

import (
	"crypto/rand"
	"encoding/json"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/burstgo/burst/control"
)

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPluginUpload(t *testing.T) {
	c := newCluster(t, clusterOptions{})
	v1 := mustRead(t, plugin(t, "functions/examples/hello/plugin"))
	f := call[FunctionRecord](c, "PUT", "/functions/greet", v1, http.StatusCreated)
	if f.Name != "greet" || f.Version != 1 || len(f.Digest) != 64 || f.GoVersion == "" || f.Settings["-buildmode"] != "plugin" || f.Settings["CGO_ENABLED"] != "1" || f.Bytes != int64(len(v1)) || f.Builtin {
		t.Fatalf("registered %+v", f)
	}
	rec := c.run(map[string]any{"function": "greet", "size": 4, "granularity": 2, "input": "hi"})
	if rec.Status != control.StatusSucceeded || rec.Version != 1 {
		t.Fatalf("%s %q version %d", rec.Status, rec.Error, rec.Version)
	}
	var r helloResult
	json.Unmarshal(rec.Results[3], &r)
	if r.Rank != 3 || string(r.Input) != `"hi"` {
		t.Fatalf("result %s", rec.Results[3])
	}

	// The same bytes again change nothing.
	if again := call[FunctionRecord](c, "PUT", "/functions/greet", v1, http.StatusOK); !reflect.DeepEqual(again, f) {
		t.Errorf("re-upload gave %+v, want %+v", again, f)
	}
	// A second version replaces the first, in the running server.
	v2 := call[FunctionRecord](c, "PUT", "/functions/greet", mustRead(t, plugin(t, "functions/testdata/hellov2")), http.StatusOK)
	if v2.Version != 2 || v2.Digest == f.Digest {
		t.Fatalf("second version %+v", v2)
	}
	rec = c.run(map[string]any{"function": "greet", "size": 2})
	var r2 struct {
		Version int `json:"version"`
	}
	json.Unmarshal(rec.Results[1], &r2)
	if rec.Status != control.StatusSucceeded || r2.Version != 2 || rec.Version != 2 {
		t.Fatalf("after the new version: %s %s", rec.Status, rec.Results[1])
	}

	got := call[FunctionRecord](c, "GET", "/functions/greet", nil, http.StatusOK)
	if !reflect.DeepEqual(got, v2) {
		t.Errorf("GET = %+v, want %+v", got, v2)
	}
	list := call[struct{ Functions []FunctionRecord }](c, "GET", "/functions", nil, http.StatusOK)
	var names []string
	for _, f := range list.Functions {
		names = append(names, f.Name)
	}
	if want := strings.Join(slices.Sorted(slices.Values(append(slices.Collect(maps.Keys(testFunctions)), "greet"))), ","); strings.Join(names, ",") != want {
		t.Errorf("functions %v", names)
	}
	if del := call[FunctionRecord](c, "DELETE", "/functions/greet", nil, http.StatusOK); !reflect.DeepEqual(del, v2) {
		t.Errorf("DELETE = %+v", del)
	}
	c.apiError("GET", "/functions/greet", nil, http.StatusNotFound, CodeUnknownFunction)
	c.apiError("POST", "/flares", map[string]any{"function": "greet"}, http.StatusNotFound, CodeUnknownFunction)
}

func TestPluginRefused(t *testing.T) {
	c := newCluster(t, clusterOptions{gateway: Options{MaxPlugin: 64 << 20}})
	random := make([]byte, 4096)
	rand.Read(random)
	// This test binary has no -trimpath; a plugin built with it does not match.
	mismatch := goBuild(t, "trimpath.so", "functions/testdata/noburst", "-buildmode=plugin", "-trimpath")
	tests := []struct {
		name   string
		body   []byte
		status int
		code   string
		says   string
	}{
		{"random bytes", random, 422, "not_plugin", "not a Go plugin"},
		{"ELF that is no plugin", mustRead(t, goBuild(t, "program", "functions/testdata/noburst")), 422, "not_plugin", "not a Go plugin"},
		{"no Burst", mustRead(t, plugin(t, "functions/testdata/noburst")), 422, "no_burst", "Burst"},
		{"wrong signature", mustRead(t, plugin(t, "functions/testdata/badsig")), 422, "bad_signature", "signature"},
		{"mismatched build", mustRead(t, mismatch), 422, "mismatch", "trimpath"},
		{"empty", nil, 400, CodeBadRequest, "empty"},
		{"too large", make([]byte, 64<<20+1), 413, CodeTooLarge, "larger"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.t = t
			msg := c.apiError("PUT", "/functions/refused", tt.body, tt.status, tt.code)
			if !strings.Contains(msg, tt.says) {
				t.Errorf("message %q does not say %q", msg, tt.says)
			}
		})
	}
	c.t = t
	c.apiError("GET", "/functions/refused", nil, http.StatusNotFound, CodeUnknownFunction)
	c.apiError("PUT", "/functions/hello", random, http.StatusConflict, CodeBuiltin)
	c.apiError("DELETE", "/functions/sleep", nil, http.StatusConflict, CodeBuiltin)
	c.apiError("PUT", "/functions/bad.name", random, http.StatusBadRequest, CodeBadName)
	c.apiError("DELETE", "/functions/nothing", nil, http.StatusNotFound, CodeUnknownFunction)
}

func TestPluginCheckTimeout(t *testing.T) {
	// A check that outlives the gateway's bound, as a plugin whose init code blocks
	// makes it: the plugin is refused like any other that cannot be loaded.
	slow := filepath.Join(t.TempDir(), "slow-burst")
	if err := os.WriteFile(slow, []byte("#!/bin/sh\nexec sleep 60\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	c := newCluster(t, clusterOptions{gateway: Options{Exe: slow, CheckTimeout: 200 * time.Millisecond}})
	msg := c.apiError("PUT", "/functions/stuck", []byte("any bytes"), http.StatusUnprocessableEntity, "load_failed")
	if !strings.Contains(msg, "did not finish") {
		t.Errorf("message %q does not say the check did not finish", msg)
	}
	c.apiError("GET", "/functions/stuck", nil, http.StatusNotFound, CodeUnknownFunction)
}

func TestBuildSettingsHideLdflags(t *testing.T) {
	all := map[string]string{"-buildmode": "plugin", "-ldflags": "-X main.token=secret", "CGO_ENABLED": "1"}
	got := buildSettings(all)
	if _, ok := got["-ldflags"]; ok || got["-buildmode"] != "plugin" || got["CGO_ENABLED"] != "1" || all["-ldflags"] == "" {
		t.Errorf("settings shown %v (from %v)", got, all)
	}
}
