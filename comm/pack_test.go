package comm

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// TestRemoteTrafficPerPack proves the pack-aware claim with the counters: remote
// messages depend on the number of packs P, not on the number of workers.
func TestRemoteTrafficPerPack(t *testing.T) {
	const n = 12
	for _, g := range []int{1, 2, 3, 4, 6, 12} {
		p := int64((n + g - 1) / g)
		ops := []struct {
			name   string
			remote int64 // frames, for payloads of one chunk
			call   func(ctx context.Context, w *Worker) error
		}{
			{"broadcast", p - 1, func(ctx context.Context, w *Worker) error {
				_, err := w.Broadcast(ctx, 5, make([]byte, 100))
				return err
			}},
			{"scatter", p - 1, func(ctx context.Context, w *Worker) error {
				_, err := w.Scatter(ctx, 5, make([][]byte, n))
				return err
			}},
			{"gather", p - 1, func(ctx context.Context, w *Worker) error {
				_, err := w.Gather(ctx, 5, make([]byte, 100))
				return err
			}},
			{"reduce", p - 1, func(ctx context.Context, w *Worker) error {
				_, err := ReduceSlice(ctx, w, 5, make([]float64, 10), Sum[float64])
				return err
			}},
			{"allgather", p * (p - 1), func(ctx context.Context, w *Worker) error {
				_, err := w.AllGather(ctx, make([]byte, 100))
				return err
			}},
			{"all-to-all", p * (p - 1), func(ctx context.Context, w *Worker) error {
				_, err := w.AllToAll(ctx, make([][]byte, n))
				return err
			}},
			{"allreduce", 2 * (p - 1), func(ctx context.Context, w *Worker) error {
				_, err := AllReduceSlice(ctx, w, make([]float64, 10), Sum[float64])
				return err
			}},
			{"barrier", 2 * (p - 1), func(ctx context.Context, w *Worker) error { return w.Barrier(ctx) }},
		}
		for _, op := range ops {
			t.Run(fmt.Sprintf("g=%d/%s", g, op.name), func(t *testing.T) {
				grp := newGroup(t, Config{Size: n, Granularity: g, Transport: NewMemoryTransport()})
				if err := run(t, grp, op.call); err != nil {
					t.Fatal(err)
				}
				if got := grp.Counters().RemoteMessages; got != op.remote {
					t.Fatalf("%d remote messages with %d packs, want %d", got, p, op.remote)
				}
			})
		}
	}
}

