package invoker

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/burstgo/burst/cluster"
	"github.com/burstgo/burst/cluster/clustertest"
	"github.com/burstgo/burst/control"
	"github.com/burstgo/burst/datasets"
	"github.com/burstgo/burst/functions/examples"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
)

func TestRunPacks(t *testing.T) {
	e := newEnv(t, Options{})
	ch := e.events("f1")
	for p := range 2 {
		a := control.Assignment{Flare: "f1", Function: "hello", Size: 5, Granularity: 3, Pack: p, Backend: control.BackendNATS,
			Timeout: control.Duration(time.Minute), Input: json.RawMessage(`{"x":1}`)}
		if r := e.assign(a); !r.OK {
			t.Fatalf("pack %d refused: %s", p, r.Error)
		}
	}
	packs := collect(t, ch, 2)
	for p, want := range [][]int{{0, 1, 2}, {3, 4}} {
		pe := packs[p]
		// A pack that ends before its started event goes out sends none: its ended
		// event has the start times.
		if pe.started != nil && len(pe.started.Workers) != len(want) {
			t.Fatalf("pack %d: started event %+v", p, pe.started)
		}
		if len(pe.workers) != len(want) {
			t.Fatalf("pack %d: %d workers reported, want %d", p, len(pe.workers), len(want))
		}
		if pe.ended.Status != control.StatusSucceeded || pe.ended.Comm == nil || pe.ended.Invoker != "inv" {
			t.Errorf("pack %d ended %+v", p, pe.ended)
		}
		for i, w := range pe.workers {
			var r struct{ Rank, Size, Pack int }
			json.Unmarshal(w.Result, &r)
			if w.Rank != want[i] || w.Status != control.StatusSucceeded || r.Rank != want[i] || r.Size != 5 || r.Pack != p || w.Start.IsZero() || w.End.Before(w.Start) {
				t.Errorf("pack %d worker %d: %+v %s", p, i, w, w.Result)
			}
		}
	}
	eventually(t, func() bool { hb := e.inv.Heartbeat(); return hb.Used == 0 && hb.Packs == 0 }, "slots to come back")
}

func TestAssignRefused(t *testing.T) {
	e := newEnv(t, Options{})
	ok := control.Assignment{Flare: "f", Function: "hello", Size: 2, Granularity: 2, Backend: control.BackendNATS, Timeout: control.Duration(time.Minute)}
	tests := []struct {
		name string
		edit func(a *control.Assignment)
		says string
	}{
		{"empty pack", func(a *control.Assignment) { a.Pack = 1 }, "empty"},
		{"no size", func(a *control.Assignment) { a.Size = 0 }, "empty"},
		{"inputs do not match", func(a *control.Assignment) { a.Inputs = []json.RawMessage{json.RawMessage("1")} }, "inputs"},
		{"no time left", func(a *control.Assignment) { a.Timeout = 0 }, "no time left"},
		{"unknown built-in", func(a *control.Assignment) { a.Function = "nope" }, "unknown function"},
		{"bad digest", func(a *control.Assignment) { a.Digest = "xyz" }, "not a hex SHA-256"},
		{"unknown backend", func(a *control.Assignment) { a.Backend = "smoke" }, "unknown backend"},
		{"bad flare id", func(a *control.Assignment) { a.Flare = "a.b" }, "flare id"},
		{"bounds past the size", func(a *control.Assignment) { a.Bounds = []int{0, 3} }, "pack bounds [0 3] of a flare of 2"},
		{"a pack past the bounds", func(a *control.Assignment) { a.Bounds, a.Pack = []int{0, 1}, 2 }, "pack 2 of 2 joined packs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := ok
			tt.edit(&a)
			r := e.assign(a)
			if r.OK || !strings.Contains(r.Error, tt.says) {
				t.Errorf("reply %+v, want an error saying %q", r, tt.says)
			}
		})
	}
	// Nothing stays reserved after a refusal.
	if hb := e.inv.Heartbeat(); hb.Used != 0 || hb.Packs != 0 {
		t.Errorf("after refusals: %+v", hb)
	}
	m, err := e.nc.Request(control.AssignSubject("inv"), []byte("{"), time.Second)
	if err != nil || !strings.Contains(string(m.Data), "bad assignment") {
		t.Errorf("bad JSON: %v %s", err, m.Data)
	}
}

