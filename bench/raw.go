package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// The raw backend is the baseline: plain nats.go publish/subscribe of the same bytes, in
// the same chunks, through the same server. Group 0 publishes the payload once to each
// other group (so with two groups it is the pair benchmark, with more it is what a
// broadcast's remote copies cost); each receiver reassembles and checks the payload,
// then tells group 0, which starts the next repeat when all have.
//
// Subjects, under bench.raw.<burst>: .<group> carries a repeat's begin message (the
// publisher's clock, 8 bytes) and then its chunks; .ready.<group> answers that a
// receiver listens; .done collects the receivers' ends.
func runRaw(ctx context.Context, o Options, srv *server.Server, groups []int) (*Report, error) {
	prefix := "bench.raw." + o.BurstID
	want := crc32.ChecksumIEEE(pattern(o.PayloadSize, 0))
	var c collector
	add := c.add
	errs := make(chan error, len(groups))
	var receivers sync.WaitGroup
	listening := make(chan error, len(groups))
	for _, gid := range groups {
		nc, err := connect(o.Server, srv)
		if err != nil {
			return nil, err
		}
		defer nc.Close()
		if gid == 0 {
			continue
		}
		receivers.Go(func() { errs <- rawReceive(ctx, o, nc, prefix, gid, want, add, listening) })
	}
	publishing := slices.Contains(groups, 0)
	receiving := len(groups)
	if publishing {
		receiving--
	}
	for range receiving {
		if err := <-listening; err != nil {
			return nil, err
		}
	}
	if publishing {
		nc, err := connect(o.Server, srv)
		if err != nil {
			return nil, err
		}
		defer nc.Close()
		if err := rawPublish(ctx, o, nc, prefix, add); err != nil {
			return nil, err
		}
	}
	receivers.Wait()
	close(errs)
	return c.report(o, groups, errs)
}

func rawReceive(ctx context.Context, o Options, nc *nats.Conn, prefix string, gid int, want uint32, add func(Sample), listening chan<- error) error {
	type repeat struct {
		start time.Time
		buf   []byte
		end   time.Time
	}
	reps := make(chan repeat, 1)
	var cur repeat
	data, err := nc.Subscribe(prefix+"."+strconv.Itoa(gid), func(m *nats.Msg) {
		if cur.buf == nil && len(m.Data) == 8 {
			cur.start = time.Unix(0, int64(binary.LittleEndian.Uint64(m.Data)))
			cur.buf = make([]byte, 0, o.PayloadSize)
			if o.PayloadSize > 0 {
				return
			}
		} else {
			cur.buf = append(cur.buf, m.Data...)
		}
		if len(cur.buf) == o.PayloadSize {
			cur.end = time.Now()
			reps <- cur
			cur = repeat{}
		}
	})
	if err != nil {
		listening <- err
		return err
	}
	defer data.Unsubscribe()
	data.SetPendingLimits(-1, -1)
	ready, err := nc.Subscribe(prefix+".ready."+strconv.Itoa(gid), func(m *nats.Msg) { m.Respond(nil) })
	if err != nil {
		listening <- err
		return err
	}
	defer ready.Unsubscribe()
	listening <- nc.Flush()
	for rep := -o.Warmup; rep < o.Repeat; rep++ {
		select {
		case r := <-reps:
			if crc32.ChecksumIEEE(r.buf) != want {
				return fmt.Errorf("raw: group %d received damaged data", gid)
			}
			if rep >= 0 {
				add(sampleOf(o, gid, gid, rep, len(r.buf), r.start, r.end))
			}
			if err := nc.Publish(prefix+".done", nil); err != nil {
				return err
			}
		case <-ctx.Done():
			return fmt.Errorf("raw: group %d waiting for data: %w", gid, ctx.Err())
		}
	}
	return nil
}

func rawPublish(ctx context.Context, o Options, nc *nats.Conn, prefix string, add func(Sample)) error {
	done := make(chan struct{}, o.Groups)
	sub, err := nc.Subscribe(prefix+".done", func(*nats.Msg) { done <- struct{}{} })
	if err != nil {
		return err
	}
	defer sub.Unsubscribe()
	for gid := 1; gid < o.Groups; gid++ {
		if _, err := awaitReady(ctx, nc, prefix+".ready."+strconv.Itoa(gid), gid); err != nil {
			return fmt.Errorf("raw: %w", err)
		}
	}
	payload := pattern(o.PayloadSize, 0)
	begin := make([]byte, 8)
	for rep := -o.Warmup; rep < o.Repeat; rep++ {
		start := time.Now()
		binary.LittleEndian.PutUint64(begin, uint64(start.UnixNano()))
		for gid := 1; gid < o.Groups; gid++ {
			subj := prefix + "." + strconv.Itoa(gid)
			if err := nc.Publish(subj, begin); err != nil {
				return err
			}
			for lo := 0; lo < len(payload); lo += o.ChunkSize {
				if err := nc.Publish(subj, payload[lo:min(lo+o.ChunkSize, len(payload))]); err != nil {
					return err
				}
			}
		}
		for range o.Groups - 1 {
			select {
			case <-done:
			case <-ctx.Done():
				return fmt.Errorf("raw: waiting for receivers: %w", ctx.Err())
			}
		}
		if rep >= 0 {
			add(sampleOf(o, 0, 0, rep, o.PayloadSize*(o.Groups-1), start, time.Now()))
		}
	}
	return nil
}

// A collector gathers the samples of a baseline's groups, from their goroutines.
type collector struct {
	mu      sync.Mutex
	samples []Sample
}

func (c *collector) add(s Sample) {
	c.mu.Lock()
	c.samples = append(c.samples, s)
	c.mu.Unlock()
}

// report is what the groups measured, once every one has ended: the first error of
// errs, which the groups closed, else the samples summed up.
func (c *collector) report(o Options, groups []int, errs <-chan error) (*Report, error) {
	for err := range errs {
		if err != nil {
			return nil, err
		}
	}
	r := &Report{Options: o, Samples: c.samples}
	r.summarise(groups)
	return r, nil
}

// awaitReady asks subject until a receiver answers, as a baseline's sender does of
// each group before it starts: the other processes may not listen yet.
func awaitReady(ctx context.Context, nc *nats.Conn, subject string, gid int) (*nats.Msg, error) {
	for {
		rctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		m, err := nc.RequestWithContext(rctx, subject, nil)
		cancel()
		if err == nil {
			return m, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("group %d never answered: %w", gid, ctx.Err())
		}
		if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrNoResponders) {
			return nil, err
		}
		time.Sleep(10 * time.Millisecond)
	}
}
