package invoker

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/burstgo/burst/cluster"
	"github.com/burstgo/burst/control"
	"github.com/burstgo/burst/functions/examples"
)

func TestMain(m *testing.M) {
	// The invoker starts its function hosts from its own executable: this test binary.
	if IsHost(os.Args[1:]) {
		os.Exit(HostMain(os.Args[1:]))
	}
	var err error
	pluginDir, err = os.MkdirTemp("", "burst-invoker-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(pluginDir)
	if code == 0 {
		if err := goleak.Find(natsObjectPutRace); err != nil {
			fmt.Fprintln(os.Stderr, "goroutines left behind:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// natsObjectPutRace ignores a goroutine that nats.go's object store Put may leave: Put
// starts resetPendingAcksOnReconnect and, when done, sets the status channel it reads
// to nil; a goroutine that reads it after that waits on a nil channel for good
// (nats.go v1.55.0, jetstream/publish.go and object.go). It is not ours to end.
var natsObjectPutRace = goleak.IgnoreTopFunction("github.com/nats-io/nats.go/jetstream.(*jetStream).resetPendingAcksOnReconnect")

var pluginDir string

// hangGuard bounds a wait that must end, so that a hang fails its test instead of
// stalling the suite; it is no claim about speed.
const hangGuard = time.Minute

// env is a real embedded NATS server with JetStream and one invoker, driven by hand as
// the gateway would: assignments by request, events from the events stream.
type env struct {
	t   *testing.T
	srv *server.Server
	nc  *nats.Conn // the "gateway"'s connection
	js  jetstream.JetStream
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
	e.js = createEventStream(t, e.nc)
	if opts.ID == "" {
		opts.ID = "inv"
	}
	if opts.Functions == nil {
		opts.Functions = examples.Builtins()
	}
	opts.HostNATS = srv.ClientURL()
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

// createEventStream makes the stream that the gateway would make, as the gateway does.
func createEventStream(t *testing.T, nc *nats.Conn) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	_, err = js.CreateOrUpdateStream(context.Background(), jetstream.StreamConfig{
		Name: control.EventStream, Subjects: []string{control.EventSubjects}, Storage: jetstream.FileStorage,
	})
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// events reads a flare's events from the stream, from the first.
func (e *env) events(flare string) chan control.Event {
	e.t.Helper()
	ch := make(chan control.Event, 1024)
	c, err := e.js.OrderedConsumer(context.Background(), control.EventStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{control.EventSubject(flare, "*")},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	cc, err := c.Consume(func(m jetstream.Msg) {
		var ev control.Event
		if err := json.Unmarshal(m.Data(), &ev); err != nil {
			e.t.Errorf("bad event: %v", err)
			return
		}
		ch <- ev
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(cc.Stop)
	return ch
}

// assign sends an assignment, at this build's protocol level unless it gives one, and
// returns the reply.
func (e *env) assign(a control.Assignment) control.AssignReply {
	e.t.Helper()
	if a.Proto == 0 {
		a.Proto = control.Version
	}
	b, _ := json.Marshal(a)
	m, err := e.nc.Request(control.AssignSubject(e.inv.ID()), b, 10*time.Second)
	if err != nil {
		e.t.Fatal(err)
	}
	var r control.AssignReply
	if err := json.Unmarshal(m.Data, &r); err != nil {
		e.t.Fatal(err)
	}
	return r
}

// packEnd collects a pack's events until its ended event.
type packEnd struct {
	started *control.Event
	workers []control.WorkerEvent
	logs    []control.LogLine
	ended   *control.Event
	parts   map[int]bool // workers events seen, by part
}

func (p *packEnd) complete() bool { return p.ended != nil && len(p.parts) == p.ended.Reports }

// collect reads events until packs packs have ended, with all their workers events,
// in whatever order they come.
func collect(t *testing.T, ch chan control.Event, packs int) map[int]*packEnd {
	t.Helper()
	out := map[int]*packEnd{}
	timeout := time.After(time.Minute)
	for done := 0; done < packs; {
		select {
		case ev := <-ch:
			p := out[ev.Pack]
			if p == nil {
				p = &packEnd{parts: map[int]bool{}}
				out[ev.Pack] = p
			}
			was := p.complete()
			switch ev.Kind {
			case control.EventStarted:
				p.started = &ev
			case control.EventWorkers:
				if p.parts[ev.Part] || ev.Part < 1 {
					t.Fatalf("pack %d: workers event part %d again, or unnumbered", ev.Pack, ev.Part)
				}
				p.parts[ev.Part] = true
				p.workers = append(p.workers, ev.Workers...)
			case control.EventLogs:
				p.logs = append(p.logs, ev.Lines...)
			case control.EventEnded:
				p.ended = &ev
				p.workers = append(p.workers, ev.Workers...)
			}
			if !was && p.complete() {
				slices.SortFunc(p.workers, func(a, b control.WorkerEvent) int { return a.Rank - b.Rank })
				done++
			}
		case <-timeout:
			t.Fatalf("%d packs ended, want %d", len(out), packs)
		}
	}
	return out
}
