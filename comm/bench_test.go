package comm

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// The benchmarks put Burst beside a raw nats.go baseline that moves the same bytes
// through the same embedded server, so one run gives the ratio:
//
//	go test -run '^$' -bench . -benchmem ./comm

// pairPacks builds a flare of two packs of one worker each, each pack on its own
// in-process connection, as two invokers would be, and with lanes of their own of
// kind lane ("unix", "tcp"; "" for none).
func pairPacks(b *testing.B, lane string) (*Pack, *Pack) {
	flare := flareID(b)
	cfg := Config{Flare: flare, Size: 2, Granularity: 1}
	var packs [2]*Pack
	for i := range packs {
		cfg.Transport = NewNATSTransport(connect(b))
		switch lane {
		case "unix":
			cfg.Lanes = listenLanes(b, LaneOptions{Unix: true})
		case "tcp":
			cfg.Lanes = listenLanes(b, LaneOptions{TCP: "127.0.0.1:0"})
		}
		cfg.LaneSecret = []byte(flare)
		p, err := NewPack(context.Background(), cfg, i)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { p.Close() })
		packs[i] = p
	}
	return packs[0], packs[1]
}

// runPair runs one function per pack's worker and fails the benchmark on an error.
func runPair(b *testing.B, p0, p1 *Pack, f0, f1 func(ctx context.Context, w *Worker) error) {
	ctx := context.Background()
	errs := make(chan []error, 2)
	go func() { errs <- p0.Run(ctx, f0) }()
	go func() { errs <- p1.Run(ctx, f1) }()
	for range 2 {
		for _, err := range <-errs {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}

const pairBytes = 64 << 20

// BenchmarkRemotePair moves a 64 MiB message from one pack to another.
func BenchmarkRemotePair(b *testing.B) {
	b.Run("raw-nats", func(b *testing.B) {
		pub, sub := connect(b), connect(b)
		chunk := make([]byte, DefaultChunkSize)
		var got atomic.Int64
		done := make(chan struct{})
		want := int64(b.N) * pairBytes
		s, err := sub.Subscribe("bench.raw.pair", func(m *nats.Msg) {
			if got.Add(int64(len(m.Data))) == want {
				close(done)
			}
		})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Unsubscribe()
		s.SetPendingLimits(-1, -1)
		sub.Flush()
		b.SetBytes(pairBytes)
		b.ResetTimer()
		for range b.N {
			for range pairBytes / DefaultChunkSize {
				if err := pub.Publish("bench.raw.pair", chunk); err != nil {
					b.Fatal(err)
				}
			}
		}
		<-done
	})
	for _, lane := range []string{"", "unix", "tcp"} {
		name := "burst-nats"
		if lane != "" {
			name = "burst-lane-" + lane
		}
		b.Run(name, func(b *testing.B) { benchPair(b, lane) })
	}
}

func benchPair(b *testing.B, lane string) {
	{
		p0, p1 := pairPacks(b, lane)
		data := make([]byte, pairBytes)
		b.SetBytes(pairBytes)
		b.ResetTimer()
		runPair(b, p0, p1, func(ctx context.Context, w *Worker) error {
			for range b.N {
				if err := w.Send(ctx, 1, data); err != nil {
					return err
				}
			}
			return nil
		}, func(ctx context.Context, w *Worker) error {
			for range b.N {
				m, err := w.Recv(ctx, 0)
				if err != nil {
					return err
				}
				if len(m) != pairBytes {
					return fmt.Errorf("got %d bytes", len(m))
				}
			}
			return nil
		})
	}
}

// BenchmarkRoundTrip sends 8 bytes from one pack to another and back.
func BenchmarkRoundTrip(b *testing.B) {
	msg := []byte("8 bytes!")
	b.Run("raw-nats", func(b *testing.B) {
		req, rep := connect(b), connect(b)
		s, err := rep.Subscribe("bench.raw.echo", func(m *nats.Msg) { m.Respond(m.Data) })
		if err != nil {
			b.Fatal(err)
		}
		defer s.Unsubscribe()
		rep.Flush()
		b.ResetTimer()
		for range b.N {
			if _, err := req.Request("bench.raw.echo", msg, 10*time.Second); err != nil {
				b.Fatal(err)
			}
		}
	})
	// With lanes, an 8-byte message stays on NATS: the lanes must cost it nothing.
	for _, lane := range []string{"", "unix"} {
		name := "burst-nats"
		if lane != "" {
			name = "burst-lane-" + lane
		}
		b.Run(name, func(b *testing.B) { benchRoundTrip(b, lane, msg) })
	}
}

func benchRoundTrip(b *testing.B, lane string, msg []byte) {
	{
		p0, p1 := pairPacks(b, lane)
		b.ResetTimer()
		runPair(b, p0, p1, func(ctx context.Context, w *Worker) error {
			for range b.N {
				if err := w.Send(ctx, 1, msg); err != nil {
					return err
				}
				if _, err := w.Recv(ctx, 1); err != nil {
					return err
				}
			}
			return nil
		}, func(ctx context.Context, w *Worker) error {
			for range b.N {
				m, err := w.Recv(ctx, 0)
				if err != nil {
					return err
				}
				if err := w.Send(ctx, 0, m); err != nil {
					return err
				}
			}
			return nil
		})
	}
}

// runGroup runs fn b.N times on every worker of a one-process flare.
func runGroup(b *testing.B, cfg Config, fn func(ctx context.Context, w *Worker) error) {
	g := newGroup(b, cfg)
	b.ResetTimer()
	err := g.Run(context.Background(), func(ctx context.Context, w *Worker) error {
		for range b.N {
			if err := fn(ctx, w); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkLocalBroadcast broadcasts inside one pack of 48 workers: no copy, so the
// bytes allocated per operation do not grow with the payload.
func BenchmarkLocalBroadcast(b *testing.B) {
	for _, size := range []int{1 << 10, 1 << 20, 64 << 20} {
		b.Run(fmt.Sprintf("48-workers/%s", byteSize(size)), func(b *testing.B) {
			data := make([]byte, size)
			b.ReportAllocs()
			b.SetBytes(int64(size))
			runGroup(b, Config{Size: 48, Granularity: 48, Transport: NewMemoryTransport()}, func(ctx context.Context, w *Worker) error {
				got, err := w.Broadcast(ctx, 0, data)
				if err == nil && len(got) != size {
					err = fmt.Errorf("got %d bytes", len(got))
				}
				return err
			})
		})
	}
}

// BenchmarkLocalAllReduce sums 8 MiB of float64 over the 8 workers of one pack.
func BenchmarkLocalAllReduce(b *testing.B) {
	const n = 1 << 20
	b.Run("8-workers/8MiB-float64", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(8 * n)
		var vs [8][]float64
		for r := range vs {
			vs[r] = make([]float64, n)
			for i := range vs[r] {
				vs[r][i] = float64(r)
			}
		}
		runGroup(b, Config{Size: 8, Granularity: 8, Transport: NewMemoryTransport()}, func(ctx context.Context, w *Worker) error {
			got, err := AllReduceSlice(ctx, w, vs[w.Rank()], Sum[float64])
			if err == nil && got[n-1] != 28 {
				err = fmt.Errorf("sum = %v, want 28", got[n-1])
			}
			return err
		})
	})
}

func byteSize(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}
