package comm

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// This file is the direct lane: a byte stream from one pack to another (a unix socket
// on one host, TCP between hosts) that carries the frames of large messages, where the
// transport (NATS) would copy each through its server. The frames are the transport's:
// same header, same checks on arrival, same credit (acknowledgements and hellos stay on
// the transport), same abort. A pack learns another's lane addresses from its hello,
// dials the first that answers when it first has a large message for it, and proves
// with the flare's secret that it belongs to the flare (the other side proves the
// same). A lane that cannot be opened leaves the traffic on the transport; one that
// breaks under a flare aborts the flare, since the frames in it are lost.

// DefaultLaneThreshold is the smallest message that goes over a lane.
const DefaultLaneThreshold = 64 << 10

// LaneOptions configure a process's lanes.
type LaneOptions struct {
	// Unix opens an abstract unix socket (Linux: no file, scoped to the network
	// namespace) for packs on this host.
	Unix bool
	// TCP is the address to listen on for packs of other hosts ("10.0.0.2:0"), and
	// to be dialed at (the host name when it is every address's); empty means none.
	TCP string
	// ServerTLS and ClientTLS, when set, make TCP lanes TLS: the listener presents
	// ServerTLS's certificate, the dialer checks it with ClientTLS (and may present its
	// own).
	ServerTLS, ClientTLS *tls.Config
	// Threshold: messages of at least this many bytes go over lanes. Zero means
	// DefaultLaneThreshold.
	Threshold int
	// Logger gets the lanes' logs; nil discards them.
	Logger *slog.Logger
}

// Lanes is a process's end of the direct lanes: its listeners and the packs that
// accept lanes through them. Give it to Config.Lanes, with Config.LaneSecret, for
// the packs of the process to use lanes. Make one per process and close it last.
type Lanes struct {
	opts  LaneOptions
	lns   []net.Listener
	addrs []string
	sock  string // the unix socket's name

	// handshakes bounds the dialers not yet authenticated, so that strangers cannot
	// make the process hold memory for them without limit.
	handshakes chan struct{}

	mu          sync.Mutex
	links       map[laneKey]*laneLink
	conns       map[net.Conn]struct{} // accepted, closed by Close
	unreachable map[string]time.Time  // addresses that failed, until when they are not tried
	closed      bool
	wg          sync.WaitGroup

	sent, received atomic.Int64 // payload and header bytes of frames, over every lane
}

type laneKey struct {
	flare string
	pack  int
}

// ListenLanes opens the listeners o asks for.
func ListenLanes(o LaneOptions) (*Lanes, error) {
	if o.Threshold <= 0 {
		o.Threshold = DefaultLaneThreshold
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	l := &Lanes{
		opts: o, handshakes: make(chan struct{}, maxHandshakes),
		links: make(map[laneKey]*laneLink), conns: make(map[net.Conn]struct{}), unreachable: make(map[string]time.Time),
	}
	if o.Unix {
		if err := l.listenUnix(); err != nil {
			return nil, err
		}
	}
	if o.TCP != "" {
		if err := l.listenTCP(o); err != nil {
			l.Close()
			return nil, err
		}
	}
	for _, ln := range l.lns {
		l.wg.Go(func() { l.accept(ln) })
	}
	return l, nil
}

func (l *Lanes) listenUnix() error {
	name := fmt.Sprintf("@burst-lane-%d-%s", os.Getpid(), randomHex(8))
	ln, err := net.Listen("unix", name)
	if err != nil {
		return fmt.Errorf("comm: lanes: %w", err)
	}
	l.lns, l.sock = append(l.lns, ln), name
	l.addrs = append(l.addrs, "unix "+thisHost+" "+name)
	return nil
}

// thisHost tells this host (and network namespace) from others in a unix lane's
// address, so that a dialer does not try another host's socket: the kernel's boot id
// and the network namespace, or "-" where they cannot be read, and then every unix
// address is tried.
var thisHost = func() string {
	boot, err1 := os.ReadFile("/proc/sys/kernel/random/boot_id")
	netns, err2 := os.Readlink("/proc/self/ns/net")
	if err1 != nil || err2 != nil {
		return "-"
	}
	return strings.TrimSpace(string(boot)) + "/" + netns
}()

func (l *Lanes) listenTCP(o LaneOptions) error {
	ln, err := net.Listen("tcp", o.TCP)
	if err != nil {
		return fmt.Errorf("comm: lanes: %w", err)
	}
	if o.ServerTLS != nil {
		ln = tls.NewListener(ln, o.ServerTLS)
	}
	l.lns = append(l.lns, ln)
	host, _, _ := net.SplitHostPort(o.TCP)
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		if host, err = os.Hostname(); err != nil {
			return fmt.Errorf("comm: lanes: no address to advertise: %w", err)
		}
	}
	l.addrs = append(l.addrs, "tcp "+net.JoinHostPort(host, port))
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return fmt.Sprintf("%x", b)
}