func TestCancelAndTimeout(t *testing.T) {
	e := newEnv(t, Options{})
	tests := []struct {
		name    string
		flare   string
		timeout time.Duration
		cancel  *control.Cancel
		status  control.Status
		says    string
	}{
		{"cancel", "c1", time.Minute, &control.Cancel{Flare: "c1", Status: control.StatusCancelled, Reason: "by request"}, control.StatusCancelled, "by request"},
		{"gateway timeout", "c2", time.Minute, &control.Cancel{Flare: "c2", Status: control.StatusTimedOut}, control.StatusTimedOut, "timed out"},
		{"own timeout", "c3", 100 * time.Millisecond, nil, control.StatusTimedOut, "timed out"},
		{"relayed failure", "c4", time.Minute, &control.Cancel{Flare: "c4", Status: control.StatusFailed, Reason: "rank 9: boom"}, control.StatusAborted, "rank 9: boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := e.events(tt.flare)
			a := control.Assignment{Flare: tt.flare, Function: "sleep", Size: 3, Granularity: 3, Timeout: control.Duration(tt.timeout), Input: json.RawMessage(`"1m"`)}
			if r := e.assign(a); !r.OK {
				t.Fatal(r.Error)
			}
			if tt.cancel != nil {
				b, _ := json.Marshal(tt.cancel)
				e.nc.Publish(control.SubjectCancel, b)
			}
			pe := collect(t, ch, 1)[0]
			for _, w := range pe.workers {
				if w.Status != tt.status || !strings.Contains(w.Error, tt.says) {
					t.Errorf("worker %+v, want %s saying %q", w, tt.status, tt.says)
				}
			}
			if tt.cancel != nil {
				// A late assignment of a cancelled flare is refused.
				a.Pack = 0
				if r := e.assign(a); r.OK || !strings.Contains(r.Error, "cancelled") {
					t.Errorf("late assignment: %+v", r)
				}
			}
		})
	}
}

func TestWorkerFailure(t *testing.T) {
	e := newEnv(t, Options{})
	ch := e.events("w1")
	inputs := []json.RawMessage{json.RawMessage(`"1m"`), json.RawMessage(`"nonsense"`), json.RawMessage(`"1m"`)}
	if r := e.assign(control.Assignment{Flare: "w1", Function: "sleep", Size: 3, Granularity: 3, Timeout: control.Duration(time.Minute), Inputs: inputs}); !r.OK {
		t.Fatal(r.Error)
	}
	pe := collect(t, ch, 1)[0]
	want := []control.Status{control.StatusAborted, control.StatusFailed, control.StatusAborted}
	for i, w := range pe.workers {
		if w.Status != want[i] {
			t.Errorf("rank %d: %s %q, want %s", i, w.Status, w.Error, want[i])
		}
	}
	if pe.ended.Status != control.StatusFailed || !strings.HasPrefix(pe.ended.Error, "rank 1: sleep:") {
		t.Errorf("pack ended %s %q", pe.ended.Status, pe.ended.Error)
	}
}

func TestHeartbeats(t *testing.T) {
	e := newEnv(t, Options{Slots: 7, Heartbeat: time.Hour})
	ch := make(chan *nats.Msg, 16)
	sub, _ := e.nc.ChanSubscribe(control.HeartbeatSubject("inv"), ch)
	defer sub.Unsubscribe()
	bye, _ := e.nc.ChanSubscribe(control.ByeSubject("inv"), ch)
	defer bye.Unsubscribe()
	e.nc.Flush()
	// An hour between beats: only discovery makes one now.
	e.nc.Publish(control.SubjectDiscover, nil)
	var hb control.Heartbeat
	select {
	case m := <-ch:
		json.Unmarshal(m.Data, &hb)
	case <-time.After(10 * time.Second):
		t.Fatal("no heartbeat after discover")
	}
	if hb.ID != "inv" || hb.Slots != 7 || hb.Interval != control.Duration(time.Hour) || len(hb.Backends) != 3 {
		t.Errorf("heartbeat %+v", hb)
	}
	e.inv.Shutdown(t.Context())
	for bye := false; !bye; {
		select {
		case m := <-ch:
			// Heartbeats sent before may still come first.
			bye = m.Subject == control.ByeSubject("inv")
		case <-time.After(10 * time.Second):
			t.Fatal("no bye at shutdown")
		}
	}
	if r := e.assignNoReply(); r == nil {
		t.Error("a stopped invoker still takes assignments")
	}
}

