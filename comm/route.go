package comm

import (
	"context"
	"time"
)

// This file moves messages between packs: chunking and reassembly, flow control, and the
// handshake that makes sure a pack listens before anything is sent to it.

// credit is one pack's right to send frames to another: at most window frames that the
// receiver has not acknowledged yet.
type credit struct {
	sent, acked uint64
	wake        chan struct{} // closed and replaced on each new acknowledgement
}

// recvCount counts the data frames a pack received from another, to send credit back.
type recvCount struct {
	frames, acked uint64
}

type partialKey struct {
	kind kind
	tag  uint16
	src  uint32
	dst  uint32
	seq  uint64
}

type partial struct {
	buf    []byte
	seen   []uint64 // a bit per chunk, so a redelivered chunk is not counted twice
	size   uint64   // of every chunk but the last
	chunks uint32
	left   uint32
}

// sendRemote sends a message, data or a bundle of parts, to rank dst of another pack,
// in chunks.
func (w *Worker) sendRemote(ctx context.Context, k kind, tag uint16, seq uint64, dst int, m message) error {
	v := vector{m.data}
	if m.parts != nil {
		v = bundleVector(m.parts)
	}
	total := v.size()
	r := reader{v: v}
	p := w.p
	to := p.packOf(dst)
	if err := p.waitReady(ctx, to); err != nil {
		return err
	}
	sent := &p.sent[TrafficGroup(to, p.packs)]
	chunk := p.cfg.ChunkSize
	chunks := max(1, (total+chunk-1)/chunk)
	h := header{
		kind: k, tag: tag, flare: p.hash, src: uint32(w.rank), dst: uint32(dst), seq: seq,
		chunks: uint32(chunks), total: uint64(total), window: uint16(p.cfg.Window),
	}
	countSent := func(n int) {
		w.remoteMessages.Add(1)
		w.remoteBytes.Add(int64(n))
		sent.Add(int64(n))
	}
	viaLane := p.lane != nil && total >= p.lane.lanes.opts.Threshold
	bp := p.pool.Get().(*[]byte)
	defer p.pool.Put(bp)
	for i := range chunks {
		lo := i * chunk
		hi := min(lo+chunk, total)
		if err := p.acquire(ctx, to); err != nil {
			return err
		}
		h.chunk, h.offset = uint32(i), uint64(lo)
		frame := (*bp)[:headerSize+hi-lo]
		h.put(frame)
		if !viaLane {
			r.read(frame[headerSize:])
		} else {
			// The lane writes the message's own bytes: no copy into the frame.
			parts := r.next(hi - lo)
			ok, err := p.lane.sendData(ctx, to, frame[:headerSize], parts)
			if err != nil {
				return err
			}
			if ok {
				countSent(hi - lo)
				continue
			}
			// No lane: the transport carries the message, from this chunk on.
			viaLane = false
			n := headerSize
			for _, b := range parts {
				n += copy(frame[n:], b)
			}
		}
		if err := p.link.Send(ctx, to, frame); err != nil {
			return err
		}
		countSent(hi - lo)
	}
	return nil
}

// controlTimeout bounds the sending of one control frame from the delivering
// goroutine, which must not wait on a publish that nobody answers (a JetStream stream
// deleted at the flare's end, a server down).
const controlTimeout = 2 * time.Second

// sendControl sends a header-only frame to another pack.
func (p *Pack) sendControl(ctx context.Context, to int, k kind, seq uint64) error {
	h := header{kind: k, flare: p.hash, src: uint32(p.index), dst: uint32(to), seq: seq, chunks: 1}
	var frame [headerSize]byte
	h.put(frame[:])
	<-p.linked
	if p.link == nil {
		return ErrClosed
	}
	err := p.link.Send(ctx, to, frame[:])
	if err != nil {
		p.cfg.Logger.Debug("comm: control frame lost", "flare", p.cfg.Flare, "kind", k, "to", to, "err", err)
	}
	return err
}

func (p *Pack) credit(to int) *credit {
	c := p.credits[to]
	if c == nil {
		c = &credit{wake: make(chan struct{})}
		p.credits[to] = c
	}
	return c
}

