package comm

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
)

// A Worker is one rank of a flare: the handle a function gets to talk to its peers.
//
// Slices given to Send or to a collective belong to the middleware from then on: inside a
// pack they are handed to the receivers as they are, so the caller must not change them.
// Slices received are read-only for the same reason: other workers of the pack may hold
// the very same bytes.
//
// All workers of a flare must call the collectives in the same order, as in MPI. A
// worker's collectives are not safe for concurrent use; Send and Recv to different peers
// are.
type Worker struct {
	p    *Pack
	rank int
	log  *slog.Logger
	box  mailbox

	mu      sync.Mutex
	sendSeq map[int]uint64
	recvSeq map[int]uint64
	coll    uint64

	localMessages, localBytes   atomic.Int64
	remoteMessages, remoteBytes atomic.Int64
}

// Counters are a worker's sent traffic: messages and payload bytes handed over inside its
// pack (local) and sent to other packs (remote, one message per frame). Control frames
// (credit, handshake) are not counted.
type Counters struct {
	LocalMessages  int64 `json:"local_messages"`
	LocalBytes     int64 `json:"local_bytes"`
	RemoteMessages int64 `json:"remote_messages"`
	RemoteBytes    int64 `json:"remote_bytes"`
}

// Add returns the sum of c and d.
func (c Counters) Add(d Counters) Counters {
	return Counters{
		LocalMessages:  c.LocalMessages + d.LocalMessages,
		LocalBytes:     c.LocalBytes + d.LocalBytes,
		RemoteMessages: c.RemoteMessages + d.RemoteMessages,
		RemoteBytes:    c.RemoteBytes + d.RemoteBytes,
	}
}

// Rank is the worker's rank, 0..Size()-1.
func (w *Worker) Rank() int { return w.rank }

// Size is the burst size N.
func (w *Worker) Size() int { return w.p.cfg.Size }

// Pack is the index of the worker's pack.
func (w *Worker) Pack() int { return w.p.index }

// Packs is the number of packs of the flare.
func (w *Worker) Packs() int { return w.p.packs }

// PackRanks returns the ranks of the worker's pack, [first, end).
func (w *Worker) PackRanks() (first, end int) { return w.p.first, w.p.end }

// Flare is the flare's id.
func (w *Worker) Flare() string { return w.p.cfg.Flare }

// Logger is the worker's logger, with flare, pack and rank attributes.
func (w *Worker) Logger() *slog.Logger { return w.log }

// Counters returns the worker's traffic so far.
func (w *Worker) Counters() Counters {
	return Counters{
		LocalMessages:  w.localMessages.Load(),
		LocalBytes:     w.localBytes.Load(),
		RemoteMessages: w.remoteMessages.Load(),
		RemoteBytes:    w.remoteBytes.Load(),
	}
}

func (w *Worker) checkRank(r int, what string) error {
	if r < 0 || r >= w.p.cfg.Size {
		return fmt.Errorf("%w: %s rank %d, want 0..%d", ErrBadArgument, what, r, w.p.cfg.Size-1)
	}
	return nil
}

// Send sends data to rank to. Messages from one worker to another arrive in the order
// they were sent. Send returns once the message is handed over (inside the pack) or
// sent (to another pack); it does not wait for the matching Recv.
func (w *Worker) Send(ctx context.Context, to int, data []byte) error {
	if err := w.checkRank(to, "destination"); err != nil {
		return err
	}
	if !w.local(to) {
		// Wait for the peer pack before taking a sequence number, so that a Send that
		// gives up here can be tried again.
		if err := w.p.waitReady(ctx, w.p.packOf(to)); err != nil {
			return err
		}
	}
	w.mu.Lock()
	if w.sendSeq == nil {
		w.sendSeq = make(map[int]uint64)
	}
	w.sendSeq[to]++
	seq := w.sendSeq[to]
	w.mu.Unlock()
	return w.send(ctx, kindP2P, 0, seq, to, message{data: data})
}

// Recv receives the next message that rank from sent to this worker with Send.
func (w *Worker) Recv(ctx context.Context, from int) ([]byte, error) {
	if err := w.checkRank(from, "source"); err != nil {
		return nil, err
	}
	w.mu.Lock()
	if w.recvSeq == nil {
		w.recvSeq = make(map[int]uint64)
	}
	seq := w.recvSeq[from] + 1
	w.mu.Unlock()
	m, err := w.recv(ctx, kindP2P, 0, seq, from)
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	w.recvSeq[from] = seq
	w.mu.Unlock()
	return m.data, nil
}

// local reports whether rank r is in the worker's pack.
func (w *Worker) local(r int) bool { return r >= w.p.first && r < w.p.end }

// send hands m to rank dst: in memory inside the pack, else over the transport, where
// parts travel as one bundle.
func (w *Worker) send(ctx context.Context, k kind, tag uint16, seq uint64, dst int, m message) error {
	if err := w.p.Err(); err != nil {
		return err
	}
	if !w.local(dst) {
		return w.sendRemote(ctx, k, tag, seq, dst, m)
	}
	n := int64(len(m.data))
	for _, part := range m.parts {
		n += int64(len(part))
	}
	m.owned = false
	w.p.worker[dst-w.p.first].box.put(msgKey{k, tag, w.rank, seq}, m)
	w.localMessages.Add(1)
	w.localBytes.Add(n)
	return nil
}

func (w *Worker) recv(ctx context.Context, k kind, tag uint16, seq uint64, src int) (message, error) {
	return w.box.take(ctx, msgKey{k, tag, src, seq}, w.p)
}

// message is what a mailbox holds: bytes, or inside a pack a list of slices handed over
// as they are.
type message struct {
	data  []byte
	parts [][]byte
	owned bool // data is a fresh buffer of the middleware's, free to be reused
}

type msgKey struct {
	kind kind
	tag  uint16
	src  int
	seq  uint64
}

// mailbox matches messages with receives by key, whichever comes first.
type mailbox struct {
	mu    sync.Mutex
	slots map[msgKey]chan message
}

func (b *mailbox) slot(k msgKey) chan message {
	b.mu.Lock()
	defer b.mu.Unlock()
	ch := b.slots[k]
	if ch == nil {
		ch = make(chan message, 1)
		b.slots[k] = ch
	}
	return ch
}

func (b *mailbox) put(k msgKey, m message) {
	select {
	case b.slot(k) <- m:
	default: // a duplicate (a redelivery): the first copy wins
	}
}

func (b *mailbox) take(ctx context.Context, k msgKey, p *Pack) (message, error) {
	// A stopped pack fails every receive, even one whose message is already here.
	if err := p.Err(); err != nil {
		return message{}, err
	}
	select {
	case m := <-b.slot(k):
		b.mu.Lock()
		delete(b.slots, k)
		b.mu.Unlock()
		return m, nil
	case <-ctx.Done():
		return message{}, context.Cause(ctx)
	case <-p.stop:
		return message{}, p.stopCause
	}
}
