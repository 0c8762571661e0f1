package comm

// Tests from an adversarial review of the middleware: each pins a defect that was found,
// and fixed, so that it stays fixed.

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/burstgo/burst/cluster"
)

// reviewPack opens pack index of a flare of two single-worker packs on a memory
// transport, alone: its control frames to the other pack go nowhere.
func reviewPack(t *testing.T, index int) *Pack {
	t.Helper()
	p, err := NewPack(context.Background(), Config{Flare: flareID(t), Size: 2, Granularity: 1, Transport: NewMemoryTransport()}, index)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// deliverSafely hands frames to the pack as its transport would and reports a panic,
// which in a transport's goroutine (a NATS subscription, the memory link's loop) would
// kill the whole process.
func deliverSafely(p *Pack, frames ...[]byte) (panicked any) {
	defer func() { panicked = recover() }()
	for _, f := range frames {
		p.deliver(f)
	}
	return nil
}

// TestReviewDeliverSurvivesBadChunks sends a pack frames that each pass decodeFrame but
// disagree with each other (or ask for absurd sizes), as a buggy or hostile peer on the
// flare's subject could: deliver must drop them, not panic.
func TestReviewDeliverSurvivesBadChunks(t *testing.T) {
	chunk := func(p *Pack, idx, chunks uint32, total, offset uint64, n int) []byte {
		return frame(header{kind: kindP2P, flare: p.hash, src: 0, dst: 1, seq: 1, window: 32,
			chunk: idx, chunks: chunks, total: total, offset: offset}, make([]byte, n))
	}
	tests := []struct {
		name   string
		frames func(p *Pack) [][]byte
	}{
		{"chunk count changes between chunks", func(p *Pack) [][]byte {
			// The first frame sizes the seen bitmap for 2 chunks; the second indexes
			// chunk 150 of it.
			return [][]byte{chunk(p, 0, 2, 20, 0, 10), chunk(p, 150, 200, 20, 10, 10)}
		}},
		{"total changes between chunks", func(p *Pack) [][]byte {
			// The first frame allocates 20 bytes; the second copies at offset 990.
			return [][]byte{chunk(p, 0, 2, 20, 0, 10), chunk(p, 1, 2, 1000, 990, 10)}
		}},
		{"chunk count near 2^32", func(p *Pack) [][]byte {
			// (chunks+63)/64 wraps in uint32: the seen bitmap gets no word at all.
			return [][]byte{chunk(p, 0, 1<<32-1, 20, 0, 10)}
		}},
		{"total of a petabyte", func(p *Pack) [][]byte {
			// 2^24 chunks × the memory transport's 64 MiB frames allow a 2^50-byte total,
			// and make([]byte, 2^50) panics.
			return [][]byte{chunk(p, 0, 1<<24, 1<<50, 0, 10)}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := reviewPack(t, 1)
			if v := deliverSafely(p, tt.frames(p)...); v != nil {
				t.Fatalf("deliver panicked on frames from a peer: %v", v)
			}
		})
	}
}

// TestReviewDeliverBoundsReassemblyState sends a pack single frames that announce far
// more than they could carry: the pack must drop them rather than set memory aside for
// them. A chunk that is not the last carries exactly the sender's chunk size, so a
// first frame bounds its message: total ≤ chunks × its payload. Without such a bound, a
// frame of 8 MiB announcing 1 TiB in 2^17 chunks makes the pack call
// make([]byte, 1<<40), which is "fatal error: runtime: out of memory", not a panic that
// anything could recover (checked with a standalone program on this machine).
func TestReviewDeliverBoundsReassemblyState(t *testing.T) {
	tests := []struct {
		name           string
		chunks         uint32
		total, payload int
	}{
		// HEAD: a 256 MiB seen-bitmap for an empty message.
		{"empty message in 2^31 chunks", 1 << 31, 0, 0},
		// HEAD and the 1 TiB cap alike: a 64 MiB buffer for a 66-byte frame.
		{"ten bytes announcing 64 MiB in two chunks", 2, 64 << 20, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := reviewPack(t, 1)
			f := frame(header{kind: kindColl, flare: p.hash, src: 0, dst: 1, seq: 7, window: 32,
				chunk: 0, chunks: tt.chunks, total: uint64(tt.total)}, make([]byte, tt.payload))
			if v := deliverSafely(p, f); v != nil {
				t.Fatalf("deliver panicked: %v", v)
			}
			held := 0
			for _, pt := range p.partial {
				held += len(pt.buf) + 8*len(pt.seen)
			}
			if held > 1<<20 {
				t.Fatalf("one %d-byte frame made the pack hold %d MiB", len(f), held>>20)
			}
		})
	}
}

// reviewDupTransport delivers the first point-to-point data frame twice, as JetStream
// does when an acknowledgement is lost or a consumer reconnects (at-least-once).
type reviewDupTransport struct {
	Transport
	once sync.Once
}

type reviewDupLink struct {
	Link
	t *reviewDupTransport
}

func (t *reviewDupTransport) Open(ctx context.Context, flare string, pack int, deliver func([]byte), abort func(string)) (Link, error) {
	l, err := t.Transport.Open(ctx, flare, pack, deliver, abort)
	if err != nil {
		return nil, err
	}
	return &reviewDupLink{Link: l, t: t}, nil
}