// Addrs are where other packs dial this process, as "unix HOSTID PATH" and "tcp
// HOST:PORT".
func (l *Lanes) Addrs() []string { return l.addrs }

// Bytes returns the frame bytes this process sent and received over lanes.
func (l *Lanes) Bytes() (sent, received int64) { return l.sent.Load(), l.received.Load() }

// Close closes the listeners and every lane accepted; the flares of packs still open
// on them are aborted.
func (l *Lanes) Close() error {
	l.mu.Lock()
	l.closed = true
	conns := l.conns
	l.conns = nil
	l.mu.Unlock()
	var errs []error
	for _, ln := range l.lns {
		errs = append(errs, ln.Close())
	}
	for c := range conns {
		c.Close()
	}
	l.wg.Wait()
	return errors.Join(errs...)
}

func (l *Lanes) accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return // closed
		}
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			c.Close()
			return
		}
		select {
		case l.handshakes <- struct{}{}:
		default:
			l.mu.Unlock()
			c.Close() // too many strangers at once
			continue
		}
		l.conns[c] = struct{}{}
		l.wg.Go(func() {
			l.serve(c)
			l.mu.Lock()
			delete(l.conns, c)
			l.mu.Unlock()
			c.Close()
		})
		l.mu.Unlock()
	}
}

// The handshake, dialer D to acceptor A, each of D's and A's nonces 32 random bytes:
//
//	D→A  "BL1" flare length (2) flare from (4) to (4) nonceD
//	A→D  status (1): 0 then nonceA and macA, or 1 (no such pack here)
//	D→A  macD
//	A→D  status (1): 0 accepted, 2 refused
//
// macA = HMAC-SHA256(secret, "acceptor" ‖ flare ‖ from ‖ to ‖ nonceD ‖ nonceA), macD
// the same with "dialer": each side proves it holds the flare's secret without showing
// it. Then D sends frames, each as a 4-byte little-endian length and the frame; a
// length of 0 says D is done.
const (
	laneMagic        = "BL1"
	laneNonce        = 32
	laneOK           = 0
	laneNoPack       = 1
	laneRefused      = 2
	laneHandshake    = 2 * time.Second
	laneDialTimeout  = time.Second
	laneBye          = 0
	laneWriteTimeout = 10 * time.Second // a write that waits longer: the peer is gone
	laneByeTimeout   = 5 * time.Second
	laneForget       = time.Minute // how long an address that failed is not tried
	maxHandshakes    = 64
	maxFlareID       = 128 // ValidFlareID's bound
)

// laneHello is a dialer's first message: magic, flare, from, to, nonce.
func laneHello(flare string, from, to int, nonce []byte) []byte {
	b := binary.LittleEndian.AppendUint16([]byte(laneMagic), uint16(len(flare)))
	b = append(b, flare...)
	b = binary.LittleEndian.AppendUint32(b, uint32(from))
	b = binary.LittleEndian.AppendUint32(b, uint32(to))
	return append(b, nonce...)
}

func laneMAC(secret []byte, role, flare string, from, to int, nonceD, nonceA []byte) []byte {
	m := hmac.New(sha256.New, secret)
	fmt.Fprintf(m, "%s\x00%s\x00%d\x00%d\x00", role, flare, from, to)
	m.Write(nonceD)
	m.Write(nonceA)
	return m.Sum(nil)
}

// serve answers one dialer's handshake and delivers its frames to the pack it named.
func (l *Lanes) serve(c net.Conn) {
	link, from, ok := l.handshake(c)
	<-l.handshakes
	if ok {
		link.receive(bufio.NewReaderSize(c, 64<<10), from)
	}
}

