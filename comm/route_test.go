package comm

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// pattern is n bytes that differ from one message to the next.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) ^ seed
	}
	return b
}

func TestPayloadSizes(t *testing.T) {
	const chunk = 1000
	sizes := []int{0, 1, chunk - 1, chunk, chunk + 1, 3*chunk + 17}
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			grp := newGroup(t, Config{Size: 2, Granularity: 1, Transport: tr.make(t), ChunkSize: chunk})
			err := run(t, grp, func(ctx context.Context, w *Worker) error {
				for i, n := range sizes {
					if w.Rank() == 0 {
						before := w.Counters().RemoteMessages
						if err := w.Send(ctx, 1, pattern(n, byte(i))); err != nil {
							return err
						}
						if got, want := w.Counters().RemoteMessages-before, int64(max(1, (n+chunk-1)/chunk)); got != want {
							return fmt.Errorf("%d bytes went in %d frames, want %d", n, got, want)
						}
						continue
					}
					got, err := w.Recv(ctx, 0)
					if err != nil {
						return err
					}
					if !bytes.Equal(got, pattern(n, byte(i))) {
						return fmt.Errorf("%d bytes sent, %d received or different content", n, len(got))
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestLargeMessage(t *testing.T) {
	if testing.Short() {
		t.Skip("64 MiB transfers in -short mode")
	}
	const n = 64 << 20
	want := pattern(n, 9)
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			grp := newGroup(t, Config{Size: 2, Granularity: 1, Transport: tr.make(t)})
			err := run(t, grp, func(ctx context.Context, w *Worker) error {
				got, err := w.Broadcast(ctx, 1, want)
				if err != nil {
					return err
				}
				if !bytes.Equal(got, want) {
					return errors.New("64 MiB broadcast arrived different")
				}
				if w.Rank() == 1 {
					if c := w.Counters(); c.RemoteMessages != n/DefaultChunkSize || c.RemoteBytes != n {
						return fmt.Errorf("counters %+v, want %d frames of %d bytes", c, n/DefaultChunkSize, n)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestGiBTransfer sends 1 GiB between two packs over core NATS: flow control must keep
// the server from dropping a slow consumer, and nothing may deadlock.
func TestGiBTransfer(t *testing.T) {
	if testing.Short() {
		t.Skip("1 GiB transfer in -short mode")
	}
	const n = 1 << 30
	data := pattern(n, 3)
	grp := newGroup(t, Config{Size: 2, Granularity: 1, Transport: NewNATSTransport(connect(t))})
	err := run(t, grp, func(ctx context.Context, w *Worker) error {
		if w.Rank() == 0 {
			return w.Send(ctx, 1, data)
		}
		got, err := w.Recv(ctx, 0)
		if err != nil {
			return err
		}
		if !bytes.Equal(got, data) {
			return errors.New("1 GiB arrived different")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// shuffleTransport wraps a transport and delivers frames in a random order, as a
// network with several paths might.
type shuffleTransport struct {
	Transport
	wg sync.WaitGroup
}

type shuffleLink struct {
	Link
	t *shuffleTransport
}

func (s *shuffleTransport) Open(ctx context.Context, flare string, pack int, deliver func([]byte), abort func(string)) (Link, error) {
	l, err := s.Transport.Open(ctx, flare, pack, deliver, abort)
	if err != nil {
		return nil, err
	}
	return &shuffleLink{Link: l, t: s}, nil
}

func (l *shuffleLink) Send(ctx context.Context, pack int, frame []byte) error {
	frame = bytes.Clone(frame)
	l.t.wg.Go(func() {
		time.Sleep(time.Duration(rand.IntN(300)) * time.Microsecond)
		l.Link.Send(ctx, pack, frame)
	})
	return nil
}

func TestOutOfOrderArrival(t *testing.T) {
	tr := &shuffleTransport{Transport: NewMemoryTransport()}
	defer tr.wg.Wait()
	const n, chunk = 6, 64
	grp := newGroup(t, Config{Size: n, Granularity: 2, Transport: tr, ChunkSize: chunk, Window: 4})
	ref := newReference(n)
	err := run(t, grp, func(ctx context.Context, w *Worker) error {
		// Several multi-chunk messages in a row to one peer: their chunks interleave.
		to, from := (w.Rank()+3)%n, (w.Rank()+n-3)%n
		for i := range 5 {
			if err := w.Send(ctx, to, pattern(chunk*3+i, byte(w.Rank()+i))); err != nil {
				return err
			}
		}
		for i := range 5 {
			got, err := w.Recv(ctx, from)
			if err != nil {
				return err
			}
			if !bytes.Equal(got, pattern(chunk*3+i, byte(from+i))) {
				return fmt.Errorf("message %d from %d out of order or damaged", i, from)
			}
		}
		return ref.check(ctx, w)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestRecvOrderDoesNotMatter receives from peers in the opposite order they send in.
func TestRecvOrderDoesNotMatter(t *testing.T) {
	grp := newGroup(t, Config{Size: 4, Granularity: 2, Transport: NewMemoryTransport()})
	err := run(t, grp, func(ctx context.Context, w *Worker) error {
		if w.Rank() != 0 {
			return w.Send(ctx, 0, []byte{byte(w.Rank())})
		}
		for r := 3; r >= 1; r-- {
			got, err := w.Recv(ctx, r)
			if err != nil {
				return err
			}
			if !bytes.Equal(got, []byte{byte(r)}) {
				return fmt.Errorf("from %d got %v", r, got)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// countingTransport delays every delivery and records how many data frames were ever in
// flight from one pack to another at once.
type countingTransport struct {
	Transport
	inflight, peak atomic.Int64
}

func (c *countingTransport) Open(ctx context.Context, flare string, pack int, deliver func([]byte), abort func(string)) (Link, error) {
	slow := func(f []byte) {
		if h, _, err := decodeFrame(f); err == nil && h.kind == kindP2P {
			time.Sleep(50 * time.Microsecond)
			c.inflight.Add(-1)
		}
		deliver(f)
	}
	l, err := c.Transport.Open(ctx, flare, pack, slow, abort)
	if err != nil {
		return nil, err
	}
	return &countingLink{Link: l, c: c}, nil
}

type countingLink struct {
	Link
	c *countingTransport
}

func (l *countingLink) Send(ctx context.Context, pack int, frame []byte) error {
	if h, _, err := decodeFrame(frame); err == nil && h.kind == kindP2P {
		n := l.c.inflight.Add(1)
		for {
			p := l.c.peak.Load()
			if n <= p || l.c.peak.CompareAndSwap(p, n) {
				break
			}
		}
	}
	return l.Link.Send(ctx, pack, frame)
}

func TestFlowControlBoundsFramesInFlight(t *testing.T) {
	tr := &countingTransport{Transport: NewMemoryTransport()}
	const window = 8
	grp := newGroup(t, Config{Size: 2, Granularity: 1, Transport: tr, ChunkSize: 100, Window: window})
	data := pattern(100*200, 1)
	err := run(t, grp, func(ctx context.Context, w *Worker) error {
		if w.Rank() == 0 {
			return w.Send(ctx, 1, data)
		}
		got, err := w.Recv(ctx, 0)
		if err == nil && !bytes.Equal(got, data) {
			err = errors.New("data damaged")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if peak := tr.peak.Load(); peak > window || peak < 2 {
		t.Fatalf("peak frames in flight = %d, want 2..%d", peak, window)
	}
}

// TestPeerNeverComes sends to a pack that never opens: the caller's deadline ends the
// wait with a clear error instead of a hang or a silent drop.
func TestPeerNeverComes(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			flare := flareID(t)
			transport := tr.make(t)
			p, err := NewPack(context.Background(), Config{Flare: flare, Size: 2, Granularity: 1, Transport: transport}, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer transport.EndFlare(context.Background(), flare)
			defer p.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			if err := p.Workers()[0].Send(ctx, 1, []byte("hi")); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err = %v, want a deadline error", err)
			}
		})
	}
}

// TestLatePack opens the second pack well after the first has started sending: the
// handshake holds the data back until the peer listens.
func TestLatePack(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			flare := flareID(t)
			transport := tr.make(t)
			defer transport.EndFlare(context.Background(), flare)
			cfg := Config{Flare: flare, Size: 2, Granularity: 1, Transport: transport}
			p0, err := NewPack(context.Background(), cfg, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer p0.Close()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			sent := make(chan error, 1)
			go func() { sent <- p0.Workers()[0].Send(ctx, 1, []byte("early")) }()
			time.Sleep(30 * time.Millisecond)
			p1, err := NewPack(context.Background(), cfg, 1)
			if err != nil {
				t.Fatal(err)
			}
			defer p1.Close()
			got, err := p1.Workers()[0].Recv(ctx, 0)
			if err != nil || string(got) != "early" {
				t.Fatalf("got %q, %v", got, err)
			}
			if err := <-sent; err != nil {
				t.Fatal(err)
			}
		})
	}
}

// FuzzDeliver hands a pack frames that pass or fail decoding in any combination, as a
// buggy peer could send them: the pack must not panic, and never holds more than
// maxMessage for one message. The seeds run with every go test.
func FuzzDeliver(f *testing.F) {
	h := header{kind: kindP2P, src: 0, dst: 1, seq: 1, window: 8, chunks: 2, total: 6}
	first, last := h, h
	last.chunk, last.offset = 1, 3
	f.Add(frame(first, []byte("abc")), frame(last, []byte("def")))
	f.Add(frame(header{kind: kindAck, src: 0, dst: 1, seq: 9, chunks: 1}, nil), frame(last, []byte("de")))
	f.Add(frame(header{kind: kindColl, tag: 2, src: 0, dst: 1, seq: 3, chunks: 1 << 20, total: 1 << 40}, []byte("x")), []byte{})
	f.Fuzz(func(t *testing.T, a, b []byte) {
		p, err := NewPack(context.Background(), Config{Flare: "fuzz", Size: 2, Granularity: 1, Transport: NewMemoryTransport()}, 1)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		hash := flareHash("fuzz")
		for _, fr := range [][]byte{a, b} {
			if len(fr) >= headerSize {
				binary.LittleEndian.PutUint64(fr[8:], hash) // reach past the flare check
			}
			p.deliver(fr)
		}
		for _, pt := range p.partial {
			if len(pt.buf) > maxMessage {
				t.Fatalf("a partial message of %d bytes", len(pt.buf))
			}
		}
	})
}