func (l *reviewDupLink) Send(ctx context.Context, pack int, f []byte) error {
	if err := l.Link.Send(ctx, pack, f); err != nil {
		return err
	}
	dup := false
	if h, _, err := decodeFrame(f); err == nil && h.kind == kindP2P {
		l.t.once.Do(func() { dup = true })
	}
	if dup {
		return l.Link.Send(ctx, pack, f)
	}
	return nil
}

// TestReviewFlowControlSurvivesRedelivery: a receiver counts a redelivered frame as a
// new one, so its cumulative credit can exceed what the sender sent; acquire then
// computes sent−acked in uint64, which wraps, and the sender waits for credit forever.
// A stray ack frame (any peer can send one; its count is not checked) does the same.
func TestReviewFlowControlSurvivesRedelivery(t *testing.T) {
	t.Run("redelivered data frame", func(t *testing.T) {
		grp := newGroup(t, Config{Size: 2, Granularity: 1, Transport: &reviewDupTransport{Transport: NewMemoryTransport()}, Window: 2})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := grp.Run(ctx, func(ctx context.Context, w *Worker) error {
			for i := range 6 {
				if w.Rank() == 0 {
					if err := w.Send(ctx, 1, []byte{byte(i)}); err != nil {
						return err
					}
					if _, err := w.Recv(ctx, 1); err != nil {
						return err
					}
					continue
				}
				got, err := w.Recv(ctx, 0)
				if err != nil {
					return err
				}
				if len(got) != 1 || got[0] != byte(i) {
					return errors.New("ping-pong: wrong message")
				}
				if err := w.Send(ctx, 0, got); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("six ping-pongs after one redelivered frame: %v", err)
		}
	})
	t.Run("stray ack", func(t *testing.T) {
		p := reviewPack(t, 0)
		p.markReady(1)
		ack := frame(header{kind: kindAck, flare: p.hash, src: 1, dst: 0, seq: 5, chunks: 1}, nil)
		if v := deliverSafely(p, ack); v != nil {
			t.Fatalf("deliver panicked: %v", v)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		// Nothing was sent yet, so the whole window is free whatever the ack says.
		if err := p.acquire(ctx, 1); err != nil {
			t.Fatalf("first frame of credit after an ack for 5 frames never sent: %v", err)
		}
	})
}

// TestReviewRedeliveryLeavesNoState: a duplicate that arrives after its message was
// taken stays in the pack for good. A redelivered chunk of a finished message opens a
// new partial with a buffer of the whole message's size that never completes; a
// redelivered single-frame message fills a mailbox slot nobody takes.
func TestReviewRedeliveryLeavesNoState(t *testing.T) {
	const n = 4000
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	t.Run("chunk", func(t *testing.T) {
		p := reviewPack(t, 1)
		c0 := frame(header{kind: kindP2P, flare: p.hash, src: 0, dst: 1, seq: 1, window: 32, chunk: 0, chunks: 2, total: n, offset: 0}, make([]byte, n/2))
		c1 := frame(header{kind: kindP2P, flare: p.hash, src: 0, dst: 1, seq: 1, window: 32, chunk: 1, chunks: 2, total: n, offset: n / 2}, make([]byte, n/2))
		deliverSafely(p, c0, c1)
		if got, err := p.Workers()[0].Recv(ctx, 0); err != nil || len(got) != n {
			t.Fatalf("Recv = %d bytes, %v", len(got), err)
		}
		deliverSafely(p, c0) // the redelivery
		if len(p.partial) != 0 {
			t.Fatalf("%d partial messages left after a redelivered chunk of a finished one", len(p.partial))
		}
	})
	t.Run("single frame", func(t *testing.T) {
		p := reviewPack(t, 1)
		f := frame(header{kind: kindP2P, flare: p.hash, src: 0, dst: 1, seq: 1, window: 32, chunks: 1, total: 3}, []byte("abc"))
		deliverSafely(p, f)
		w := p.Workers()[0]
		if got, err := w.Recv(ctx, 0); err != nil || string(got) != "abc" {
			t.Fatalf("Recv = %q, %v", got, err)
		}
		deliverSafely(p, f) // the redelivery
		w.box.mu.Lock()
		left := len(w.box.slots)
		w.box.mu.Unlock()
		if left != 0 {
			t.Fatalf("%d mailbox slots left after a redelivered message", left)
		}
	})
}

// TestReviewRecvAfterAbortFails: doc.go says every worker calling a receive after an
// abort gets ErrAborted. mailbox.take selects between a message already there and the
// pack's stop at random, so a Recv after the abort often returns the data instead.
func TestReviewRecvAfterAbortFails(t *testing.T) {
	ctx := context.Background()
	const trials = 40
	delivered := 0
	for range trials {
		grp := newGroup(t, Config{Size: 2, Granularity: 2, Transport: NewMemoryTransport()})
		w := grp.Workers()
		if err := w[0].Send(ctx, 1, []byte("x")); err != nil {
			t.Fatal(err)
		}
		grp.Packs()[0].Abort(errors.New("boom"))
		if _, err := w[1].Recv(ctx, 0); !errors.Is(err, ErrAborted) {
			delivered++
		}
	}
	if delivered > 0 {
		t.Fatalf("%d of %d receives after the abort returned data, not ErrAborted", delivered, trials)
	}
}

// TestReviewGroupRunNamesTheCause: a worker that ends with ctx.Err() once the abort
// cancelled its context (the usual Go idiom) returns context.Canceled, which Group.Run
// takes for a cause, since it does not wrap ErrAborted; the real cause is hidden behind
// "rank 0: context canceled". Pack.Run's per-rank errors have the same flaw.
func TestReviewGroupRunNamesTheCause(t *testing.T) {
	grp := newGroup(t, Config{Size: 4, Granularity: 2, Transport: NewMemoryTransport()})
	err := run(t, grp, func(ctx context.Context, w *Worker) error {
		if w.Rank() == 3 {
			return errors.New("boom")
		}
		<-ctx.Done()
		return ctx.Err()
	})
	if err == nil || !strings.Contains(err.Error(), "rank 3: boom") {
		t.Fatalf("Group.Run = %v, want the cause, rank 3: boom", err)
	}
}

// TestReviewJetStreamSendHonoursContext: the hello that waitReady sends (and the credit
// that deliver sends) goes through sendControl with context.Background(), and the
// JetStream link retries a publish that gets no answer until its context ends, so with
// the flare's stream gone (the gateway deletes it when the flare ends, the bench's
// group 0 when it is done) or the server down, Send ignores its caller's context and
// blocks for good; in deliver it would hold the link's callbacks lock, so Close hangs.
func TestReviewJetStreamSendHonoursContext(t *testing.T) {
	nc, err := cluster.ConnectInProcess(natsServer(t))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	tr, err := NewJetStreamTransport(nc, JetStreamOptions{Memory: true})
	if err != nil {
		t.Fatal(err)
	}
	flare := flareID(t)
	p, err := NewPack(context.Background(), Config{Flare: flare, Size: 2, Granularity: 1, Transport: tr}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.EndFlare(context.Background(), flare); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	sent := make(chan error, 1)
	go func() { sent <- p.Workers()[0].Send(ctx, 1, []byte("hi")) }()
	returned := false
	select {
	case err := <-sent:
		returned = true
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Send = %v, want its context's deadline", err)
		}
	case <-time.After(hangGuard):
		t.Errorf("Send still blocked %s after its 200 ms context ended", hangGuard)
	}
	p.Close()
	if !returned {
		// Closing the connection makes the publish fail for good, which frees the
		// goroutine.
		nc.Close()
		<-sent
	}
}

// TestReviewFailedCallKeepsPairsInStep: a call that fails before sending anything must
// not use up a sequence number, or the caller's next try is matched against a later
// receive and the peer waits for good. Send takes the pair's next sequence number before
// it waits for the peer pack (so a Send that times out waiting for a late pack, as in
// TestPeerNeverComes, spends it); Scatter takes the collective's before the root checks
// its parts (AllToAll and Reduce check first).
func TestReviewFailedCallKeepsPairsInStep(t *testing.T) {
	t.Run("send that timed out waiting for the peer pack", func(t *testing.T) {
		tr := NewMemoryTransport()
		cfg := Config{Flare: flareID(t), Size: 2, Granularity: 1, Transport: tr}
		p0, err := NewPack(context.Background(), cfg, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer p0.Close()
		early, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if err := p0.Workers()[0].Send(early, 1, []byte("lost")); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Send before the peer pack exists = %v, want a deadline", err)
		}
		p1, err := NewPack(context.Background(), cfg, 1)
		if err != nil {
			t.Fatal(err)
		}
		defer p1.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := p0.Workers()[0].Send(ctx, 1, []byte("again")); err != nil {
			t.Fatal(err)
		}
		if got, err := p1.Workers()[0].Recv(ctx, 0); err != nil || string(got) != "again" {
			t.Fatalf("Recv after the sender's retry = %q, %v", got, err)
		}
	})
	t.Run("scatter with the wrong number of parts at the root", func(t *testing.T) {
		grp := newGroup(t, Config{Size: 4, Granularity: 2, Transport: NewMemoryTransport()})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		errs := make([]error, 4)
		var wg sync.WaitGroup
		for _, w := range grp.Workers() {
			wg.Go(func() {
				if w.Rank() == 0 {
					if _, err := w.Scatter(ctx, 0, make([][]byte, 3)); !errors.Is(err, ErrBadArgument) {
						errs[0] = errors.New("three parts for four workers accepted")
						return
					}
				}
				parts := [][]byte{{0}, {1}, {2}, {3}}
				got, err := w.Scatter(ctx, 0, parts)
				if err == nil && (len(got) != 1 || int(got[0]) != w.Rank()) {
					err = errors.New("wrong part")
				}
				errs[w.Rank()] = err
			})
		}
		wg.Wait()
		for r, err := range errs {
			if err != nil {
				t.Errorf("rank %d: %v", r, err)
			}
		}
	})
}