// acquire takes one frame of credit towards pack to, waiting for the receiver if needed.
func (p *Pack) acquire(ctx context.Context, to int) error {
	for {
		p.mu.Lock()
		c := p.credit(to)
		// Credit is cumulative and may run ahead of what was sent (a stray or forged
		// acknowledgement): then the whole window is free.
		if c.acked >= c.sent || c.sent-c.acked < uint64(p.cfg.Window) {
			c.sent++
			p.mu.Unlock()
			return nil
		}
		wake := c.wake
		p.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-p.stop:
			return p.stopCause
		}
	}
}

func (p *Pack) acknowledged(from int, frames uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.credit(from)
	if frames > c.acked {
		c.acked = frames
		close(c.wake)
		c.wake = make(chan struct{})
	}
}

// readyChan returns the channel closed once pack q is known to listen.
func (p *Pack) readyChan(q int) chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	ch := p.ready[q]
	if ch == nil {
		ch = make(chan struct{})
		p.ready[q] = ch
	}
	return ch
}

func (p *Pack) markReady(q int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ch := p.ready[q]
	if ch == nil {
		ch = make(chan struct{})
		p.ready[q] = ch
	}
	select {
	case <-ch:
	default:
		close(ch)
	}
}

// waitReady makes sure pack q listens before the first frame goes to it: core NATS
// drops messages nobody is subscribed to, and the packs of a flare may start on
// different hosts at different times. It asks q with a hello, again and again with a
// growing pause, until q answers (or says hello itself, or sends data).
func (p *Pack) waitReady(ctx context.Context, q int) error {
	ch := p.readyChan(q)
	select {
	case <-ch:
		return nil
	default:
	}
	pause := time.Millisecond
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ch:
			return nil
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-p.stop:
			return p.stopCause
		case <-t.C:
			p.sendControl(ctx, q, kindHello, 0)
			t.Reset(pause)
			pause = min(2*pause, 250*time.Millisecond)
		}
	}
}

// deliver takes every frame addressed to the pack, from the transport's goroutine.
func (p *Pack) deliver(frame []byte) {
	h, payload, err := decodeFrame(frame)
	if err != nil {
		p.cfg.Logger.Warn("comm: dropped a frame", "flare", p.cfg.Flare, "pack", p.index, "err", err)
		return
	}
	if h.flare != p.hash {
		return
	}
	switch h.kind {
	case kindAck:
		p.acknowledged(int(h.src), h.seq)
		return
	case kindHello:
		p.markReady(int(h.src))
		if h.seq == 0 {
			ctx, cancel := context.WithTimeout(context.Background(), controlTimeout)
			p.sendControl(ctx, int(h.src), kindHello, 1)
			cancel()
		}
		return
	case kindAbort:
		p.remoteAbort(string(payload))
		return
	}
	key, ok := p.admit(h)
	if !ok {
		return
	}
	data := payload
	if h.chunks > 1 {
		pt, slot := p.chunkSlot(key, h, len(payload))
		if pt == nil {
			return
		}
		copy(slot, payload)
		if data = p.chunkIn(key, h, pt); data == nil {
			return // more chunks to come
		}
	} else {
		p.count(p.packOf(int(h.src)), h.window)
	}
	p.handOver(key, data)
}

// admit checks a data frame's addresses and says whether its message is new.
func (p *Pack) admit(h header) (partialKey, bool) {
	key := partialKey{h.kind, h.tag, h.src, h.dst, h.seq}
	if int(h.src) >= p.cfg.Size || int(h.dst) < p.first || int(h.dst) >= p.end {
		p.cfg.Logger.Warn("comm: dropped a misaddressed frame", "flare", p.cfg.Flare, "pack", p.index, "src", h.src, "dst", h.dst)
		return key, false
	}
	return key, !p.recent.has(key) // else a redelivery of a message already handed over
}

// handOver puts a whole message in its worker's mailbox.
func (p *Pack) handOver(key partialKey, data []byte) {
	p.recent.add(key)
	p.worker[int(key.dst)-p.first].box.put(msgKey{key.kind, key.tag, int(key.src), key.seq}, message{data: data, owned: true})
}

// maxMessage bounds a message's size as its frames announce it, so that a bad frame
// cannot make the pack allocate without limit.
const maxMessage = 1 << 34

