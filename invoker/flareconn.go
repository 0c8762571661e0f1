package invoker

import (
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/burstgo/burst/comm"
	"github.com/burstgo/burst/control"
	"github.com/burstgo/burst/datasets"
)

// flareConns are the NATS connections of the flares whose packs run in this process
// over a connection of their own: on a closed bus, as the flare's user with the
// credential of its assignments, which reaches that flare's subjects and nothing else.
// The packs of a flare here share one, made by the first and closed after the last.
type flareConns struct {
	url, ca string

	mu      sync.Mutex
	byFlare map[string]*flareConn
}

type flareConn struct {
	ready     chan struct{} // closed once connected, or not
	err       error
	nc        *nats.Conn
	nats      comm.Transport
	jetstream comm.Transport
	datasets  *datasets.Conn
	refs      int
}

// flushBeforeClose bounds the wait for the server to have what a flare's connection
// sent, when it closes.
const flushBeforeClose = 2 * time.Second

func newFlareConns(url, ca string) *flareConns {
	return &flareConns{url: url, ca: ca, byFlare: make(map[string]*flareConn)}
}

// needsConn reports whether pack a talks to other packs over NATS: a flare of one pack
// never opens its transport, and memory stays in the process.
func needsConn(a control.Assignment) bool {
	return a.Packs() > 1 && a.Backend != control.BackendMemory
}

// transport returns the transport of a's backend over its flare's connection, and the
// release to call once the pack has closed.
func (fc *flareConns) transport(a control.Assignment) (comm.Transport, func(), error) {
	c, release, err := fc.acquire(a)
	if err != nil {
		return nil, nil, err
	}
	if a.Backend == control.BackendJetStream {
		return c.jetstream, release, nil
	}
	return c.nats, release, nil
}

// datasets returns a's flare's connection for its workers' datasets, and the release to
// call once they are done with it.
func (fc *flareConns) datasets(a control.Assignment) (*datasets.Conn, func(), error) {
	c, release, err := fc.acquire(a)
	if err != nil {
		return nil, nil, err
	}
	return c.datasets, release, nil
}

// acquire returns a's flare's connection, made by the first caller and shared with
// the others until the last releases it.
func (fc *flareConns) acquire(a control.Assignment) (*flareConn, func(), error) {
	fc.mu.Lock()
	c := fc.byFlare[a.Flare]
	if c == nil {
		c = &flareConn{ready: make(chan struct{})}
		fc.byFlare[a.Flare] = c
		c.refs++
		fc.mu.Unlock()
		c.connect(fc.url, fc.ca, a)
		close(c.ready)
	} else {
		c.refs++
		fc.mu.Unlock()
		<-c.ready
	}
	release := func() { fc.release(a.Flare, c) }
	if c.err != nil {
		release()
		return nil, nil, c.err
	}
	return c, release, nil
}

func (c *flareConn) connect(url, ca string, a control.Assignment) {
	// The server given, and no other: another server of the cluster does not know the
	// flare's credential.
	opts := []nats.Option{nats.Name("burst-flare-" + a.Flare), nats.MaxReconnects(-1), nats.IgnoreDiscoveredServers()}
	if ca != "" {
		opts = append(opts, nats.RootCAs(ca))
	}
	if a.Credential != "" {
		opts = append(opts, nats.UserInfo(control.FlareUser(a.Flare), a.Credential),
			nats.CustomInboxPrefix(control.FlareInbox(a.Flare)))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		c.err = fmt.Errorf("connect to NATS at %s as flare %s: %w", url, a.Flare, err)
		return
	}
	js, err := comm.NewJetStreamTransport(nc, comm.JetStreamOptions{})
	if err != nil {
		nc.Close()
		c.err = fmt.Errorf("jetstream transport: %w", err)
		return
	}
	c.nc, c.nats, c.jetstream, c.datasets = nc, comm.NewNATSTransport(nc), js, datasets.NewConn(nc)
}

// release drops a pack's hold on c, and closes it after the last.
func (fc *flareConns) release(flare string, c *flareConn) {
	fc.mu.Lock()
	c.refs--
	last := c.refs == 0
	if last && fc.byFlare[flare] == c {
		delete(fc.byFlare, flare)
	}
	fc.mu.Unlock()
	if last && c.nc != nil {
		// The last frames the packs sent reach the server before the connection goes.
		c.nc.FlushTimeout(flushBeforeClose)
		c.nc.Close()
	}
}
