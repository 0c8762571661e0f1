package invoker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/burstgo/burst/cluster"
	"github.com/burstgo/burst/comm"
	"github.com/burstgo/burst/control"
	"github.com/burstgo/burst/functions"
)

// Defects a review of the durable events found, each pinned by a test.

// TestShutdownBoundedByContext: Shutdown returns once its context ends, even while a
// worker ignores its own.
func TestShutdownBoundedByContext(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	running := make(chan struct{}, 1)
	stubborn := func(ctx context.Context, w *comm.Worker, in json.RawMessage) (any, error) {
		running <- struct{}{}
		<-release // ignores ctx
		return nil, nil
	}
	e := newEnv(t, Options{ID: "stub", Functions: map[string]functions.Func{"stubborn": stubborn}})
	if r := e.assign(control.Assignment{Flare: "s1", Function: "stubborn", Size: 1, Granularity: 1, Timeout: control.Duration(time.Minute)}); !r.OK {
		t.Fatal(r.Error)
	}
	<-running
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	ret := make(chan error, 1)
	go func() { ret <- e.inv.Shutdown(ctx) }()
	select {
	case err := <-ret:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Shutdown = %v, want its context's deadline", err)
		}
	case <-time.After(hangGuard):
		t.Fatal("Shutdown did not return after its context ended: it waits for the worker")
	}
}

// TestEscapedErrorsFit: errors of characters that JSON escapes to six bytes each still
// reach the gateway, in events under the payload limit, every workers event counted by
// the ended event.
func TestEscapedErrorsFit(t *testing.T) {
	srv, err := cluster.RunServer(cluster.ServerOptions{Port: -1, StoreDir: t.TempDir(), MaxPayload: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	e := &env{t: t, srv: srv}
	e.nc = e.connect()
	e.js = createEventStream(t, e.nc)
	angry := func(ctx context.Context, w *comm.Worker, in json.RawMessage) (any, error) {
		return nil, errors.New(strings.Repeat("<", 5000))
	}
	inv, err := New(Options{ID: "esc", Conn: e.connect(), CacheDir: t.TempDir(), Functions: map[string]functions.Func{"angry": angry}})
	if err != nil {
		t.Fatal(err)
	}
	if err := inv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inv.Shutdown(context.Background()) })
	e.inv = inv
	ch := e.events("esc1")
	if r := e.assign(control.Assignment{Flare: "esc1", Function: "angry", Size: 200, Granularity: 200, Backend: control.BackendMemory,
		Timeout: control.Duration(time.Minute)}); !r.OK {
		t.Fatal(r.Error)
	}
	pe := collect(t, ch, 1)[0]
	if len(pe.workers) != 200 || pe.ended.Reports < 2 {
		t.Fatalf("%d workers in %d workers events, want 200 in several", len(pe.workers), pe.ended.Reports)
	}
	for _, w := range pe.workers {
		if w.Status != control.StatusFailed || !strings.HasPrefix(w.Error, "<<<") {
			t.Fatalf("worker %d: %s %.20q", w.Rank, w.Status, w.Error)
		}
	}
}

// TestJSONLen checks jsonLen against encoding/json on strings that escape.
func TestJSONLen(t *testing.T) {
	tests := []string{"", "plain", `"quoted" \ back`, "<a href='x'>&</a>", "\n\r\t\b\f\x00\x1f\x7f",
		"é ü 日本", "\u2028\u2029", "bad \xff\xfe utf-8", strings.Repeat("<", 100)}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		b := make([]byte, r.IntN(40))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		tests = append(tests, string(b))
	}
	for _, s := range tests {
		want, _ := json.Marshal(s)
		if got := jsonLen(s); got != len(want) {
			t.Errorf("jsonLen(%q) = %d, want %d", s, got, len(want))
		}
	}
}

// TestRefusedFromSetup refuses assignments whose setup fails, after the micro handler
// has returned; run with -race, it checks that the reply does not touch micro's request.
func TestRefusedFromSetup(t *testing.T) {
	e := newEnv(t, Options{})
	for i := range 50 {
		r := e.assign(control.Assignment{Flare: fmt.Sprintf("r%d", i), Function: "no-such-builtin", Size: 1, Granularity: 1,
			Timeout: control.Duration(time.Minute)})
		if r.OK || !strings.Contains(r.Error, "unknown function") {
			t.Fatalf("reply %+v, want an unknown function", r)
		}
	}
}