// assignNoReply sends an assignment that nobody should answer and returns the error.
func (e *env) assignNoReply() error {
	_, err := e.nc.Request(control.AssignSubject(e.inv.ID()), []byte("{}"), 200*time.Millisecond)
	return err
}

func TestNewOptions(t *testing.T) {
	if _, err := New(Options{}); err == nil {
		t.Error("no connection accepted")
	}
	e := newEnv(t, Options{})
	if _, err := New(Options{Conn: e.nc, ID: "a.b"}); err == nil {
		t.Error("an id with a dot accepted")
	}
	inv, err := New(Options{Conn: e.nc})
	if err != nil || inv.Slots() != DefaultSlots || !strings.Contains(inv.ID(), "-") {
		t.Errorf("defaults: %v slots %d id %q", err, inv.Slots(), inv.ID())
	}
}

func eventually(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestProtocolLevelRefused(t *testing.T) {
	e := newEnv(t, Options{})
	a := control.Assignment{Proto: control.Version + 1, Flare: "v1", Function: "hello", Size: 1, Granularity: 1, Timeout: control.Duration(time.Minute)}
	r := e.assign(a)
	if r.OK || !strings.Contains(r.Error, fmt.Sprintf("protocol level %d; this invoker speaks level %d", control.Version+1, control.Version)) {
		t.Errorf("reply %+v, want a refusal naming both levels", r)
	}
	if hb := e.inv.Heartbeat(); hb.Proto != control.Version || hb.Used != 0 {
		t.Errorf("heartbeat %+v", hb)
	}
}

// TestPacksAndStarted asks the invoker which packs it runs, as a gateway that restarted
// does: a running pack is listed, and once it has ended and its events are in the
// stream, it is not. A pack that runs long enough sends its started event.
func TestPacksAndStarted(t *testing.T) {
	e := newEnv(t, Options{})
	ch := e.events("pk")
	a := control.Assignment{Flare: "pk", Function: "sleep", Size: 2, Granularity: 2, Timeout: control.Duration(time.Minute), Input: json.RawMessage(`"1m"`)}
	if r := e.assign(a); !r.OK {
		t.Fatal(r.Error)
	}
	var started control.Event
	select {
	case started = <-ch:
	case <-time.After(time.Minute):
		t.Fatal("no started event")
	}
	if started.Kind != control.EventStarted || len(started.Workers) != 2 || started.Workers[1].Start.IsZero() {
		t.Fatalf("first event %+v, want started with both workers", started)
	}
	if got := e.packs(); len(got) != 1 || got[0] != (control.PackRef{Flare: "pk", Pack: 0}) {
		t.Fatalf("packs %+v, want pk/0", got)
	}
	b, _ := json.Marshal(control.Cancel{Flare: "pk", Status: control.StatusCancelled})
	e.nc.Publish(control.SubjectCancel, b)
	if pe := collect(t, ch, 1)[0]; pe.ended.Status != control.StatusCancelled {
		t.Fatalf("ended %+v", pe.ended)
	}
	eventually(t, func() bool { return len(e.packs()) == 0 }, "the pack to leave the list")
}

// packs asks the invoker's packs endpoint.
func (e *env) packs() []control.PackRef {
	e.t.Helper()
	m, err := e.nc.Request(control.PacksSubject(e.inv.ID()), nil, 10*time.Second)
	if err != nil {
		e.t.Fatal(err)
	}
	var r control.PacksReply
	if err := json.Unmarshal(m.Data, &r); err != nil || r.Proto != control.Version {
		e.t.Fatalf("packs reply %s: %v", m.Data, err)
	}
	return r.Packs
}

// TestService checks that the invoker shows up as a NATS micro service, with its
// protocol level and its id, for `nats micro ls`.
func TestService(t *testing.T) {
	e := newEnv(t, Options{})
	m, err := e.nc.Request("$SRV.INFO."+control.ServiceName, nil, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var info micro.Info
	if err := json.Unmarshal(m.Data, &info); err != nil {
		t.Fatal(err)
	}
	if info.Version != fmt.Sprintf("%d.0.0", control.Version) || info.Metadata["invoker"] != "inv" || len(info.Endpoints) != 2 {
		t.Errorf("service info %+v", info)
	}
}

// TestEventsOutliveServer stops the NATS server while a pack runs and starts it again on
// the same store: the pack goes on, and its events reach the stream once the server is
// back.
func TestEventsOutliveServer(t *testing.T) {
	dir := t.TempDir()
	port := clustertest.FreePort(t)
	start := func() *server.Server {
		srv, err := cluster.RunServer(cluster.ServerOptions{Port: port, StoreDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		return srv
	}
	srv := start()
	url := srv.ClientURL()
	connect := func() *nats.Conn {
		nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		return nc
	}
	nc := connect()
	createEventStream(t, nc)
	inv, err := New(Options{ID: "inv", Conn: connect(), CacheDir: t.TempDir(), Heartbeat: 50 * time.Millisecond, Functions: examples.Builtins()})
	if err != nil {
		t.Fatal(err)
	}
	if err := inv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer inv.Shutdown(context.Background())
	b, _ := json.Marshal(control.Assignment{Proto: control.Version, Flare: "away", Function: "sleep", Size: 2, Granularity: 1, Pack: 1,
		Timeout: control.Duration(time.Minute), Input: json.RawMessage(`"1s"`)})
	if m, err := nc.Request(control.AssignSubject("inv"), b, 10*time.Second); err != nil || !strings.Contains(string(m.Data), `"ok":true`) {
		t.Fatalf("assign: %v", err)
	}
	srv.Shutdown()
	srv.WaitForShutdown()
	// The pack ends with no server: its events wait in the outbox.
	eventually(t, func() bool { return inv.Heartbeat().Packs == 0 && len(inv.events.owed()) == 1 }, "the pack to end and owe its events")
	srv = start()
	defer func() {
		inv.Shutdown(context.Background())
		srv.Shutdown()
		srv.WaitForShutdown()
	}()
	e := &env{t: t, srv: srv, nc: nc}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	e.js = js
	pe := collect(t, e.events("away"), 1)[1]
	if pe.ended.Status != control.StatusSucceeded || len(pe.workers) != 1 || pe.workers[0].Rank != 1 {
		t.Fatalf("pack after the restart: %+v, workers %+v", pe.ended, pe.workers)
	}
}

// TestAuthorizeNATS: an invoker's own server lets in a flare's connection with the
// credential of a pack the invoker runs, and nothing else; once the invoker runs no pack
// of the flare, it refuses it and Revoked ends its connections, once.
func TestAuthorizeNATS(t *testing.T) {
	var mu sync.Mutex
	var revoked []string
	e := newEnv(t, Options{Isolation: control.IsolationNone, Revoked: func(user string) {
		mu.Lock()
		defer mu.Unlock()
		revoked = append(revoked, user)
	}})
	ch := e.events("auth")
	a := control.Assignment{Flare: "auth", Function: "sleep", Size: 4, Granularity: 2, Timeout: control.Duration(time.Minute),
		Input: json.RawMessage(`"1m"`), Credential: "right", Namespace: "team"}
	for p := range 2 {
		a.Pack = p
		if r := e.assign(a); !r.OK {
			t.Fatal(r.Error)
		}
	}
	perms, ok := e.inv.AuthorizeNATS(control.FlareUser("auth"), "right")
	want := control.FlarePermissions("auth", "team")
	if !ok || !slices.Equal(perms.Subscribe, want.Subscribe) || !slices.Equal(perms.Publish, want.Publish) ||
		!slices.Contains(perms.Publish, datasets.ReadPermission("team")) {
		t.Errorf("the flare's own credential: %v %+v", ok, perms)
	}
	for _, tc := range []struct{ user, password string }{
		{control.FlareUser("auth"), "wrong"},
		{control.FlareUser("auth"), ""},
		{control.FlareUser("other"), "right"},
		{control.InvokerUser("inv"), "right"},
		{"", ""},
	} {
		if _, ok := e.inv.AuthorizeNATS(tc.user, tc.password); ok {
			t.Errorf("let in %q with %q", tc.user, tc.password)
		}
	}
	b, _ := json.Marshal(control.Cancel{Flare: "auth", Status: control.StatusCancelled, Reason: "test"})
	e.nc.Publish(control.SubjectCancel, b)
	collect(t, ch, 2)
	eventually(t, func() bool {
		_, ok := e.inv.AuthorizeNATS(control.FlareUser("auth"), "right")
		return !ok
	}, "the credential to die with the flare's packs")
	eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(revoked) > 0
	}, "Revoked")
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(revoked, []string{control.FlareUser("auth")}) {
		t.Errorf("revoked %q, want the flare's user once", revoked)
	}
}
