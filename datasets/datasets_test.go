package datasets

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// newServer starts a NATS server with JetStream for one test. (Package cluster would
// do, but it imports this package through control.)
func newServer(t testing.TB) *server.Server {
	t.Helper()
	// The payload limit of Burst's embedded servers.
	srv, err := server.NewServer(&server.Options{Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true, MaxPayload: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS server not ready")
	}
	t.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	return srv
}

func connect(t testing.TB, srv *server.Server) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// newStore makes a store of small chunks, so that a few KiB span many of them.
func newStore(t testing.TB, nc *nats.Conn, chunk int) *Store {
	t.Helper()
	s, err := NewStore(context.Background(), nc, StoreOptions{ChunkSize: chunk})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// messages counts the stream's messages.
func messages(t *testing.T, s *Store) uint64 {
	t.Helper()
	info, err := s.stream.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

func TestPutRead(t *testing.T) {
	ctx := context.Background()
	nc := connect(t, newServer(t))
	s := newStore(t, nc, 1000)
	data := randomBytes(10_500, 1)
	var seen []int64
	info, err := s.Put(ctx, "ns", "blob", bytes.NewReader(data), 1<<20, func(n int64) { seen = append(seen, n) })
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	if info.Size != int64(len(data)) || info.SHA256 != hex.EncodeToString(sum[:]) || info.ChunkSize != 1000 || info.Name != "blob" || info.Namespace != "ns" {
		t.Fatalf("info %+v", info)
	}
	if len(seen) == 0 || seen[len(seen)-1] != info.Size || !slices.IsSorted(seen) {
		t.Errorf("progress %v, want rising to %d", seen, info.Size)
	}
	if n := messages(t, s); n != 11+1 {
		t.Errorf("%d messages in the stream, want 11 chunks and a manifest", n)
	}
	if got, err := s.Info(ctx, "ns", "blob"); err != nil || got != info {
		t.Errorf("Info: %+v %v, want %+v", got, err, info)
	}
	var whole bytes.Buffer
	if n, err := s.WriteTo(ctx, info, &whole); err != nil || n != int64(len(data)) || !bytes.Equal(whole.Bytes(), data) {
		t.Errorf("WriteTo: %d bytes, %v; same bytes: %v", n, err, bytes.Equal(whole.Bytes(), data))
	}

	r, err := Open(ctx, NewConn(nc), "ns", "blob")
	if err != nil {
		t.Fatal(err)
	}
	if r.Size() != int64(len(data)) || r.Name() != "dataset blob" {
		t.Errorf("size %d, name %q", r.Size(), r.Name())
	}
	tests := []struct {
		off, n int64
		want   int64
		err    error
	}{
		{0, 10, 10, nil},
		{995, 10, 10, nil},          // across two chunks
		{999, 3002, 3002, nil},      // across five
		{0, 10_500, 10_500, nil},    // all of it
		{10_000, 500, 500, nil},     // the short last chunk
		{10_400, 200, 100, io.EOF},  // past the end
		{10_500, 1, 0, io.EOF},      // at the end
		{3000, 1000, 1000, nil},     // exactly one chunk
		{2999, 1002, 1002, nil},     // a byte either side of it
		{5000, 0, 0, nil},           // nothing
		{12_000, 10, 0, io.EOF},     // beyond
		{10_499, 1, 1, nil},         // the last byte
		{1, 10_499, 10_499, nil},    // all but the first
		{8277, 2223, 2223, nil},     // to the end exactly
		{8277, 2224, 2223, io.EOF},  // one over
		{1234, 4321, 4321, nil},     // anywhere
		{9999, 1, 1, nil},           // a chunk's last byte
		{10_000, 1, 1, nil},         // the next chunk's first
		{0, 1, 1, nil},              // the first byte
		{4500, 5000, 5000, nil},     // the middle
		{10_001, 499, 499, nil},     // the rest of the last chunk
		{10_001, 600, 499, io.EOF},  // and over
		{2000, 8500, 8500, nil},     // to the end
		{8000, 3000, 2500, io.EOF},  // over the end
		{6000, 1, 1, nil},           // one byte
		{6000, 2000, 2000, nil},     // two chunks exactly
		{6001, 1998, 1998, nil},     // inside two chunks
		{6500, 2500, 2500, nil},     // three chunks in part
		{0, 20_000, 10_500, io.EOF}, // a larger buffer
	}
	for _, tt := range tests {
		p := make([]byte, tt.n)
		n, err := r.ReadAt(p, tt.off)
		if int64(n) != tt.want || err != tt.err {
			t.Errorf("ReadAt(%d bytes at %d) = %d, %v; want %d, %v", tt.n, tt.off, n, err, tt.want, tt.err)
			continue
		}
		if tt.off < int64(len(data)) && !bytes.Equal(p[:n], data[tt.off:tt.off+int64(n)]) {
			t.Errorf("ReadAt(%d bytes at %d): wrong bytes", tt.n, tt.off)
		}
	}
	if _, err := r.ReadAt(make([]byte, 1), -1); err == nil {
		t.Error("a negative offset was read")
	}
	// Many readers at once, of random ranges.
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			rnd := rand.New(rand.NewPCG(uint64(g), 2))
			for range 50 {
				off := rnd.Int64N(int64(len(data)))
				p := make([]byte, rnd.Int64N(int64(len(data))-off)+1)
				if n, err := r.ReadAt(p, off); err != nil || !bytes.Equal(p[:n], data[off:off+int64(n)]) || n != len(p) {
					t.Errorf("concurrent ReadAt(%d at %d): %d, %v", len(p), off, n, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// A worker reading its byte range asks for the chunks that hold it and no others:
// seen by a subscriber to every direct get of the stream.
func TestReadOnlyTheRange(t *testing.T) {
	ctx := context.Background()
	srv := newServer(t)
	nc := connect(t, srv)
	s := newStore(t, nc, 1000)
	if _, err := s.Put(ctx, "ns", "blob", bytes.NewReader(randomBytes(20_000, 2)), 1<<20, nil); err != nil {
		t.Fatal(err)
	}
	spy := connect(t, srv)
	asked := make(chan string, 100)
	sub, err := spy.Subscribe(directGet+">", func(m *nats.Msg) { asked <- strings.TrimPrefix(m.Subject, directGet) })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	spy.Flush()
	r, err := Open(ctx, NewConn(nc), "ns", "blob")
	if err != nil {
		t.Fatal(err)
	}
	// Part 3 of 8 of 20,000 bytes is [7500, 10000): chunks 7, 8 and 9.
	if _, err := r.ReadAt(make([]byte, 2500), 7500); err != nil {
		t.Fatal(err)
	}
	nc.Flush()
	spy.Flush()
	var got []string
	for len(got) < 4 {
		select {
		case s := <-asked:
			got = append(got, s)
		case <-time.After(5 * time.Second):
			t.Fatalf("saw only %v", got)
		}
	}
	select {
	case s := <-asked:
		got = append(got, s)
	case <-time.After(200 * time.Millisecond):
	}
	slices.Sort(got)
	v := r.Info().Version
	want := []string{"burst.data.ns.blob", "burst.data.ns.blob." + v + ".7", "burst.data.ns.blob." + v + ".8", "burst.data.ns.blob." + v + ".9"}
	if !slices.Equal(got, want) {
		t.Errorf("direct gets %v, want %v", got, want)
	}
}

func TestReplaceAndDelete(t *testing.T) {
	ctx := context.Background()
	nc := connect(t, newServer(t))
	s := newStore(t, nc, 1000)
	old := randomBytes(5000, 3)
	if _, err := s.Put(ctx, "ns", "d", bytes.NewReader(old), 1<<20, nil); err != nil {
		t.Fatal(err)
	}
	other := randomBytes(1500, 4)
	if _, err := s.Put(ctx, "ns", "other", bytes.NewReader(other), 1<<20, nil); err != nil {
		t.Fatal(err)
	}
	reading, err := Open(ctx, NewConn(nc), "ns", "d")
	if err != nil {
		t.Fatal(err)
	}
	new := randomBytes(2500, 5)
	info, err := s.Put(ctx, "ns", "d", bytes.NewReader(new), 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The old chunks are gone: 3 + 2 chunks and 2 manifests remain.
	if n := messages(t, s); n != 7 {
		t.Errorf("%d messages after the replacement, want 7", n)
	}
	if _, err := reading.ReadAt(make([]byte, 10), 0); err == nil || !strings.Contains(err.Error(), "replaced or deleted") {
		t.Errorf("a reader of the replaced version: %v", err)
	}
	r, err := Open(ctx, NewConn(nc), "ns", "d")
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, r.Size())
	if _, err := r.ReadAt(got, 0); err != nil || !bytes.Equal(got, new) || r.Info() != info {
		t.Errorf("the new version: %v, same bytes %v", err, bytes.Equal(got, new))
	}
	list, err := s.List(ctx, "ns")
	if err != nil || len(list) != 2 || list[0].Name != "d" || list[1].Name != "other" || list[0].Size != 2500 {
		t.Errorf("List: %+v %v", list, err)
	}
	if list, err := s.List(ctx, "elsewhere"); err != nil || len(list) != 0 {
		t.Errorf("List of another namespace: %+v %v", list, err)
	}

	if deleted, err := s.Delete(ctx, "ns", "d"); err != nil || deleted != info {
		t.Fatalf("Delete: %+v %v", deleted, err)
	}
	if _, err := s.Info(ctx, "ns", "d"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Info after Delete: %v", err)
	}
	if _, err := Open(ctx, NewConn(nc), "ns", "d"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Open after Delete: %v", err)
	}
	if _, err := s.Delete(ctx, "ns", "d"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Delete twice: %v", err)
	}
	if n := messages(t, s); n != 3 {
		t.Errorf("%d messages after the delete, want the other's 3", n)
	}
	if r, err := Open(ctx, NewConn(nc), "ns", "other"); err != nil || r.Size() != 1500 {
		t.Errorf("the other dataset after the delete: %v", err)
	}
}

// An upload over its bound, or cut short, keeps nothing, and leaves the dataset it
// would have replaced as it was.
func TestPutFails(t *testing.T) {
	ctx := context.Background()
	nc := connect(t, newServer(t))
	s := newStore(t, nc, 1000)
	data := randomBytes(3000, 6)
	want, err := s.Put(ctx, "ns", "d", bytes.NewReader(data), 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	before := messages(t, s)
	if _, err := s.Put(ctx, "ns", "d", bytes.NewReader(randomBytes(40_000, 7)), 20_000, nil); !errors.Is(err, ErrTooLarge) {
		t.Errorf("over the bound: %v", err)
	}
	cut := io.MultiReader(bytes.NewReader(randomBytes(5000, 8)), errReader{errors.New("connection reset")})
	if _, err := s.Put(ctx, "ns", "d", cut, 1<<20, nil); err == nil || !strings.Contains(err.Error(), "connection reset") {
		t.Errorf("cut short: %v", err)
	}
	// net/http's body that ends before its Content-Length says io.ErrUnexpectedEOF: an
	// error too, not the end of the data.
	short := io.MultiReader(bytes.NewReader(randomBytes(5500, 8)), errReader{io.ErrUnexpectedEOF})
	if _, err := s.Put(ctx, "ns", "d", short, 1<<20, nil); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("a body ended early: %v", err)
	}
	if n := messages(t, s); n != before {
		t.Errorf("%d messages after the failed uploads, want %d", n, before)
	}
	if got, err := s.Info(ctx, "ns", "d"); err != nil || got != want {
		t.Errorf("the dataset after the failed uploads: %+v %v", got, err)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// Of two uploads of one name at once, the one that ends second fails and keeps nothing.
func TestPutConflict(t *testing.T) {
	ctx := context.Background()
	nc := connect(t, newServer(t))
	s := newStore(t, nc, 1000)
	pr, pw := io.Pipe()
	slow := make(chan error, 1)
	go func() {
		_, err := s.Put(ctx, "ns", "d", pr, 1<<20, nil)
		slow <- err
	}()
	if _, err := pw.Write(randomBytes(2500, 9)); err != nil {
		t.Fatal(err)
	}
	fast := randomBytes(1200, 10)
	want, err := s.Put(ctx, "ns", "d", bytes.NewReader(fast), 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if err := <-slow; !errors.Is(err, ErrConflict) {
		t.Errorf("the upload that ended second: %v", err)
	}
	if got, err := s.Info(ctx, "ns", "d"); err != nil || got != want {
		t.Errorf("after the conflict: %+v %v, want %+v", got, err, want)
	}
	if n := messages(t, s); n != 3 {
		t.Errorf("%d messages, want the winner's 2 chunks and manifest", n)
	}
}

func TestNewStoreChunkSize(t *testing.T) {
	nc := connect(t, newServer(t))
	s, err := NewStore(context.Background(), nc, StoreOptions{})
	if err != nil || s.chunk != DefaultChunkSize {
		t.Errorf("the default chunk under an 8 MiB payload limit: %v %v", s, err)
	}
	for _, size := range []int{-1, int(nc.MaxPayload())} {
		if _, err := NewStore(context.Background(), nc, StoreOptions{ChunkSize: size}); err == nil {
			t.Errorf("chunk size %d taken", size)
		}
	}
}

// Under a server's default payload limit of 1 MiB, the default chunk halves to fit.
func TestChunkFitsPayload(t *testing.T) {
	srv, err := server.NewServer(&server.Options{Port: -1, JetStream: true, StoreDir: t.TempDir(), NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	defer srv.Shutdown()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("not ready")
	}
	nc := connect(t, srv)
	s, err := NewStore(context.Background(), nc, StoreOptions{})
	if err != nil || s.chunk != DefaultChunkSize/2 {
		t.Fatalf("chunk %v, %v; want %d", s, err, DefaultChunkSize/2)
	}
	data := randomBytes(3<<20, 12)
	if _, err := s.Put(context.Background(), "ns", "d", bytes.NewReader(data), 4<<20, nil); err != nil {
		t.Fatal(err)
	}
	r, err := Open(context.Background(), NewConn(nc), "ns", "d")
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(data))
	if _, err := r.ReadAt(got, 0); err != nil || !bytes.Equal(got, data) {
		t.Errorf("read back: %v", err)
	}
}

// Readers sharing one connection keep at most ConnInFlight chunks in flight on it:
// sixteen workers asking for 8 MiB each at once would otherwise have 128 MiB of answers
// on their way to it, over the server's pending limit for a client (see Conn).
func TestManyReadersOneConn(t *testing.T) {
	ctx := context.Background()
	srv := newServer(t)
	s := newStore(t, connect(t, srv), 0)
	const workers, part = 16, 8 << 20
	data := randomBytes(workers*part, 13)
	if _, err := s.Put(ctx, "ns", "big", bytes.NewReader(data), int64(len(data)), nil); err != nil {
		t.Fatal(err)
	}
	conn := NewConn(connect(t, srv))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			r, err := Open(ctx, conn, "ns", "big")
			if err != nil {
				t.Error(err)
				return
			}
			got := make([]byte, part)
			if _, err := r.ReadAt(got, int64(w*part)); err != nil || !bytes.Equal(got, data[w*part:(w+1)*part]) {
				t.Errorf("worker %d: %v", w, err)
			}
		})
	}
	wg.Wait()
	if peak := conn.peak.Load(); peak != ConnInFlight {
		t.Errorf("%d gets in flight at most, want the bound, %d", peak, ConnInFlight)
	}
}

// A Delete removes the versions that began before the manifest it deletes, not those of
// an upload that began after: that one's chunks stay until it ends (here in a conflict,
// since the manifest it read is gone).
func TestDeleteKeepsNewerUploads(t *testing.T) {
	ctx := context.Background()
	nc := connect(t, newServer(t))
	s := newStore(t, nc, 1000)
	if _, err := s.Put(ctx, "ns", "d", bytes.NewReader(randomBytes(3000, 14)), 1<<20, nil); err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	slow := make(chan error, 1)
	go func() {
		_, err := s.Put(ctx, "ns", "d", pr, 1<<20, nil)
		slow <- err
	}()
	if _, err := pw.Write(randomBytes(2500, 15)); err != nil {
		t.Fatal(err)
	}
	// Chunks 0 and 1 of the upload are stored once a third is asked for.
	deadline := time.Now().Add(10 * time.Second)
	for messages(t, s) != 3+1+2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d messages, want the dataset's 4 and the upload's first 2", messages(t, s))
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := s.Delete(ctx, "ns", "d"); err != nil {
		t.Fatal(err)
	}
	if n := messages(t, s); n != 2 {
		t.Errorf("%d messages after the delete, want the upload's 2", n)
	}
	pw.Close()
	if err := <-slow; !errors.Is(err, ErrConflict) {
		t.Errorf("the upload whose manifest was deleted: %v", err)
	}
	if n := messages(t, s); n != 0 {
		t.Errorf("%d messages at the end, want none", n)
	}
}

// A direct get that goes unanswered is asked again: a copy of the stream whose host has
// just gone may have been handed the request, which is then lost, not refused.
func TestUnansweredGetAskedAgain(t *testing.T) {
	srv := newServer(t)
	var asked atomic.Int64
	responder := connect(t, srv)
	if _, err := responder.Subscribe(directGet+"x", func(m *nats.Msg) {
		if asked.Add(1) > 1 { // the first request is lost
			m.Respond([]byte("chunk"))
		}
	}); err != nil {
		t.Fatal(err)
	}
	responder.Flush()
	conn := NewConn(connect(t, srv))
	conn.askAgain = 50 * time.Millisecond
	b, err := conn.get(context.Background(), "x")
	if err != nil || string(b) != "chunk" {
		t.Fatalf("get: %q, %v", b, err)
	}
	if n := asked.Load(); n != 2 {
		t.Errorf("asked %d times, want 2", n)
	}
}
