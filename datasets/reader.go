package datasets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// A Conn is a NATS connection that readers share, with a bound on the chunks they
// have asked for on it and not yet received. Unbounded, eight workers of a pack reading
// at once had 64 MiB of answers on their way to one connection: over a NATS server's
// default pending limit for a client (64 MiB; Burst's embedded servers allow 1 GiB),
// past which it closes the connection as a slow consumer, and the gets in flight were
// never answered.
type Conn struct {
	nc       *nats.Conn
	slots    chan struct{}
	askAgain time.Duration // after which an unanswered get is asked again
	busy     atomic.Int64  // gets in flight
	peak     atomic.Int64  // the most at once, for tests
}

// ConnInFlight bounds the chunks in flight on one Conn.
const ConnInFlight = 16

// NewConn returns nc for readers to share. Make one per connection: two over one
// connection could have twice the chunks in flight.
func NewConn(nc *nats.Conn) *Conn {
	return &Conn{nc: nc, slots: make(chan struct{}, ConnInFlight), askAgain: askAgain}
}

// A Reader reads a stored dataset by byte range: ReadAt fetches the chunks that hold
// the range and no others, each by a direct get of its subject, which the nearest
// server holding a copy of the stream answers. It is safe for concurrent use.
type Reader struct {
	ctx  context.Context // the opener's: reads end with it
	conn *Conn
	info Info

	mu          sync.Mutex
	cached      int64 // the index of the chunk last read, or -1
	cachedBytes []byte
}

// getTimeout bounds one direct get, asked again every askAgain it goes unanswered:
// the copies of the stream answer a direct get as a queue group, and a request the
// server handed to a copy whose host has just gone (its route not yet known dead, or
// the local copy catching up after a new leader) is lost, not refused.
const (
	getTimeout = 30 * time.Second
	askAgain   = 2 * time.Second
)

// fetchers bounds the direct gets one ReadAt has in flight.
const fetchers = 8

// Open opens dataset name of namespace ns over c, whose permissions must allow
// ReadPermission(ns). ErrNotFound says there is no such dataset. The reader's reads
// end when ctx does (io.ReaderAt takes no context of its own).
func Open(ctx context.Context, c *Conn, ns, name string) (*Reader, error) {
	data, err := c.get(ctx, manifestSubject(ns, name))
	if err != nil {
		return nil, fmt.Errorf("datasets: open %s: %w", name, err)
	}
	r := &Reader{ctx: ctx, conn: c, cached: -1}
	if err := json.Unmarshal(data, &r.info); err != nil {
		return nil, fmt.Errorf("datasets: manifest of %s: %w", name, err)
	}
	if r.info.ChunkSize < 1 || r.info.Size < 0 {
		return nil, fmt.Errorf("datasets: manifest of %s: chunk size %d, size %d", name, r.info.ChunkSize, r.info.Size)
	}
	return r, nil
}

// Info returns the dataset's manifest.
func (r *Reader) Info() Info { return r.info }

// Size returns the dataset's size in bytes.
func (r *Reader) Size() int64 { return r.info.Size }

// Name names the dataset for errors.
func (r *Reader) Name() string { return "dataset " + r.info.Name }

// ID identifies the bytes read: the version of the dataset, which an upload of the
// same name replaces.
func (r *Reader) ID() string { return r.info.Version }

