package bench

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"sync"
	"time"
	"unsafe"

	"github.com/burstgo/burst/comm"
)

// pattern is rank r's payload: n bytes that differ from every other rank's, so data
// delivered to the wrong place fails the check.
func pattern(n, r int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i) ^ byte(i>>8) ^ byte(r*37+11)
	}
	return b
}

// expectation holds what rank r's payload hashes to, worked out once, when first
// needed: a broadcast of 256 MiB to 192 workers checks against rank 0's only.
type expectation struct {
	size int
	once []sync.Once
	crc  []uint32 // crc[r] = crc32 of pattern(size, r)
	seen sync.Map // of checked
}

func newExpectation(o Options) *expectation {
	return &expectation{size: o.PayloadSize, once: make([]sync.Once, o.BurstSize), crc: make([]uint32, o.BurstSize)}
}

func (e *expectation) check(what string, rep int, got []byte, size, r int) error {
	if len(got) != size {
		return fmt.Errorf("%s: %d bytes from rank %d, want %d", what, len(got), r, size)
	}
	e.once[r].Do(func() { e.crc[r] = crc32.ChecksumIEEE(pattern(e.size, r)) })
	// Workers of a pack receive the very same bytes: check them once per repeat. The key
	// holds the address, not a pointer, so the map keeps no buffer alive; a false match
	// would need a checked buffer freed, and another of the same size from the same rank
	// allocated at its address, within one repeat.
	var key checked
	if len(got) > 0 {
		key = checked{uintptr(unsafe.Pointer(unsafe.SliceData(got))), len(got), r, rep}
		if _, ok := e.seen.Load(key); ok {
			return nil
		}
	}
	if crc32.ChecksumIEEE(got) != e.crc[r] {
		return fmt.Errorf("%s: data from rank %d has the wrong checksum", what, r)
	}
	if len(got) > 0 {
		e.seen.Store(key, true)
	}
	return nil
}

// checked names bytes already found right.
type checked struct {
	addr uintptr
	len  int
	rank int
	rep  int
}

// alltoallPart is what rank s sends rank d in all-to-all: the payload split in N parts.
func alltoallPart(o Options, s, d int) []byte {
	return pattern(o.PayloadSize/o.BurstSize, s*o.BurstSize+d)
}