// handshake checks a dialer: it must name a pack that takes lanes here and prove it
// holds the pack's flare's secret. Nothing is allocated for it beyond a few hundred
// bytes until it has.
func (l *Lanes) handshake(c net.Conn) (link *laneLink, from int, ok bool) {
	c.SetDeadline(time.Now().Add(laneHandshake))
	head := make([]byte, len(laneMagic)+2)
	if _, err := io.ReadFull(c, head); err != nil || string(head[:3]) != laneMagic {
		return nil, 0, false
	}
	n := int(binary.LittleEndian.Uint16(head[3:]))
	if n == 0 || n > maxFlareID {
		return nil, 0, false
	}
	rest := make([]byte, n+8+laneNonce)
	if _, err := io.ReadFull(c, rest); err != nil {
		return nil, 0, false
	}
	flare := string(rest[:n])
	from = int(binary.LittleEndian.Uint32(rest[n:]))
	to := int(binary.LittleEndian.Uint32(rest[n+4:]))
	nonceD := rest[n+8:]
	l.mu.Lock()
	link = l.links[laneKey{flare, to}]
	l.mu.Unlock()
	if link == nil {
		c.Write([]byte{laneNoPack})
		return nil, 0, false
	}
	nonceA := make([]byte, laneNonce)
	rand.Read(nonceA)
	answer := append([]byte{laneOK}, nonceA...)
	answer = append(answer, laneMAC(link.secret, "acceptor", flare, from, to, nonceD, nonceA)...)
	if _, err := c.Write(answer); err != nil {
		return nil, 0, false
	}
	macD := make([]byte, sha256.Size)
	if _, err := io.ReadFull(c, macD); err != nil {
		return nil, 0, false
	}
	if !hmac.Equal(macD, laneMAC(link.secret, "dialer", flare, from, to, nonceD, nonceA)) {
		c.Write([]byte{laneRefused})
		l.opts.Logger.Warn("comm: refused a lane with a wrong secret", "flare", flare, "pack", to, "from", from, "remote", c.RemoteAddr())
		return nil, 0, false
	}
	if _, err := c.Write([]byte{laneOK}); err != nil {
		return nil, 0, false
	}
	c.SetDeadline(time.Time{})
	return link, from, link.accepted(c)
}

// A laneLink is a pack's link when it uses lanes: frames of large messages go over a
// lane to their pack when one is open, everything else over the transport's link.
type laneLink struct {
	lanes  *Lanes
	inner  Link
	flare  string
	pack   int
	secret []byte
	hash   uint64 // the flare's, as in frame headers
	hello  []byte // this process's addresses, the payload of the pack's hellos

	// deliverMu makes the transport's and the lanes' deliveries one at a time, as a
	// pack expects; closed is set under it.
	deliverMu sync.Mutex
	closed    bool
	deliver   func([]byte)
	abort     func(string)
	sink      *Pack // where chunks are read straight into their message; nil: none

	mu       sync.Mutex
	peers    map[int]*lanePeer
	incoming map[net.Conn]struct{} // lanes accepted into the pack, closed with it

	sent atomic.Int64 // payload bytes this pack sent over lanes
}

// A lanePeer is the lane to one other pack.
type lanePeer struct {
	addrs []string // learnt from the pack's hello

	mu     sync.Mutex // one frame at a time on conn
	conn   net.Conn
	failed error // why no lane could be opened, or why the open one broke
}

// attach readies pack of flare to accept lanes and wraps the transport's callbacks;
// open then wraps the transport's link.
func (l *Lanes) attach(flare string, pack int, secret []byte, sink *Pack, deliver func([]byte), abort func(string)) (*laneLink, error) {
	ll := &laneLink{
		lanes: l, flare: flare, pack: pack, secret: secret, sink: sink, hash: flareHash(flare),
		hello: []byte(strings.Join(l.addrs, "\n")), deliver: deliver, abort: abort,
		peers: make(map[int]*lanePeer), incoming: make(map[net.Conn]struct{}),
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, errors.New("comm: lanes closed")
	}
	key := laneKey{flare, pack}
	if _, ok := l.links[key]; ok {
		return nil, fmt.Errorf("comm: pack %d of flare %s already takes lanes here", pack, flare)
	}
	l.links[key] = ll
	return ll, nil
}

// accepted notes an accepted lane into the pack, or says the pack is closed.
func (ll *laneLink) accepted(c net.Conn) bool {
	ll.mu.Lock()
	defer ll.mu.Unlock()
	if ll.incoming == nil {
		return false // closed
	}
	ll.incoming[c] = struct{}{}
	return true
}