// chunkSlot files one chunk of n payload bytes of a multi-chunk message, and returns
// where in the message they go; chunkIn then counts it in. pt is nil for a chunk
// that is dropped: a redelivery, or one that disagrees with itself or with the
// message's other chunks. A lane reads a chunk straight into its slot; the transport's
// chunks are copied there.
func (p *Pack) chunkSlot(key partialKey, h header, n int) (pt *partial, slot []byte) {
	pt = p.partial[key]
	if pt == nil {
		if !p.plausible(h, n) {
			p.cfg.Logger.Warn("comm: dropped a frame of an impossible message", "flare", p.cfg.Flare,
				"total", h.total, "chunks", h.chunks, "chunk", h.chunk, "bytes", n)
			return nil, nil
		}
		size := uint64(n)
		if h.chunk == h.chunks-1 {
			size = h.offset / uint64(h.chunks-1)
		}
		pt = &partial{buf: make([]byte, h.total), seen: make([]uint64, (int(h.chunks)+63)/64), size: size, chunks: h.chunks, left: h.chunks}
		p.partial[key] = pt
	}
	// Every chunk in its own place, as sendRemote cuts them: a lane reads one straight
	// into its slot, so no two may overlap.
	if h.chunks != pt.chunks || h.total != uint64(len(pt.buf)) ||
		h.offset != uint64(h.chunk)*pt.size || uint64(n) != min(pt.size, h.total-h.offset) {
		p.cfg.Logger.Warn("comm: dropped a chunk that disagrees with its message", "flare", p.cfg.Flare, "src", h.src, "seq", h.seq)
		return nil, nil
	}
	word, bit := h.chunk/64, uint64(1)<<(h.chunk%64)
	if pt.seen[word]&bit != 0 {
		return nil, nil // a redelivered chunk
	}
	pt.seen[word] |= bit
	return pt, pt.buf[h.offset : h.offset+uint64(n)]
}

// chunkIn counts in a chunk whose bytes are in its slot, and returns the whole
// message once its last chunk is.
func (p *Pack) chunkIn(key partialKey, h header, pt *partial) []byte {
	p.count(p.packOf(int(h.src)), h.window)
	if pt.left--; pt.left > 0 {
		return nil
	}
	delete(p.partial, key)
	return pt.buf
}

// plausible checks the first frame seen of a multi-chunk message against the way
// sendRemote cuts messages: every chunk but the last is full, at offset chunk × its
// size, and no frame is larger than the transport carries.
func (p *Pack) plausible(h header, n int) bool {
	switch {
	case h.total > maxMessage || h.total > uint64(h.chunks)*uint64(p.cfg.Transport.MaxFrame()):
		return false
	case h.chunk == h.chunks-1:
		return h.offset+uint64(n) == h.total && h.total > uint64(h.chunks-1)
	default:
		size := uint64(n)
		return size > 0 && h.offset == uint64(h.chunk)*size &&
			h.total > uint64(h.chunks-1)*size && h.total <= uint64(h.chunks)*size
	}
}

// recent remembers the last messages handed over, so that a transport that delivers at
// least once (JetStream, after a lost acknowledgement or a reconnection) leaves no
// duplicate behind: not in a mailbox, not as a partial message that never completes.
type recent struct {
	set  map[partialKey]struct{}
	ring []partialKey
	next int
}

// recentMessages bounds what a pack remembers: a redelivery comes soon after the
// original, and a pack of a large flare in one process must stay small.
const recentMessages = 1 << 10

func (r *recent) has(k partialKey) bool {
	_, ok := r.set[k]
	return ok
}

func (r *recent) add(k partialKey) {
	if r.set == nil {
		r.set = make(map[partialKey]struct{})
	}
	if len(r.ring) < recentMessages {
		r.ring = append(r.ring, k)
	} else {
		delete(r.set, r.ring[r.next])
		r.ring[r.next] = k
		r.next = (r.next + 1) % recentMessages
	}
	r.set[k] = struct{}{}
}

// count notes a data frame from pack from and sends credit back every half window.
func (p *Pack) count(from int, window uint16) {
	rc := p.received[from]
	if rc == nil {
		// The first data from a pack also says it listens: no handshake needed back.
		rc = &recvCount{}
		p.received[from] = rc
		p.markReady(from)
	}
	rc.frames++
	if rc.frames-rc.acked >= uint64(max(1, window/2)) {
		ctx, cancel := context.WithTimeout(context.Background(), controlTimeout)
		// Credit is cumulative: one that could not be sent goes with the next frame's.
		if p.sendControl(ctx, from, kindAck, rc.frames) == nil {
			rc.acked = rc.frames
		}
		cancel()
	}
}
