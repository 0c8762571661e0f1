package invoker

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/burstgo/burst/cluster"
)

func TestMain(m *testing.M) {
	var err error
	pluginDir, err = os.MkdirTemp("", "burst-invoker-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(pluginDir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutines left behind:", err)
			code = 1
		}
	}
	os.Exit(code)
}

var pluginDir string

// env is a real embedded NATS server with JetStream and one invoker, driven by hand as
// the gateway would: assignments by request, events on burst.evt.<flare>.
type env struct {
	t   *testing.T
	srv *server.Server
	nc  *nats.Conn // the "gateway"'s connection
	inv *Invoker
}

func newEnv(t *testing.T, opts Options) *env {
	t.Helper()
	srv, err := cluster.RunServer(cluster.ServerOptions{Port: -1, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, srv: srv}
	t.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	e.nc = e.connect()
	if opts.ID == "" {
		opts.ID = "inv"
	}
	opts.Conn = e.connect()
	if opts.CacheDir == "" {
		opts.CacheDir = t.TempDir()
	}
	if opts.Heartbeat == 0 {
		opts.Heartbeat = 50 * time.Millisecond
	}
	inv, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := inv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.inv = inv
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := inv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return e
}

func (e *env) connect() *nats.Conn {
	nc, err := cluster.ConnectInProcess(e.srv)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(nc.Close)
	return nc
}

// events subscribes to a flare's events; call before assigning.
func (e *env) events(flare string) chan Event {
	ch := make(chan Event, 1024)
	sub, err := e.nc.Subscribe(EventSubject(flare), func(m *nats.Msg) {
		var ev Event
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			e.t.Errorf("bad event: %v", err)
			return
		}
		ch <- ev
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.nc.Flush()
	e.t.Cleanup(func() { sub.Unsubscribe() })
	return ch
}

// assign sends an assignment and returns the reply.
func (e *env) assign(a Assignment) AssignReply {
	e.t.Helper()
	b, _ := json.Marshal(a)
	m, err := e.nc.Request(AssignSubject(e.inv.ID()), b, 10*time.Second)
	if err != nil {
		e.t.Fatal(err)
	}
	var r AssignReply
	if err := json.Unmarshal(m.Data, &r); err != nil {
		e.t.Fatal(err)
	}
	return r
}

// packEnd collects a pack's events until its ended event.
type packEnd struct {
	started *Event
	workers []WorkerEvent
	logs    []LogLine
	ended   Event
}

// collect reads events until packs packs have ended.
func collect(t *testing.T, ch chan Event, packs int) map[int]*packEnd {
	t.Helper()
	out := map[int]*packEnd{}
	timeout := time.After(20 * time.Second)
	for ended := 0; ended < packs; {
		select {
		case ev := <-ch:
			p := out[ev.Pack]
			if p == nil {
				p = &packEnd{}
				out[ev.Pack] = p
			}
			switch ev.Type {
			case EventStarted:
				p.started = &ev
			case EventWorkers:
				p.workers = append(p.workers, ev.Workers...)
			case EventLogs:
				p.logs = append(p.logs, ev.Lines...)
			case EventEnded:
				p.ended = ev
				ended++
			}
		case <-timeout:
			t.Fatalf("%d packs ended, want %d", len(out), packs)
		}
	}
	return out
}