// fromTransport takes a frame that came over the transport: a hello tells where its
// pack takes lanes.
func (ll *laneLink) fromTransport(frame []byte) {
	if len(frame) > headerSize && kind(frame[3]) == kindHello {
		if h, payload, err := decodeFrame(frame); err == nil && len(payload) > 0 && h.flare == ll.hash && int(h.dst) == ll.pack {
			ll.learn(int(h.src), strings.Split(string(payload), "\n"))
		}
	}
	ll.handOver(frame)
}

func (ll *laneLink) learn(pack int, addrs []string) {
	ll.mu.Lock()
	defer ll.mu.Unlock()
	if ll.peers[pack] == nil {
		ll.peers[pack] = &lanePeer{addrs: addrs}
	}
}

func (ll *laneLink) abortFromTransport(cause string) {
	ll.deliverMu.Lock()
	defer ll.deliverMu.Unlock()
	if !ll.closed {
		ll.abort(cause)
	}
}

func (ll *laneLink) handOver(frame []byte) {
	ll.deliverMu.Lock()
	defer ll.deliverMu.Unlock()
	if !ll.closed {
		ll.deliver(frame)
	}
}

// receive delivers the frames of one accepted lane until its dialer says it is done.
// A lane that breaks first aborts the flare: the frames in it are lost.
func (ll *laneLink) receive(r *bufio.Reader, from int) {
	var size [4]byte
	var head [headerSize]byte
	for {
		if _, err := io.ReadFull(r, size[:]); err != nil {
			ll.broken(from, err)
			return
		}
		n := int(binary.LittleEndian.Uint32(size[:]))
		if n == laneBye {
			return
		}
		if n < headerSize || n > headerSize+maxLaneChunk {
			ll.broken(from, fmt.Errorf("%w: a lane frame of %d bytes", ErrBadFrame, n))
			return
		}
		if _, err := io.ReadFull(r, head[:]); err != nil {
			ll.broken(from, err)
			return
		}
		var err error
		if h, herr := decodeHeader(head[:], n-headerSize); herr == nil && h.chunks > 1 && ll.sink != nil {
			err = ll.readChunk(r, h, n-headerSize)
		} else {
			frame := make([]byte, n)
			copy(frame, head[:])
			if _, err = io.ReadFull(r, frame[headerSize:]); err == nil {
				ll.handOver(frame)
			}
		}
		if err != nil {
			ll.broken(from, err)
			return
		}
		ll.lanes.received.Add(int64(n))
	}
}

// readChunk reads a chunk of n bytes of a message in several chunks straight into its
// place in the message, as the pack would file it (Pack.chunkSlot), or past it when
// the pack drops it.
func (ll *laneLink) readChunk(r *bufio.Reader, h header, n int) error {
	p := ll.sink
	var key partialKey
	var pt *partial
	var slot []byte
	ll.deliverMu.Lock()
	if !ll.closed && h.flare == p.hash && (h.kind == kindP2P || h.kind == kindColl) {
		var ok bool
		if key, ok = p.admit(h); ok {
			pt, slot = p.chunkSlot(key, h, n)
		}
	}
	ll.deliverMu.Unlock()
	if pt == nil {
		_, err := r.Discard(n)
		return err
	}
	if _, err := io.ReadFull(r, slot); err != nil {
		return err
	}
	ll.deliverMu.Lock()
	defer ll.deliverMu.Unlock()
	if !ll.closed {
		if data := p.chunkIn(key, h, pt); data != nil {
			p.handOver(key, data)
		}
	}
	return nil
}

// maxLaneChunk bounds a lane frame's payload, so that a bad length cannot make the
// receiver allocate without limit.
const maxLaneChunk = 64 << 20

func (ll *laneLink) broken(from int, err error) {
	// Under deliverMu: a pack closing meanwhile has ended cleanly, and is told nothing.
	ll.deliverMu.Lock()
	defer ll.deliverMu.Unlock()
	if ll.closed {
		return
	}
	cause := fmt.Sprintf("the lane from pack %d to pack %d broke: %v", from, ll.pack, err)
	ll.lanes.opts.Logger.Warn("comm: "+cause, "flare", ll.flare)
	if ll.inner != nil {
		ll.inner.Abort(cause) // tells the others
	}
	ll.abort(cause)
}

