package datasets

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
)

// benchSize is the dataset the read benchmarks read: 1 GiB, or BURST_BENCH_DATASET_MIB.
func benchSize(b *testing.B) int64 {
	if s := os.Getenv("BURST_BENCH_DATASET_MIB"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			b.Fatal(err)
		}
		return n << 20
	}
	return 1 << 30
}

// patterned fills a reader of n bytes that are not all alike, without holding them.
type patterned struct{ left, at int64 }

func (p *patterned) Read(b []byte) (int, error) {
	if p.left == 0 {
		return 0, io.EOF
	}
	n := int(min(int64(len(b)), p.left))
	for i := range b[:n] {
		b[i] = byte((p.at + int64(i)) * 2654435761 >> 13)
	}
	p.left -= int64(n)
	p.at += int64(n)
	return n, nil
}

// readParts reads [0, size) of r in parts, one goroutine each, as the workers of a
// flare read their byte ranges.
func readParts(b *testing.B, readers []io.ReaderAt, size int64) {
	var wg sync.WaitGroup
	parts := len(readers)
	for p, r := range readers {
		wg.Go(func() {
			lo, hi := size*int64(p)/int64(parts), size*int64(p+1)/int64(parts)
			buf := make([]byte, 8<<20)
			for off := lo; off < hi; off += int64(len(buf)) {
				n := min(int64(len(buf)), hi-off)
				if _, err := r.ReadAt(buf[:n], off); err != nil && err != io.EOF {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// BenchmarkDatasetRead reads a 1 GiB dataset by 8 workers, each its eighth, from the
// JetStream of an embedded server (each worker over a connection of its own, or all 8
// over one, as the workers of one pack share their flare's), against the same bytes
// read from a local file (the baseline; the page cache holds it after the first read).
// Put stores the dataset, once.
func BenchmarkDatasetRead(b *testing.B) {
	size := benchSize(b)
	srv := newServer(b)
	nc := connect(b, srv)
	s := newStore(b, nc, 0)
	ctx := context.Background()
	b.Run("put", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			if _, err := s.Put(ctx, "bench", "data", &patterned{left: size}, size, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	path := filepath.Join(b.TempDir(), "data")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(f, &patterned{left: size}); err != nil {
		b.Fatal(err)
	}
	f.Close()
	const workers = 8
	b.Run(fmt.Sprintf("file/workers=%d", workers), func(b *testing.B) {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		readers := make([]io.ReaderAt, workers)
		for i := range readers {
			readers[i] = f
		}
		b.SetBytes(size)
		for b.Loop() {
			readParts(b, readers, size)
		}
	})
	for _, conns := range []int{1, workers} {
		b.Run(fmt.Sprintf("dataset/workers=%d/conns=%d", workers, conns), func(b *testing.B) {
			ncs := make([]*Conn, conns)
			for i := range ncs {
				ncs[i] = NewConn(connect(b, srv))
			}
			readers := make([]io.ReaderAt, workers)
			for i := range readers {
				r, err := Open(ctx, ncs[i%conns], "bench", "data")
				if err != nil {
					b.Fatal(err)
				}
				readers[i] = r
			}
			b.SetBytes(size)
			for b.Loop() {
				readParts(b, readers, size)
			}
		})
	}
}
