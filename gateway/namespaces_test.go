package gateway

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/burstgo/burst/control"
)

// as returns a view of the cluster that sends key.
func (c *cluster) as(key string) *cluster {
	v := *c
	v.key = key
	return &v
}

// TestNamespaces: functions and flares belong to their key's namespace; another
// namespace's answer 404; built-ins are everyone's; names are unique per namespace.
func TestNamespaces(t *testing.T) {
	c := newCluster(t, clusterOptions{slots: []int{64}})
	root := c.as(call[NewKey](c, "POST", "/keys", map[string]any{"role": "admin"}, http.StatusCreated).Secret)
	ns := call[Namespace](root, "PUT", "/namespaces/team", map[string]any{}, http.StatusCreated)
	if ns.Name != "team" || ns.Created.IsZero() {
		t.Fatalf("namespace %+v", ns)
	}
	root.apiError("POST", "/keys", map[string]any{"role": "developer", "namespace": "nowhere"}, http.StatusNotFound, CodeNotFound)
	teamAdmin := c.as(call[NewKey](root, "POST", "/keys", map[string]any{"role": "admin", "namespace": "team"}, http.StatusCreated).Secret)
	dev := call[NewKey](teamAdmin, "POST", "/keys", map[string]any{"role": "developer"}, http.StatusCreated)
	if dev.Namespace != "team" {
		t.Errorf("a team admin's key is in %q", dev.Namespace)
	}
	team := c.as(dev.Secret)

	// The same name in two namespaces: two functions.
	plug := mustRead(t, plugin(t, "gateway/testdata/pingpong"))
	if f := call[FunctionRecord](team, "PUT", "/functions/mine", plug, http.StatusCreated); f.Namespace != "team" || f.Version != 1 {
		t.Errorf("team's function %+v", f)
	}
	root.apiError("GET", "/functions/mine", nil, http.StatusNotFound, CodeUnknownFunction)
	root.apiError("DELETE", "/functions/mine", nil, http.StatusNotFound, CodeUnknownFunction)
	if f := call[FunctionRecord](root, "PUT", "/functions/mine", plug, http.StatusCreated); f.Namespace != DefaultNamespace || f.Version != 1 {
		t.Errorf("default's function %+v", f)
	}
	list := call[struct{ Functions []FunctionRecord }](team, "GET", "/functions", nil, http.StatusOK)
	mine, hello := 0, false
	for _, f := range list.Functions {
		if f.Name == "mine" {
			mine++
		}
		hello = hello || f.Name == "hello" && f.Builtin
	}
	if mine != 1 || !hello {
		t.Errorf("team lists %d functions named mine (want 1) and hello: %v", mine, hello)
	}

	// Flares: each namespace sees its own, and the built-ins run for both.
	tf := team.run(map[string]any{"function": "hello", "size": 2})
	rf := root.run(map[string]any{"function": "mine", "size": 2, "granularity": 1, "input": map[string]int{"bytes": 8, "rounds": 1}})
	if tf.Status != control.StatusSucceeded || tf.Namespace != "team" || rf.Status != control.StatusSucceeded || rf.Namespace != DefaultNamespace {
		t.Fatalf("flares: team %s %q in %q, default %s %q in %q", tf.Status, tf.Error, tf.Namespace, rf.Status, rf.Error, rf.Namespace)
	}
	for _, path := range []string{"", "/results", "/logs", "/events"} {
		root.apiError("GET", "/flares/"+tf.ID+path, nil, http.StatusNotFound, CodeUnknownFlare)
		team.apiError("GET", "/flares/"+rf.ID+path, nil, http.StatusNotFound, CodeUnknownFlare)
	}
	team.apiError("DELETE", "/flares/"+rf.ID, nil, http.StatusNotFound, CodeUnknownFlare)
	for _, v := range []struct {
		c    *cluster
		id   string
		name string
	}{{team, tf.ID, "team"}, {root, rf.ID, "default"}} {
		l := call[FlareList](v.c, "GET", "/flares", nil, http.StatusOK)
		if len(l.Flares) != 1 || l.Flares[0].ID != v.id {
			t.Errorf("%s lists %d flares, want its one", v.name, len(l.Flares))
		}
	}

	// A namespace's admin manages its keys, not the cluster's.
	teamAdmin.apiError("PUT", "/namespaces/team", map[string]any{"limits": map[string]int{"workers": 1000}}, http.StatusForbidden, CodeForbidden)
	teamAdmin.apiError("POST", "/keys", map[string]any{"role": "admin", "namespace": DefaultNamespace}, http.StatusNotFound, CodeNotFound)
	teamAdmin.apiError("GET", "/namespaces/"+DefaultNamespace, nil, http.StatusNotFound, CodeNotFound)
	keys := call[struct{ Keys []Key }](teamAdmin, "GET", "/keys", nil, http.StatusOK).Keys
	var rootID string
	for _, k := range call[struct{ Keys []Key }](root, "GET", "/keys", nil, http.StatusOK).Keys {
		if k.Namespace == DefaultNamespace {
			rootID = k.ID
		}
	}
	for _, k := range keys {
		if k.Namespace != "team" {
			t.Errorf("a team admin lists key %s of %s", k.ID, k.Namespace)
		}
	}
	teamAdmin.apiError("DELETE", "/keys/"+rootID, nil, http.StatusNotFound, CodeNotFound)
	names := call[struct{ Namespaces []Namespace }](teamAdmin, "GET", "/namespaces", nil, http.StatusOK).Namespaces
	if len(names) != 1 || names[0].Name != "team" {
		t.Errorf("a team admin lists namespaces %v", names)
	}
}