// ReadAt reads len(p) bytes at off, as io.ReaderAt does. A chunk removed meanwhile (the
// dataset replaced or deleted while it is read) is an error.
func (r *Reader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("datasets: %s: negative offset %d", r.info.Name, off)
	}
	if off >= r.info.Size {
		return 0, io.EOF
	}
	end := min(off+int64(len(p)), r.info.Size)
	cs := int64(r.info.ChunkSize)
	first, last := off/cs, (end-1)/cs
	var (
		wg    sync.WaitGroup
		errMu sync.Mutex
		err   error
		slots = make(chan struct{}, fetchers)
	)
	for i := first; i <= last; i++ {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			chunk, cerr := r.chunk(i)
			if cerr != nil {
				errMu.Lock()
				err = cmpErr(err, cerr)
				errMu.Unlock()
				return
			}
			// The part of [off, end) that chunk i holds.
			lo, hi := max(off, i*cs), min(end, (i+1)*cs)
			copy(p[lo-off:hi-off], chunk[lo-i*cs:hi-i*cs])
			if i == last {
				// What a reader going on from here reads next.
				r.mu.Lock()
				r.cached, r.cachedBytes = i, chunk
				r.mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err != nil {
		return 0, err
	}
	n := int(end - off)
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// cmpErr keeps the first error.
func cmpErr(first, next error) error {
	if first != nil {
		return first
	}
	return next
}

// chunk returns chunk i, from the cache when it was the last of the read before: reads
// in a row take each chunk once.
func (r *Reader) chunk(i int64) ([]byte, error) {
	r.mu.Lock()
	if r.cached == i {
		b := r.cachedBytes
		r.mu.Unlock()
		return b, nil
	}
	r.mu.Unlock()
	b, err := r.conn.get(r.ctx, chunkSubject(r.info.Namespace, r.info.Name, r.info.Version, i))
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("datasets: %s: chunk %d is gone: the dataset was replaced or deleted while being read", r.info.Name, i)
	}
	if err != nil {
		return nil, fmt.Errorf("datasets: %s: chunk %d: %w", r.info.Name, i, err)
	}
	if err := r.info.checkChunk(i, len(b)); err != nil {
		return nil, err
	}
	return b, nil
}

// notFoundTries and notFoundWait: a 404 is asked again, since with replicas a
// follower that has not yet applied the newest messages may answer.
const (
	notFoundTries = 5
	notFoundWait  = 200 * time.Millisecond
)

// get asks for the last message of subject in the stream, by a direct get, asking
// again after a 404 (notFoundTries in all).
func (c *Conn) get(ctx context.Context, subject string) ([]byte, error) {
	for try := 1; ; try++ {
		b, err := c.getOnce(ctx, subject)
		if !errors.Is(err, ErrNotFound) || try == notFoundTries {
			return b, err
		}
		select {
		case <-time.After(notFoundWait):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// getOnce asks once a slot of the connection is free, and waits at most getTimeout for
// an answer, asking again every c.askAgain.
func (c *Conn) getOnce(parent context.Context, subject string) ([]byte, error) {
	select {
	case c.slots <- struct{}{}:
	case <-parent.Done():
		return nil, parent.Err()
	}
	defer func() { <-c.slots }()
	n := c.busy.Add(1)
	defer c.busy.Add(-1)
	for p := c.peak.Load(); n > p && !c.peak.CompareAndSwap(p, n); p = c.peak.Load() {
	}
	ctx, cancel := context.WithTimeout(parent, getTimeout)
	defer cancel()
	var m *nats.Msg
	var err error
	for m == nil {
		try, cancelTry := context.WithTimeout(ctx, c.askAgain)
		m, err = c.nc.RequestWithContext(try, directGet+subject, nil)
		cancelTry()
		if errors.Is(err, nats.ErrNoResponders) {
			return nil, fmt.Errorf("no datasets stream (%w)", err)
		}
		if errors.Is(err, context.DeadlineExceeded) && parent.Err() == nil {
			if ctx.Err() == nil {
				continue // unanswered: ask again
			}
			// A connection not allowed to ask is not told so: its request goes unanswered.
			return nil, fmt.Errorf("no answer within %s (is this connection allowed to read the namespace's datasets?)", getTimeout)
		}
		if err != nil {
			return nil, err
		}
	}
	switch status := m.Header.Get("Status"); status {
	case "":
		return m.Data, nil
	case "404":
		return nil, ErrNotFound
	default:
		return nil, fmt.Errorf("direct get: status %s %s", status, m.Header.Get("Description"))
	}
}