// Send sends frame over the transport; a hello carries this process's lane
// addresses.
func (ll *laneLink) Send(ctx context.Context, pack int, frame []byte) error {
	if kind(frame[3]) == kindHello && len(frame) == headerSize && len(ll.hello) > 0 {
		b := make([]byte, headerSize+len(ll.hello))
		copy(b, frame)
		binary.LittleEndian.PutUint64(b[40:], uint64(len(ll.hello)))
		copy(b[headerSize:], ll.hello)
		frame = b
	}
	return ll.inner.Send(ctx, pack, frame)
}

// sendData sends a data frame, its header and its payload in parts, over the lane to
// pack to, opening the lane first if need be. sent is false when there is no lane:
// the frame is for the transport.
func (ll *laneLink) sendData(ctx context.Context, to int, head []byte, payload [][]byte) (sent bool, err error) {
	ll.mu.Lock()
	pe := ll.peers[to]
	ll.mu.Unlock()
	if pe == nil {
		return false, nil // no hello with lane addresses from it (yet)
	}
	// A context that has ended sends the frame over the transport, which pays it no
	// heed, as it would have without lanes: a lane must not change what a Send does.
	if ctx.Err() != nil {
		return false, nil
	}
	pe.mu.Lock()
	defer pe.mu.Unlock()
	if pe.conn == nil {
		if pe.failed != nil {
			return false, nil
		}
		conn, err := ll.dial(ctx, to, pe.addrs)
		if ctx.Err() != nil {
			if conn != nil {
				conn.Close()
			}
			return false, nil // the lane is tried again by the next message
		}
		if err != nil {
			pe.failed = err
			ll.lanes.opts.Logger.Info("comm: no lane; the transport carries the traffic", "flare", ll.flare, "pack", ll.pack, "to", to, "err", err)
			return false, nil
		}
		pe.conn = conn
	}
	conn := pe.conn
	n := len(head)
	for _, b := range payload {
		n += len(b)
	}
	var size [4]byte
	binary.LittleEndian.PutUint32(size[:], uint32(n))
	bufs := append(make(net.Buffers, 0, 2+len(payload)), size[:], head)
	bufs = append(bufs, payload...)
	conn.SetWriteDeadline(time.Now().Add(laneWriteTimeout))
	release := expireOn(ctx, conn.SetWriteDeadline)
	written, err := bufs.WriteTo(conn)
	release()
	switch {
	case err == nil:
		ll.sent.Add(int64(n - len(head)))
		ll.lanes.sent.Add(int64(n))
		return true, nil
	case written == 0 && ctx.Err() != nil:
		return false, nil // nothing went: the lane is whole, the transport takes the frame
	}
	// Part of a frame may have gone: the lane cannot be used again.
	conn.Close()
	pe.conn, pe.failed = nil, fmt.Errorf("the lane to pack %d broke: %w", to, err)
	return false, pe.failed
}

// expireOn makes a connection's deadline, set by set, pass when ctx ends, until the
// returned release is called; once release returns, ctx no longer touches it.
func expireOn(ctx context.Context, set func(time.Time) error) (release func()) {
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		set(time.Unix(1, 0))
		close(fired)
	})
	return func() {
		if !stop() {
			<-fired
		}
	}
}

// dial opens a lane to pack to at the first of addrs that takes it. An address that
// could not be reached is not tried again by this process for a while (laneForget):
// a firewall that drops the packets costs each process one dial timeout, not one per
// flare.
func (ll *laneLink) dial(ctx context.Context, to int, addrs []string) (net.Conn, error) {
	var errs []error
	for _, a := range addrs {
		network, addr, _ := strings.Cut(a, " ")
		switch network {
		case "unix":
			host, name, _ := strings.Cut(addr, " ")
			if host != thisHost && host != "-" && thisHost != "-" {
				continue // another host's socket
			}
			addr = name
		case "tcp":
		default:
			errs = append(errs, fmt.Errorf("address %q: want \"unix HOSTID NAME\" or \"tcp HOST:PORT\"", a))
			continue
		}
		if ll.lanes.failedLately(a) {
			errs = append(errs, fmt.Errorf("%s %s: unreachable a moment ago", network, addr))
			continue
		}
		c, err := ll.dialOne(ctx, network, addr, to)
		if err == nil {
			return c, nil
		}
		if !errors.Is(err, errLaneRefused) && ctx.Err() == nil {
			ll.lanes.failed(a)
		}
		errs = append(errs, fmt.Errorf("%s %s: %w", network, addr, err))
	}
	if len(errs) == 0 {
		return nil, errors.New("the pack gave no lane address this host can reach")
	}
	return nil, errors.Join(errs...)
}