// doHeader sends a request and returns its status, error code and the answer's header.
func (c *cluster) doHeader(method, path string, body any) (int, string, http.Header) {
	c.t.Helper()
	resp, b := c.send(method, path, body)
	var e struct{ Error Error }
	json.Unmarshal(b, &e)
	return resp.StatusCode, e.Error.Code, resp.Header
}

// TestNamespaceLimits: a namespace's largest flare, its rate, its queue and its workers
// at once; the other namespaces pass its waiting flares.
func TestNamespaceLimits(t *testing.T) {
	c := newCluster(t, clusterOptions{slots: []int{64}})
	root := c.as(call[NewKey](c, "POST", "/keys", map[string]any{"role": "admin"}, http.StatusCreated).Secret)
	call[Namespace](root, "PUT", "/namespaces/small", map[string]any{"limits": map[string]any{"max_size": 4, "workers": 4, "queued": 1}}, http.StatusCreated)
	small := c.as(call[NewKey](root, "POST", "/keys", map[string]any{"role": "runner", "namespace": "small"}, http.StatusCreated).Secret)
	root.apiError("PUT", "/namespaces/small", map[string]any{"limits": map[string]any{"workers": -1}}, http.StatusBadRequest, CodeBadRequest)

	msg := small.apiError("POST", "/flares", map[string]any{"function": "hello", "size": 5}, http.StatusBadRequest, CodeOverLimit)
	if !strings.Contains(msg, "largest, 4") {
		t.Errorf("a flare over the largest: %q", msg)
	}
	// Four workers run; the next flare waits (not a 429), and one more is refused.
	gate1, gate2 := newGate(t), newGate(t)
	first := call[Record](small, "POST", "/flares", map[string]any{"function": "gate", "size": 4, "input": gate1}, http.StatusAccepted)
	eventually(t, func() bool {
		return call[Record](small, "GET", "/flares/"+first.ID, nil, http.StatusOK).Status == control.StatusRunning
	}, "the first to run")
	second := call[Record](small, "POST", "/flares", map[string]any{"function": "gate", "size": 2, "input": gate2}, http.StatusAccepted)
	status, code, header := small.doHeader("POST", "/flares", map[string]any{"function": "hello"})
	if status != http.StatusTooManyRequests || code != CodeQueueFull || header.Get("Retry-After") == "" {
		t.Errorf("a flare over the queue: %d %s, Retry-After %q", status, code, header.Get("Retry-After"))
	}
	// Another namespace's flare passes the waiting one.
	if rec := root.run(map[string]any{"function": "hello", "size": 8}); rec.Status != control.StatusSucceeded {
		t.Errorf("default's flare behind small's waiting one: %s %q", rec.Status, rec.Error)
	}
	if rec := call[Record](small, "GET", "/flares/"+second.ID, nil, http.StatusOK); rec.Status != control.StatusQueued {
		t.Errorf("small's second flare %s while its first runs, want queued", rec.Status)
	}
	openGate(gate1)
	openGate(gate2)
	if rec := small.waitFlare(second.ID); rec.Status != control.StatusSucceeded {
		t.Errorf("small's second flare %s %q", rec.Status, rec.Error)
	}

	// A rate of 2 flares a second, 2 at once.
	call[Namespace](root, "PUT", "/namespaces/small", map[string]any{"limits": map[string]any{"rate": 2}}, http.StatusOK)
	small.run(map[string]any{"function": "hello"})
	small.run(map[string]any{"function": "hello"})
	status, code, header = small.doHeader("POST", "/flares?wait=true", map[string]any{"function": "hello"})
	secs, _ := strconv.Atoi(header.Get("Retry-After"))
	if status != http.StatusTooManyRequests || code != CodeRateLimited || secs < 1 {
		t.Fatalf("a flare over the rate: %d %s, Retry-After %q", status, code, header.Get("Retry-After"))
	}
	time.Sleep(600 * time.Millisecond)
	if rec := small.run(map[string]any{"function": "hello"}); rec.Status != control.StatusSucceeded {
		t.Errorf("a flare once the rate allows: %s", rec.Status)
	}
}

// TestFunctionsMovedToNamespaces: a function registered before namespaces, under its
// bare name, is the default namespace's after a restart.
func TestFunctionsMovedToNamespaces(t *testing.T) {
	c := newCluster(t, clusterOptions{slots: []int{16}})
	call[FunctionRecord](c, "PUT", "/functions/old", mustRead(t, plugin(t, "gateway/testdata/pingpong")), http.StatusCreated)
	// As an earlier gateway stored it.
	e, err := c.gw.store.functions.Get(t.Context(), registryKey(DefaultNamespace, "old"))
	if err != nil {
		t.Fatal(err)
	}
	var f FunctionRecord
	json.Unmarshal(e.Value(), &f)
	f.Namespace = ""
	b, _ := json.Marshal(f)
	c.gw.store.functions.Put(t.Context(), "old", b)
	c.gw.store.functions.Delete(t.Context(), registryKey(DefaultNamespace, "old"))
	c.apiError("GET", "/functions/old", nil, http.StatusNotFound, CodeUnknownFunction)
	if err := c.gw.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	c.startGateway(Options{})
	got := call[FunctionRecord](c, "GET", "/functions/old", nil, http.StatusOK)
	if got.Namespace != DefaultNamespace || got.Digest != f.Digest {
		t.Errorf("moved function %+v", got)
	}
}