// runWorker times the benchmark on one worker over the warm-up and the repeats, each
// started together by a barrier, and checks every result after its clock stops.
func runWorker(ctx context.Context, o Options, e *expectation, w *comm.Worker) ([]Sample, error) {
	r, n := w.Rank(), w.Size()
	var mine []byte // this worker's payload, made only where the benchmark sends it
	switch {
	case o.Benchmark == "pair" && r < n/2, o.Benchmark == "broadcast" && r == 0,
		o.Benchmark == "gather", o.Benchmark == "allgather":
		mine = pattern(o.PayloadSize, r)
	}
	var parts [][]byte
	switch o.Benchmark {
	case "scatter":
		if r == 0 {
			for d := range n {
				parts = append(parts, pattern(o.PayloadSize, d))
			}
		}
	case "all-to-all":
		for d := range n {
			parts = append(parts, alltoallPart(o, r, d))
		}
	}
	var floats []float64
	if o.Benchmark == "reduce" || o.Benchmark == "allreduce" {
		floats = make([]float64, o.PayloadSize/8)
		for i := range floats {
			floats[i] = float64(r + 1)
		}
	}
	want := float64(n*(n+1)) / 2 // the sum of r+1 over all ranks

	var samples []Sample
	for rep := -o.Warmup; rep < o.Repeat; rep++ {
		if err := w.Barrier(ctx); err != nil {
			return nil, err
		}
		start := time.Now()
		var moved int
		var check func() error
		switch o.Benchmark {
		case "pair":
			half := n / 2
			if r < half {
				if err := w.Send(ctx, r+half, mine); err != nil {
					return nil, err
				}
				moved = len(mine)
				break
			}
			got, err := w.Recv(ctx, r-half)
			if err != nil {
				return nil, err
			}
			moved = len(got)
			check = func() error { return e.check("pair", rep, got, o.PayloadSize, r-half) }
		case "broadcast":
			got, err := w.Broadcast(ctx, 0, mine)
			if err != nil {
				return nil, err
			}
			moved = len(got)
			check = func() error { return e.check("broadcast", rep, got, o.PayloadSize, 0) }
		case "scatter":
			got, err := w.Scatter(ctx, 0, parts)
			if err != nil {
				return nil, err
			}
			moved = len(got)
			check = func() error { return e.check("scatter", rep, got, o.PayloadSize, r) }
		case "gather":
			got, err := w.Gather(ctx, 0, mine)
			if err != nil {
				return nil, err
			}
			moved = len(mine)
			if r == 0 {
				moved = n * o.PayloadSize
				check = func() error { return checkAll(e, "gather", rep, got, o.PayloadSize) }
			}
		case "allgather":
			got, err := w.AllGather(ctx, mine)
			if err != nil {
				return nil, err
			}
			moved = n * o.PayloadSize
			check = func() error { return checkAll(e, "allgather", rep, got, o.PayloadSize) }
		case "all-to-all":
			got, err := w.AllToAll(ctx, parts)
			if err != nil {
				return nil, err
			}
			moved = o.PayloadSize / n * n
			check = func() error {
				for s, p := range got {
					if !bytes.Equal(p, alltoallPart(o, s, r)) {
						return fmt.Errorf("all-to-all: wrong part from rank %d", s)
					}
				}
				return nil
			}
		case "reduce", "allreduce":
			var got []float64
			var err error
			if o.Benchmark == "reduce" {
				got, err = comm.ReduceSlice(ctx, w, 0, floats, comm.Sum[float64])
			} else {
				got, err = comm.AllReduceSlice(ctx, w, floats, comm.Sum[float64])
			}
			if err != nil {
				return nil, err
			}
			moved = o.PayloadSize
			if got != nil {
				check = func() error { return checkSum(o.Benchmark, got, len(floats), want) }
			}
		case "barrier":
			if err := w.Barrier(ctx); err != nil {
				return nil, err
			}
		}
		end := time.Now()
		if o.Benchmark == "pair" {
			// The barrier releases ranks at slightly different times, and a receiver that
			// leaves it late may find the data already there: its clock starts at the
			// sender's start, which the sender tells it after the timed part.
			var err error
			if start, err = pairStart(ctx, w, start); err != nil {
				return nil, err
			}
		}
		// Checks run once every worker has stopped its clock, so that none is timed
		// while another hashes on the same cores.
		if err := w.Barrier(ctx); err != nil {
			return nil, err
		}
		if check != nil {
			if err := check(); err != nil {
				return nil, err
			}
		}
		if rep >= 0 {
			samples = append(samples, newSample(o, w, rep, moved, start, end))
		}
	}
	// No group leaves before all are done, so none closes what a peer still reads from:
	// once rank 0 has every group's part of this gather, every group has finished the
	// barrier above and needs nothing more, and group 0 may end the flare's stream.
	if err := w.Barrier(ctx); err != nil {
		return nil, err
	}
	_, err := w.Gather(ctx, 0, nil)
	return samples, err
}

func pairStart(ctx context.Context, w *comm.Worker, start time.Time) (time.Time, error) {
	half := w.Size() / 2
	if w.Rank() < half {
		return start, w.Send(ctx, w.Rank()+half, binary.LittleEndian.AppendUint64(nil, uint64(start.UnixNano())))
	}
	b, err := w.Recv(ctx, w.Rank()-half)
	if err != nil || len(b) != 8 {
		return start, fmt.Errorf("pair: the sender's start time: %v", err)
	}
	if sent := time.Unix(0, int64(binary.LittleEndian.Uint64(b))); sent.Before(start) {
		return sent, nil
	}
	return start, nil
}

func checkAll(e *expectation, what string, rep int, got [][]byte, size int) error {
	for s, p := range got {
		if err := e.check(what, rep, p, size, s); err != nil {
			return err
		}
	}
	return nil
}

func checkSum(what string, got []float64, n int, want float64) error {
	if len(got) != n {
		return fmt.Errorf("%s: %d values, want %d", what, len(got), n)
	}
	for i, v := range got {
		if v != want {
			return fmt.Errorf("%s: element %d = %v, want %v", what, i, v, want)
		}
	}
	return nil
}
