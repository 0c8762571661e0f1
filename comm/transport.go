package comm

import (
	"context"
	"fmt"
	"sync"
)

// A Transport carries frames between the packs of flares. A pack opens one Link on it.
// Transports know nothing of ranks or collectives: they move whole frames from one pack to
// another, in order per sender, and hand each to the receiving pack.
type Transport interface {
	// Name is the backend's name: "memory", "nats" or "jetstream".
	Name() string
	// Open attaches pack to the flare's traffic. deliver is called for each frame
	// addressed to the pack, from one goroutine at a time; the frame then belongs to
	// the pack. abort is called with the cause when any pack of the flare aborts.
	Open(ctx context.Context, flare string, pack int, deliver func(frame []byte), abort func(cause string)) (Link, error)
	// MaxFrame is the largest frame the transport carries, header included.
	MaxFrame() int
	// StartFlare makes what the transport keeps for a flare (JetStream's stream, for
	// example), where the flare's packs may not make it themselves; Open makes it
	// otherwise.
	StartFlare(ctx context.Context, flare string) error
	// EndFlare releases what the transport keeps for a flare once every pack of it has
	// closed.
	EndFlare(ctx context.Context, flare string) error
}

// A Link is one pack's attachment to a transport.
type Link interface {
	// Send sends a frame to a pack of the same flare. It does not keep frame after it
	// returns.
	Send(ctx context.Context, pack int, frame []byte) error
	// Abort tells every pack of the flare, this one included, that the flare failed.
	Abort(cause string) error
	// Close detaches the pack. No deliver or abort callback runs after Close returns.
	Close() error
}

// Interface guards.
var (
	_ Transport = (*memoryTransport)(nil)
	_ Link      = (*memoryLink)(nil)
)

// NewMemoryTransport returns a transport for packs in this process, for tests and
// benchmarks: frames are copied, as a network would, and delivered by one goroutine per
// pack.
func NewMemoryTransport() Transport {
	return &memoryTransport{links: make(map[memoryAddr]*memoryLink)}
}

type memoryAddr struct {
	flare string
	pack  int
}

type memoryTransport struct {
	mu    sync.Mutex
	links map[memoryAddr]*memoryLink
}

func (t *memoryTransport) Name() string  { return "memory" }
func (t *memoryTransport) MaxFrame() int { return 64 << 20 }

func (t *memoryTransport) StartFlare(context.Context, string) error { return nil }
func (t *memoryTransport) EndFlare(context.Context, string) error   { return nil }

func (t *memoryTransport) Open(_ context.Context, flare string, pack int, deliver func([]byte), abort func(string)) (Link, error) {
	addr := memoryAddr{flare, pack}
	l := &memoryLink{t: t, addr: addr, deliver: deliver, abort: abort, done: make(chan struct{})}
	l.cond = sync.NewCond(&l.mu)
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.links[addr]; ok {
		return nil, fmt.Errorf("comm: pack %d of flare %s is already open", pack, flare)
	}
	t.links[addr] = l
	go l.loop()
	return l, nil
}

func (t *memoryTransport) link(addr memoryAddr) *memoryLink {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.links[addr]
}

// memoryLink queues frames without bound; the packs' flow control keeps the queue short.
type memoryLink struct {
	t       *memoryTransport
	addr    memoryAddr
	deliver func([]byte)
	abort   func(string)

	mu     sync.Mutex
	cond   *sync.Cond
	queue  []memoryItem
	closed bool
	done   chan struct{}
}

type memoryItem struct {
	frame []byte
	abort bool
}

func (l *memoryLink) push(it memoryItem) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.queue = append(l.queue, it)
	l.cond.Signal()
}

func (l *memoryLink) loop() {
	defer close(l.done)
	for {
		l.mu.Lock()
		for len(l.queue) == 0 && !l.closed {
			l.cond.Wait()
		}
		if l.closed {
			l.mu.Unlock()
			return
		}
		it := l.queue[0]
		l.queue[0] = memoryItem{}
		l.queue = l.queue[1:]
		l.mu.Unlock()
		if it.abort {
			l.abort(string(it.frame))
		} else {
			l.deliver(it.frame)
		}
	}
}

func (l *memoryLink) Send(_ context.Context, pack int, frame []byte) error {
	if dst := l.t.link(memoryAddr{l.addr.flare, pack}); dst != nil {
		dst.push(memoryItem{frame: append([]byte(nil), frame...)})
	}
	return nil
}

func (l *memoryLink) Abort(cause string) error {
	l.t.mu.Lock()
	var links []*memoryLink
	for addr, dst := range l.t.links {
		if addr.flare == l.addr.flare {
			links = append(links, dst)
		}
	}
	l.t.mu.Unlock()
	for _, dst := range links {
		dst.push(memoryItem{frame: []byte(cause), abort: true})
	}
	return nil
}

func (l *memoryLink) Close() error {
	l.t.mu.Lock()
	if l.t.links[l.addr] == l {
		delete(l.t.links, l.addr)
	}
	l.t.mu.Unlock()
	l.mu.Lock()
	l.closed = true
	l.queue = nil
	l.cond.Signal()
	l.mu.Unlock()
	<-l.done
	return nil
}
