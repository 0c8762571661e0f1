package gateway

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	natscluster "github.com/burstgo/burst/cluster"
	"github.com/burstgo/burst/control"
)

// Defects a review of the durable events found, each pinned by a test.

// TestTakenUpPastDeadline: a flare that succeeded while its gateway was away, taken up
// after its deadline, is recorded succeeded: its events are read before its timer runs.
func TestTakenUpPastDeadline(t *testing.T) {
	c := newCluster(t, clusterOptions{gateway: Options{LeaveRunning: true}})
	gateName := newGate(t)
	rec := call[Record](c, "POST", "/flares", map[string]any{"function": "gate", "size": 2, "granularity": 1, "input": gateName, "timeout": "1s"}, http.StatusAccepted)
	eventually(t, func() bool {
		return call[Record](c, "GET", "/flares/"+rec.ID, nil, http.StatusOK).Workers[1].Status == control.StatusRunning
	}, "every worker to run")
	if err := c.gw.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	openGate(gateName)
	eventually(t, func() bool { return c.invokers[0].Heartbeat().Packs == 0 }, "the packs to end")
	// The gateway stays away past the deadline.
	time.Sleep(time.Until(rec.Created.Add(1200 * time.Millisecond)))
	c.startGateway(Options{LeaveRunning: true})
	if got := c.waitFlare(rec.ID); got.Status != control.StatusSucceeded {
		t.Fatalf("%s %q, want succeeded; workers %+v", got.Status, got.Error, got.Workers)
	}
}

// TestRunningFlareStaysIndexed: a flare in flight is never dropped from the index, so
// the count of flares by status never goes below zero.
func TestRunningFlareStaysIndexed(t *testing.T) {
	c := newCluster(t, clusterOptions{gateway: Options{IndexLimit: 1}})
	gateName := newGate(t)
	a := call[Record](c, "POST", "/flares", map[string]any{"function": "gate", "size": 1, "input": gateName}, http.StatusAccepted)
	c.run(map[string]any{"function": "hello", "size": 1})
	c.run(map[string]any{"function": "hello", "size": 1})
	if l := call[FlareList](c, "GET", "/flares?status=running", nil, http.StatusOK); len(l.Flares) != 1 || l.Flares[0].ID != a.ID {
		t.Errorf("running flares listed: %+v", l.Flares)
	}
	openGate(gateName)
	c.waitFlare(a.ID)
	_, b := c.do("GET", "/metrics", nil)
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "burst_flares{") && strings.HasSuffix(line, " -1") {
			t.Errorf("negative count: %s", line)
		}
	}
}

// TestByeAfterEvents: an invoker whose pack ended says bye at once, while the gateway
// is still behind on the events stream; the pack's end is applied before the invoker
// is given up, and the flare succeeds.
func TestByeAfterEvents(t *testing.T) {
	c := newCluster(t, clusterOptions{})
	gateName := newGate(t)
	rec := call[Record](c, "POST", "/flares", map[string]any{"function": "gate", "size": 2, "granularity": 2, "input": gateName}, http.StatusAccepted)
	eventually(t, func() bool {
		return call[Record](c, "GET", "/flares/"+rec.ID, nil, http.StatusOK).Workers[1].Status == control.StatusRunning
	}, "every worker to run")
	// A busy stream: the gateway's reader falls behind.
	nc := c.connect()
	junk := []byte(`{"type":"logs","flare":"01900000-0000-7000-8000-00000000ffff","pack":0,"invoker":"x"}`)
	for range 20000 {
		nc.Publish(control.EventSubject("01900000-0000-7000-8000-00000000ffff", "x"), junk)
	}
	nc.Flush()
	openGate(gateName)
	inv := c.invokers[0]
	eventually(t, func() bool { return inv.Heartbeat().Packs == 0 }, "the pack to end")
	if err := inv.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if end := c.waitFlare(rec.ID); end.Status != control.StatusSucceeded {
		t.Fatalf("%s %q, want succeeded: the pack ended and its events are in the stream", end.Status, end.Error)
	}
}

// TestEventsSurviveBrokenConnection cuts the gateway's connection to NATS while events
// stream in: every one of them is still applied, none lost in flight.
func TestEventsSurviveBrokenConnection(t *testing.T) {
	srv, err := natscluster.RunServer(natscluster.ServerOptions{Port: -1, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { srv.Shutdown(); srv.WaitForShutdown() }()
	pub, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	px := newCutProxy(t, srv.Addr().String())
	gwc, err := nats.Connect("nats://"+px.ln.Addr().String(), nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer gwc.Close()
	g, err := New(Options{Addr: "127.0.0.1:0", Conn: gwc, Exe: "/bin/false", Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer g.Shutdown(context.Background())
	st, err := openStore(context.Background(), pub, time.Hour, time.Minute, 1)
	if err != nil {
		t.Fatal(err)
	}
	const n = 20000
	payload := []byte(fmt.Sprintf(`{"type":"logs","flare":"f","pack":0,"invoker":"i","lines":[{"msg":"%0500d"}]}`, 0))
	for i := range n {
		if _, err := st.js.PublishAsync(control.EventSubject("f", "i"), payload); err != nil {
			t.Fatal(err)
		}
		switch {
		case i == n/2:
			px.cut()
		case i%1000 == 999:
			<-st.js.PublishAsyncComplete() // within the publisher's bound of pending acks
		}
	}
	<-st.js.PublishAsyncComplete()
	eventually(t, func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		return g.applied == n
	}, "every event to be applied")
}

// cutProxy forwards TCP to a NATS server; cut holds back what the server sends for a
// moment and then resets every connection, so that what the server wrote meanwhile is
// lost on the way.
type cutProxy struct {
	ln     net.Listener
	paused atomic.Bool
	mu     sync.Mutex
	conns  []net.Conn
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go io.Copy(s, c)
			go func() {
				buf := make([]byte, 32<<10)
				for {
					for p.paused.Load() {
						time.Sleep(time.Millisecond)
					}
					n, err := s.Read(buf)
					if n > 0 {
						if _, err := c.Write(buf[:n]); err != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		p.reset()
	})
	return p
}

func (p *cutProxy) reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
		c.Close()
	}
	p.conns = nil
}

func (p *cutProxy) cut() {
	p.paused.Store(true)
	time.Sleep(300 * time.Millisecond)
	p.reset()
	p.paused.Store(false)
}