// TestBroadcastChunks checks P−1 remote messages per chunk for a message of many chunks.
func TestBroadcastChunks(t *testing.T) {
	const n, chunk, size = 8, 1000, 3500 // 4 chunks
	for _, g := range []int{1, 2, 3, 8} {
		grp := newGroup(t, Config{Size: n, Granularity: g, Transport: NewMemoryTransport(), ChunkSize: chunk})
		data := pattern(size, 1)
		if err := run(t, grp, func(ctx context.Context, w *Worker) error {
			_, err := w.Broadcast(ctx, 0, data)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		p := int64((n + g - 1) / g)
		c := grp.Counters()
		if c.RemoteMessages != 4*(p-1) || c.RemoteBytes != size*(p-1) {
			t.Errorf("g=%d: %d remote messages of %d bytes, want %d of %d", g, c.RemoteMessages, c.RemoteBytes, 4*(p-1), size*(p-1))
		}
		if c.LocalMessages != n-p || c.LocalBytes != size*(n-p) {
			t.Errorf("g=%d: %d local messages, want %d", g, c.LocalMessages, n-p)
		}
	}
}

// TestTraffic checks each pack's row of the pack × pack matrix: when every worker sends b
// bytes to every other, pack p sends b·|p|·|q| bytes to pack q, the rows add up to the remote
// bytes, and a flare of more packs than MaxTrafficGroups counts groups of packs.
func TestTraffic(t *testing.T) {
	const b = 10
	for _, tc := range []struct{ n, g int }{{6, 2}, {7, 3}, {MaxTrafficGroups + 8, 1}} {
		t.Run(fmt.Sprintf("n=%d/g=%d", tc.n, tc.g), func(t *testing.T) {
			grp := newGroup(t, Config{Size: tc.n, Granularity: tc.g, Transport: NewMemoryTransport()})
			if err := run(t, grp, func(ctx context.Context, w *Worker) error {
				for r := range w.Size() {
					if r != w.Rank() {
						if err := w.Send(ctx, r, make([]byte, b)); err != nil {
							return err
						}
					}
				}
				for r := range w.Size() {
					if r != w.Rank() {
						if _, err := w.Recv(ctx, r); err != nil {
							return err
						}
					}
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			packs := len(grp.Packs())
			groups := TrafficGroups(packs)
			want := make([][]int64, groups)
			for i := range want {
				want[i] = make([]int64, groups)
			}
			size := func(p *Pack) int64 { return int64(len(p.Workers())) }
			for _, p := range grp.Packs() {
				for _, q := range grp.Packs() {
					if p != q {
						want[TrafficGroup(p.Index(), packs)][TrafficGroup(q.Index(), packs)] += b * size(p) * size(q)
					}
				}
			}
			got := make([][]int64, groups)
			var sum int64
			for _, p := range grp.Packs() {
				row := p.Traffic()
				if len(row) != groups {
					t.Fatalf("pack %d: %d groups, want %d", p.Index(), len(row), groups)
				}
				gi := TrafficGroup(p.Index(), packs)
				if got[gi] == nil {
					got[gi] = make([]int64, groups)
				}
				for j, v := range row {
					got[gi][j] += v
					sum += v
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("matrix\n%v\nwant\n%v", got, want)
			}
			if r := grp.Counters().RemoteBytes; sum != r {
				t.Errorf("the matrix adds up to %d bytes, the counters to %d", sum, r)
			}
		})
	}
}

// TestZeroCopyInPack checks that a broadcast inside a pack hands over the root's very
// bytes, and that allreduce's result is one slice shared by the pack.
func TestZeroCopyInPack(t *testing.T) {
	const n = 6
	grp := newGroup(t, Config{Size: n, Granularity: n, Transport: NewMemoryTransport()})
	data := pattern(1<<20, 4)
	got := make([]unsafe.Pointer, n)
	sums := make([]unsafe.Pointer, n)
	err := run(t, grp, func(ctx context.Context, w *Worker) error {
		b, err := w.Broadcast(ctx, 2, data)
		if err != nil {
			return err
		}
		got[w.Rank()] = unsafe.Pointer(&b[0])
		s, err := AllReduceSlice(ctx, w, []float64{1, 2, 3}, Sum[float64])
		if err != nil {
			return err
		}
		sums[w.Rank()] = unsafe.Pointer(&s[0])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for r := range n {
		if got[r] != unsafe.Pointer(&data[0]) {
			t.Errorf("rank %d got a copy of the broadcast", r)
		}
		if sums[r] != sums[0] {
			t.Errorf("rank %d got its own copy of the allreduce result", r)
		}
	}
}

// failures are the ways a worker can end a flare early.
var failures = []struct {
	name  string
	fail  func(ctx context.Context, w *Worker) error
	cause string
}{
	{"error", func(context.Context, *Worker) error { return errors.New("boom") }, "rank 5: boom"},
	{"panic", func(context.Context, *Worker) error { panic("kaboom") }, "rank 5: panic: kaboom"},
	{"context", func(ctx context.Context, w *Worker) error {
		ctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := w.Broadcast(ctx, 0, nil)
		return err
	}, "rank 5: context canceled"},
}

// TestAbort makes rank 5 fail in the middle of a collective: every other worker, blocked
// in it or in a receive, must get an error naming the cause, well within a second.
func TestAbort(t *testing.T) {
	for _, tr := range transports {
		for _, f := range failures {
			t.Run(tr.name+"/"+f.name, func(t *testing.T) {
				const n = 8
				grp := newGroup(t, Config{Size: n, Granularity: 3, Transport: tr.make(t)})
				errs := make([]error, n)
				done := make(chan error, 1)
				started := time.Now()
				go func() {
					done <- grp.Run(context.Background(), func(ctx context.Context, w *Worker) error {
						if err := w.Barrier(ctx); err != nil {
							return err
						}
						var err error
						switch w.Rank() {
						case 5:
							time.Sleep(20 * time.Millisecond) // let the others block first
							started = time.Now()
							err = f.fail(ctx, w)
						case 1:
							_, err = w.Recv(ctx, 6)
						default:
							_, err = AllReduceSlice(ctx, w, []int64{1}, Sum[int64])
						}
						errs[w.Rank()] = err
						return err
					})
				}()
				// Every worker must come back with the cause; how soon is for the
				// benchmarks. The bound only keeps a hang from stalling the suite.
				var err error
				select {
				case err = <-done:
				case <-time.After(hangGuard):
					t.Fatalf("workers still blocked %s after rank 5 failed", hangGuard)
				}
				t.Logf("released %v after the failure", time.Since(started))
				if err == nil || !strings.Contains(err.Error(), f.cause) {
					t.Fatalf("Run = %v, want the cause %q", err, f.cause)
				}
				for r, e := range errs {
					if r == 5 {
						continue
					}
					if !errors.Is(e, ErrAborted) || !strings.Contains(e.Error(), f.cause) {
						t.Errorf("rank %d: %v, want ErrAborted naming %q", r, e, f.cause)
					}
				}
				// A pack of the failed flare refuses new work with the same cause.
				if err := grp.Workers()[0].Send(context.Background(), 7, nil); !errors.Is(err, ErrAborted) {
					t.Errorf("send after abort: %v", err)
				}
			})
		}
	}
}

func TestCloseReleasesBlockedWorkers(t *testing.T) {
	grp, err := NewGroup(context.Background(), Config{Flare: flareID(t), Size: 2, Granularity: 1, Transport: NewNATSTransport(connect(t))})
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := grp.Workers()[0].Recv(context.Background(), 1)
		errc <- err
	}()
	time.Sleep(10 * time.Millisecond)
	if err := grp.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("err = %v, want ErrClosed", err)
		}
	case <-time.After(hangGuard):
		t.Fatal("Recv still blocked after Close")
	}
}

func TestJetStreamDeletesStreamOnClose(t *testing.T) {
	nc := connect(t)
	tr, err := NewJetStreamTransport(nc, JetStreamOptions{Memory: true})
	if err != nil {
		t.Fatal(err)
	}
	flare := flareID(t)
	grp, err := NewGroup(context.Background(), Config{Flare: flare, Size: 4, Granularity: 2, Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	if err := run(t, grp, func(ctx context.Context, w *Worker) error { return w.Barrier(ctx) }); err != nil {
		t.Fatal(err)
	}
	js := tr.(*jetStreamTransport).js
	if _, err := js.Stream(context.Background(), streamName(flare)); err != nil {
		t.Fatalf("stream while the flare runs: %v", err)
	}
	if err := grp.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Stream(context.Background(), streamName(flare)); err == nil {
		t.Fatal("stream still there after the group closed")
	}
}