// errLaneRefused is an answer of the other side: it is reachable.
var errLaneRefused = errors.New("refused")

func (l *Lanes) failedLately(addr string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	until, ok := l.unreachable[addr]
	if ok && time.Now().After(until) {
		delete(l.unreachable, addr)
		return false
	}
	return ok
}

func (l *Lanes) failed(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.unreachable[addr] = time.Now().Add(laneForget)
}

func (ll *laneLink) dialOne(ctx context.Context, network, addr string, to int) (net.Conn, error) {
	d := net.Dialer{Timeout: laneDialTimeout}
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	if network == "tcp" && ll.lanes.opts.ClientTLS != nil {
		tc := ll.lanes.opts.ClientTLS.Clone()
		if tc.ServerName == "" {
			tc.ServerName, _, _ = net.SplitHostPort(addr)
		}
		c = tls.Client(c, tc)
	}
	c.SetDeadline(time.Now().Add(laneHandshake))
	release := expireOn(ctx, c.SetDeadline)
	err = ll.handshake(c, to)
	release()
	if err == nil && ctx.Err() == nil {
		c.SetDeadline(time.Time{})
		return c, nil
	}
	c.Close()
	if err == nil {
		err = context.Cause(ctx)
	}
	return nil, err
}

// handshake proves to the pack to, behind c, that this pack holds the flare's secret,
// and checks that it does too.
func (ll *laneLink) handshake(c net.Conn, to int) error {
	nonceD := make([]byte, laneNonce)
	rand.Read(nonceD)
	if _, err := c.Write(laneHello(ll.flare, ll.pack, to, nonceD)); err != nil {
		return err
	}
	answer := make([]byte, 1+laneNonce+sha256.Size)
	if _, err := io.ReadFull(c, answer[:1]); err != nil {
		return err
	}
	if answer[0] == laneNoPack {
		return fmt.Errorf("%w: pack %d of the flare is not there", errLaneRefused, to)
	}
	if _, err := io.ReadFull(c, answer[1:]); err != nil {
		return err
	}
	nonceA, macA := answer[1:1+laneNonce], answer[1+laneNonce:]
	if !hmac.Equal(macA, laneMAC(ll.secret, "acceptor", ll.flare, ll.pack, to, nonceD, nonceA)) {
		return fmt.Errorf("%w: the other side does not know the flare's secret", errLaneRefused)
	}
	if _, err := c.Write(laneMAC(ll.secret, "dialer", ll.flare, ll.pack, to, nonceD, nonceA)); err != nil {
		return err
	}
	if _, err := io.ReadFull(c, answer[:1]); err != nil {
		return err
	}
	if answer[0] != laneOK {
		return fmt.Errorf("%w: the other side says this is not the flare's secret", errLaneRefused)
	}
	return nil
}

func (ll *laneLink) Abort(cause string) error { return ll.inner.Abort(cause) }

// Close says goodbye on the lanes this pack opened, and closes those into it: a pack
// closes once its workers are done, so nothing more they need can come.
func (ll *laneLink) Close() error {
	ll.detach()
	ll.mu.Lock()
	peers := ll.peers
	ll.mu.Unlock()
	for _, pe := range peers {
		pe.mu.Lock()
		if pe.conn != nil {
			var bye [4]byte // laneBye
			pe.conn.SetWriteDeadline(time.Now().Add(laneByeTimeout))
			pe.conn.Write(bye[:])
			pe.conn.Close()
			pe.conn, pe.failed = nil, ErrClosed
		}
		pe.mu.Unlock()
	}
	return ll.inner.Close()
}

// detach stops the pack taking lanes, and any callback running after it returns.
func (ll *laneLink) detach() {
	ll.lanes.mu.Lock()
	if ll.lanes.links[laneKey{ll.flare, ll.pack}] == ll {
		delete(ll.lanes.links, laneKey{ll.flare, ll.pack})
	}
	ll.lanes.mu.Unlock()
	ll.deliverMu.Lock()
	ll.closed = true
	ll.deliverMu.Unlock()
	ll.mu.Lock()
	incoming := ll.incoming
	ll.incoming = nil
	ll.mu.Unlock()
	for c := range incoming {
		c.Close()
	}
}
