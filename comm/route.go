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
	buf  []byte
	seen []uint64 // a bit per chunk, so a redelivered chunk is not counted twice
	left uint32
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
	to := dst / p.cfg.Granularity
	if err := p.waitReady(ctx, to); err != nil {
		return err
	}
	chunk := p.cfg.ChunkSize
	chunks := max(1, (total+chunk-1)/chunk)
	h := header{
		kind: k, tag: tag, flare: p.hash, src: uint32(w.rank), dst: uint32(dst), seq: seq,
		chunks: uint32(chunks), total: uint64(total), window: uint16(p.cfg.Window),
	}
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
		r.read(frame[headerSize:])
		if err := p.link.Send(ctx, to, frame); err != nil {
			return err
		}
		w.remoteMessages.Add(1)
		w.remoteBytes.Add(int64(hi - lo))
	}
	return nil
}

// sendControl sends a header-only frame to another pack.
func (p *Pack) sendControl(to int, k kind, seq uint64) {
	h := header{kind: k, flare: p.hash, src: uint32(p.index), dst: uint32(to), seq: seq, chunks: 1}
	var frame [headerSize]byte
	h.put(frame[:])
	<-p.linked
	if p.link == nil {
		return
	}
	if err := p.link.Send(context.Background(), to, frame[:]); err != nil {
		p.cfg.Logger.Debug("comm: control frame lost", "flare", p.cfg.Flare, "kind", k, "to", to, "err", err)
	}
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
		if c.sent-c.acked < uint64(p.cfg.Window) {
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
	ch := p.readyChan(q)
	select {
	case <-ch:
	default:
		p.mu.Lock()
		select {
		case <-ch:
		default:
			close(ch)
		}
		p.mu.Unlock()
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
			p.sendControl(q, kindHello, 0)
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
			p.sendControl(int(h.src), kindHello, 1)
		}
		return
	case kindAbort:
		p.remoteAbort(string(payload))
		return
	}
	src, dst := int(h.src), int(h.dst)
	if src >= p.cfg.Size || dst < p.first || dst >= p.end {
		p.cfg.Logger.Warn("comm: dropped a misaddressed frame", "flare", p.cfg.Flare, "pack", p.index, "src", src, "dst", dst)
		return
	}
	from := src / p.cfg.Granularity
	p.markReady(from)
	p.count(from, h.window)

	data := payload
	if h.chunks > 1 {
		if h.total > uint64(h.chunks)*uint64(p.cfg.Transport.MaxFrame()) {
			p.cfg.Logger.Warn("comm: dropped a frame of an oversized message", "flare", p.cfg.Flare, "total", h.total)
			return
		}
		key := partialKey{h.kind, h.tag, h.src, h.dst, h.seq}
		pt := p.partial[key]
		if pt == nil {
			pt = &partial{buf: make([]byte, h.total), seen: make([]uint64, (h.chunks+63)/64), left: h.chunks}
			p.partial[key] = pt
		}
		word, bit := h.chunk/64, uint64(1)<<(h.chunk%64)
		if pt.seen[word]&bit != 0 {
			return
		}
		pt.seen[word] |= bit
		copy(pt.buf[h.offset:], payload)
		if pt.left--; pt.left > 0 {
			return
		}
		delete(p.partial, key)
		data = pt.buf
	}
	p.worker[dst-p.first].box.put(msgKey{h.kind, h.tag, src, h.seq}, message{data: data, owned: true})
}

// count notes a data frame from pack from and sends credit back every half window.
func (p *Pack) count(from int, window uint16) {
	rc := p.received[from]
	if rc == nil {
		rc = &recvCount{}
		p.received[from] = rc
	}
	rc.frames++
	if rc.frames-rc.acked >= uint64(max(1, window/2)) {
		rc.acked = rc.frames
		p.sendControl(from, kindAck, rc.frames)
	}
}
