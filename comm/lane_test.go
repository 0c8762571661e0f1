package comm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/burstgo/burst/cluster"
	"github.com/burstgo/burst/cluster/clustertest"
)

// listenLanes opens lanes that close with the test.
func listenLanes(t testing.TB, o LaneOptions) *Lanes {
	t.Helper()
	l, err := ListenLanes(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// lanePacks builds the packs of cfg as if each lived in a process of its own: pack i
// takes lanes through lanes[i] with secrets[i].
func lanePacks(t testing.TB, cfg Config, lanes []*Lanes, secrets [][]byte) *Group {
	t.Helper()
	if cfg.Flare == "" {
		cfg.Flare = flareID(t)
	}
	g := &Group{cfg: cfg}
	t.Cleanup(func() {
		if err := g.Close(); err != nil {
			t.Error(err)
		}
	})
	for i := range cfg.Packs() {
		c := cfg
		c.Lanes, c.LaneSecret = lanes[i], secrets[i]
		p, err := NewPack(context.Background(), c, i)
		if err != nil {
			t.Fatal(err)
		}
		g.packs = append(g.packs, p)
	}
	return g
}

func sameSecret(n int) [][]byte {
	s := make([][]byte, n)
	for i := range s {
		s[i] = []byte("the flare's secret")
	}
	return s
}

// bigPair sends a message of n bytes from rank 0 to the last rank, which checks it.
func bigPair(n int) func(ctx context.Context, w *Worker) error {
	return func(ctx context.Context, w *Worker) error {
		last := w.Size() - 1
		switch w.Rank() {
		case 0:
			return w.Send(ctx, last, pattern(n, 7))
		case last:
			got, err := w.Recv(ctx, 0)
			if err == nil && !bytes.Equal(got, pattern(n, 7)) {
				err = errors.New("the large message came back different")
			}
			return err
		}
		return nil
	}
}

// Every collective gives the reference's answers with every message on a lane, over a
// unix socket, TCP and TLS, and a message of many chunks arrives whole; the lanes carry
// the bytes, the transport only the small frames (hellos, credit).
func TestLanesCarryEveryCollective(t *testing.T) {
	ca := clustertest.NewCA(t)
	cert, key := ca.Issue(t, "node")
	listen, dial, err := cluster.MutualTLS(cert, key, ca.File)
	if err != nil {
		t.Fatal(err)
	}
	networks := []struct {
		name string
		opts LaneOptions
	}{
		{"unix", LaneOptions{Unix: true}},
		{"tcp", LaneOptions{TCP: "127.0.0.1:0"}},
		{"tls", LaneOptions{TCP: "127.0.0.1:0", ServerTLS: listen, ClientTLS: dial}},
		{"tls-by-name", LaneOptions{TCP: "localhost:0", ServerTLS: listen, ClientTLS: dial}},
	}
	for _, tr := range transports[:2] { // JetStream takes no lanes
		for _, nw := range networks {
			t.Run(tr.name+"/"+nw.name, func(t *testing.T) {
				transport := tr.make(t)
				const n = 8
				cfg := Config{Size: n, Granularity: 1, Bounds: []int{0, 3, 5}, Transport: transport, ChunkSize: 64 << 10}
				lanes := make([]*Lanes, 3)
				for i := range lanes {
					o := nw.opts
					o.Threshold = 1 // every data frame
					lanes[i] = listenLanes(t, o)
				}
				g := lanePacks(t, cfg, lanes, sameSecret(3))
				if err := run(t, g, newReference(n).check); err != nil {
					t.Fatal(err)
				}
				if err := run(t, g, bigPair(5<<20+3)); err != nil {
					t.Fatal(err)
				}
				var payload, sent, received int64
				for i, p := range g.Packs() {
					if p.LaneBytes() == 0 {
						t.Errorf("pack %d sent nothing over lanes", i)
					}
					s, r := lanes[i].Bytes()
					payload, sent, received = payload+p.LaneBytes(), sent+s, received+r
				}
				// Nearly every message went over a lane (threshold 1): not empty ones, nor
				// the first to a pack whose hello, with its lane addresses, is overtaken
				// by its data on a lane.
				if remote := g.Counters().RemoteBytes; payload < 5<<20 || payload > remote || sent <= payload || received != sent {
					t.Errorf("lanes carried %d payload bytes in %d frame bytes, received %d; %d payload bytes went between packs", payload, sent, received, remote)
				}
			})
		}
	}
}

// Small messages stay on the transport: only one of at least the threshold takes a lane.
func TestLaneThreshold(t *testing.T) {
	lanes := []*Lanes{listenLanes(t, LaneOptions{Unix: true}), listenLanes(t, LaneOptions{Unix: true})}
	g := lanePacks(t, Config{Size: 2, Granularity: 1, Transport: NewNATSTransport(connect(t))}, lanes, sameSecret(2))
	small := func(ctx context.Context, w *Worker) error {
		_, err := AllReduceSlice(ctx, w, make([]float64, 1000), Sum[float64])
		return err
	}
	if err := run(t, g, small); err != nil {
		t.Fatal(err)
	}
	if b := g.Packs()[0].LaneBytes() + g.Packs()[1].LaneBytes(); b != 0 {
		t.Fatalf("%d bytes of 8 KB messages took a lane (threshold %d)", b, DefaultLaneThreshold)
	}
	if err := run(t, g, bigPair(DefaultLaneThreshold)); err != nil {
		t.Fatal(err)
	}
	if b := g.Packs()[0].LaneBytes(); b != DefaultLaneThreshold {
		t.Errorf("%d bytes over the lane for a message of %d", b, DefaultLaneThreshold)
	}
}

// A lane that cannot be opened (nothing listens at the addresses, or the other side
// does not know the secret) leaves the traffic on the transport, and the flare
// succeeds.
func TestLaneFallsBack(t *testing.T) {
	t.Run("unreachable", func(t *testing.T) {
		gone := listenLanes(t, LaneOptions{Unix: true})
		// Its own socket, said to be another host's, is not tried.
		gone.addrs = []string{"tcp 127.0.0.1:1", "unix " + thisHost + " @burst-lane-none", "carrier-pigeon x", "unix another-host " + gone.sock}
		lanes := []*Lanes{listenLanes(t, LaneOptions{Unix: true}), gone}
		g := lanePacks(t, Config{Size: 2, Granularity: 1, Transport: NewNATSTransport(connect(t))}, lanes, sameSecret(2))
		if err := run(t, g, bigPair(3<<20)); err != nil {
			t.Fatal(err)
		}
		if b := g.Packs()[0].LaneBytes(); b != 0 {
			t.Errorf("%d bytes over a lane to nowhere", b)
		}
	})
	t.Run("wrong secret", func(t *testing.T) {
		lanes := []*Lanes{listenLanes(t, LaneOptions{Unix: true}), listenLanes(t, LaneOptions{Unix: true})}
		secrets := [][]byte{[]byte("one"), []byte("another")}
		g := lanePacks(t, Config{Size: 2, Granularity: 1, Transport: NewNATSTransport(connect(t))}, lanes, secrets)
		if err := run(t, g, bigPair(3<<20)); err != nil {
			t.Fatal(err)
		}
		_, received := lanes[1].Bytes()
		if b := g.Packs()[0].LaneBytes(); b != 0 || received != 0 {
			t.Errorf("%d bytes sent, %d received over a lane between different secrets", b, received)
		}
	})
}

// A dialer that cannot prove it knows the flare's secret is refused, and nothing it
// sends after reaches the pack.
func TestLaneRefusesWrongSecret(t *testing.T) {
	lanes := listenLanes(t, LaneOptions{Unix: true})
	flare := flareID(t)
	delivered := make(chan []byte, 1)
	ll, err := lanes.attach(flare, 1, []byte("the secret"), nil, func(f []byte) { delivered <- f }, func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	defer ll.detach()
	c, err := net.Dial("unix", lanes.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(hangGuard))
	hello := laneHello(flare, 0, 1, make([]byte, laneNonce))
	answer := make([]byte, 1+laneNonce+sha256.Size)
	if _, err := c.Write(hello); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, answer); err != nil || answer[0] != laneOK {
		t.Fatalf("answer %v: %v", answer[:1], err)
	}
	guess := laneMAC([]byte("a guess"), "dialer", flare, 0, 1, make([]byte, laneNonce), answer[1:1+laneNonce])
	c.Write(guess)
	status := make([]byte, 1)
	if _, err := io.ReadFull(c, status); err != nil || status[0] != laneRefused {
		t.Fatalf("status %v, %v: want refused", status, err)
	}
	frame := make([]byte, 4+headerSize)
	binary.LittleEndian.PutUint32(frame, headerSize)
	(&header{kind: kindP2P, flare: flareHash(flare), dst: 1, chunks: 1}).put(frame[4:])
	c.Write(frame)
	if n, err := c.Read(status); err == nil {
		t.Errorf("the lane stayed open after the refusal (%d bytes read)", n)
	}
	select {
	case f := <-delivered:
		t.Fatalf("a refused dialer's frame was delivered: %x", f)
	case <-time.After(100 * time.Millisecond):
	}
}

// A lane broken in the middle of a transfer aborts the flare on both sides: nobody
// waits for the frames lost in it.
func TestLaneBrokenMidTransfer(t *testing.T) {
	lanes := []*Lanes{listenLanes(t, LaneOptions{Unix: true}), listenLanes(t, LaneOptions{Unix: true})}
	g := lanePacks(t, Config{Size: 2, Granularity: 1, Transport: NewNATSTransport(connect(t))}, lanes, sameSecret(2))
	go func() {
		for {
			if _, received := lanes[1].Bytes(); received > 64<<20 {
				lanes[1].Close() // what the receiving process's end dying does
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	err := run(t, g, func(ctx context.Context, w *Worker) error {
		for i := 0; ; i++ {
			var err error
			if w.Rank() == 0 {
				err = w.Send(ctx, 1, pattern(16<<20, byte(i)))
			} else {
				_, err = w.Recv(ctx, 0)
			}
			if err != nil {
				return err
			}
		}
	})
	if err == nil || !strings.Contains(err.Error(), "lane") || !strings.Contains(err.Error(), "broke") {
		t.Fatalf("run: %v, want the broken lane as the cause", err)
	}
	for i, p := range g.Packs() {
		if !errors.Is(p.Err(), ErrAborted) {
			t.Errorf("pack %d: %v, want aborted", i, p.Err())
		}
	}
}

// A chunk that would overlap another's place in its message is dropped: a lane reads a
// chunk straight into its place, outside the pack's lock, so places must not overlap.
// The message still completes with its right chunks, whole.
func TestOverlappingChunkDropped(t *testing.T) {
	p := reviewPack(t, 1)
	data := pattern(25, 3)
	chunk := func(idx uint32, offset uint64, n int) []byte {
		return frame(header{kind: kindP2P, flare: p.hash, src: 0, dst: 1, seq: 1, window: 32,
			chunk: idx, chunks: 3, total: 25, offset: offset}, data[offset:offset+uint64(n)])
	}
	bad := frame(header{kind: kindP2P, flare: p.hash, src: 0, dst: 1, seq: 1, window: 32,
		chunk: 1, chunks: 3, total: 25, offset: 5}, make([]byte, 10)) // chunk 1 belongs at 10
	if v := deliverSafely(p, chunk(0, 0, 10), bad, chunk(1, 10, 10), chunk(2, 20, 5)); v != nil {
		t.Fatal(v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	got, err := p.Workers()[0].Recv(ctx, 0)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("got %v, %v; want %v", got, err, data)
	}
}

// A Send whose context has ended, on a lane that is up, neither crashes nor breaks the
// lane: its message goes over the transport, which pays the context no heed, as it
// would without lanes; the next message takes the lane as before. Also when the other
// end has closed the lane (then a write would fail on its own).
func TestLaneSendCancelled(t *testing.T) {
	lanes := []*Lanes{listenLanes(t, LaneOptions{Unix: true}), listenLanes(t, LaneOptions{Unix: true})}
	g := lanePacks(t, Config{Size: 2, Granularity: 1, Transport: NewNATSTransport(connect(t))}, lanes, sameSecret(2))
	if err := run(t, g, bigPair(1<<20)); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	w, peer := g.Workers()[0], g.Workers()[1]
	before := g.Packs()[0].LaneBytes()
	if err := w.Send(cancelled, 1, pattern(1<<20, 7)); err != nil {
		t.Fatalf("send on a cancelled context: %v", err)
	}
	ctx, stop := context.WithTimeout(context.Background(), hangGuard)
	defer stop()
	if got, err := peer.Recv(ctx, 0); err != nil || !bytes.Equal(got, pattern(1<<20, 7)) {
		t.Fatalf("the message sent on a cancelled context: %v", err)
	}
	if g.Packs()[0].LaneBytes() != before {
		t.Errorf("a send on a cancelled context wrote on the lane")
	}
	if err := run(t, g, bigPair(1<<20)); err != nil {
		t.Fatal(err)
	}
	if g.Packs()[0].LaneBytes() == before {
		t.Errorf("the lane was not used after a cancelled send")
	}
	g.Packs()[1].lane.detach() // the other end closes its lanes
	if err := w.Send(cancelled, 1, pattern(1<<20, 1)); err != nil {
		t.Fatalf("send on a cancelled context to a closed pack: %v", err)
	}
}

// Strangers get little: a dialer that announces a flare id longer than any is cut off
// at once, and past maxHandshakes dialers that have not proved anything, the next is
// not even read.
func TestLaneStrangers(t *testing.T) {
	lanes := listenLanes(t, LaneOptions{Unix: true})
	dial := func() net.Conn {
		c, err := net.Dial("unix", lanes.sock)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(hangGuard))
		return c
	}
	c := dial()
	c.Write([]byte("BL1\xff\xff"))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("a 65535-byte flare id: %v, want the connection closed", err)
	}
	for range maxHandshakes {
		dial().Write([]byte("BL1")) // and nothing more: each holds a handshake
	}
	eventually(t, func() bool { return len(lanes.handshakes) == maxHandshakes })
	if _, err := dial().Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("one stranger too many: %v, want the connection closed", err)
	}
}

// An address that could not be reached is not tried again by the process for a while:
// a listener that takes the connection and never answers costs one handshake timeout,
// not one per flare.
func TestLaneUnreachableRemembered(t *testing.T) {
	mute, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer mute.Close()
	go func() {
		for {
			c, err := mute.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	addr := "tcp " + mute.Addr().String()
	lanes := []*Lanes{listenLanes(t, LaneOptions{Unix: true}), listenLanes(t, LaneOptions{Unix: true})}
	lanes[1].addrs = []string{addr}
	for flare := range 2 {
		g := lanePacks(t, Config{Size: 2, Granularity: 1, Transport: NewNATSTransport(connect(t))}, lanes, sameSecret(2))
		if err := run(t, g, bigPair(1<<20)); err != nil {
			t.Fatal(err)
		}
		if b := g.Packs()[0].LaneBytes(); b != 0 || !lanes[0].failedLately(addr) {
			t.Errorf("flare %d: %d lane bytes; %s remembered: %v", flare, b, addr, lanes[0].failedLately(addr))
		}
	}
}

// eventually waits for cond, failing the test if it never holds.
func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(hangGuard); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the condition never held")
		}
	}
}

// A TCP lane is dialed at the name it was given, not at the address the name resolved
// to: that is what a node's certificate names (burst cert's "invoker-1", a
// StatefulSet's "burst-0.burst-routes"). A wildcard address is dialed at the host name.
func TestLaneAdvertisedName(t *testing.T) {
	named := listenLanes(t, LaneOptions{TCP: "localhost:0"})
	if a := named.Addrs(); len(a) != 1 || !strings.HasPrefix(a[0], "tcp localhost:") {
		t.Errorf("lanes on localhost:0 say %q", a)
	}
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	every := listenLanes(t, LaneOptions{TCP: ":0"})
	if a := every.Addrs(); len(a) != 1 || !strings.HasPrefix(a[0], "tcp "+host+":") {
		t.Errorf("lanes on :0 say %q, want the host name %s", a, host)
	}
}
