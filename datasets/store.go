package datasets

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Stream is the JetStream stream that holds every dataset: a manifest and the chunks of
// each, under burst.data.<namespace>.<name>[.<version>.<chunk>].
const Stream = "BURST_DATASETS"

// DefaultChunkSize is the size of a chunk, but the last, of a dataset stored by a Store
// whose options give none.
const DefaultChunkSize = 1 << 20

// Errors of a Store.
var (
	ErrNotFound = errors.New("datasets: no such dataset")
	// ErrTooLarge is returned by Put for a body over its bound; nothing is kept of it.
	ErrTooLarge = errors.New("datasets: dataset too large")
	// ErrConflict is returned by Put when another Put of the same name finished first.
	ErrConflict = errors.New("datasets: replaced by another upload meanwhile")
)

// An Info describes a stored dataset: its manifest.
type Info struct {
	Namespace string    `json:"namespace"`
	Name      string    `json:"name"`
	Size      int64     `json:"size"`
	SHA256    string    `json:"sha256"`
	ChunkSize int       `json:"chunk_size"`
	Version   string    `json:"version"`
	Created   time.Time `json:"created"`
}

// chunks is the number of chunks of the dataset.
func (i Info) chunks() int64 { return (i.Size + int64(i.ChunkSize) - 1) / int64(i.ChunkSize) }

// manifestSubject holds the Info of dataset name of namespace ns.
func manifestSubject(ns, name string) string { return "burst.data." + ns + "." + name }

// chunkSubject holds chunk i of a version of a dataset: one subject per chunk, so that
// a reader gets any chunk by a direct get of the subject's message.
func chunkSubject(ns, name, version string, i int64) string {
	return manifestSubject(ns, name) + "." + version + "." + strconv.FormatInt(i, 10)
}

// ReadPermission is the subject a reader of namespace ns's datasets publishes on (its
// direct gets), for the NATS permissions of a flare of that namespace.
func ReadPermission(ns string) string { return directGet + "burst.data." + ns + ".>" }

// ReadAllPermission lets a connection read every namespace's datasets.
const ReadAllPermission = "$JS.API.DIRECT.GET." + Stream + ".>"

const directGet = "$JS.API.DIRECT.GET." + Stream + "."

// StoreOptions configure a Store.
type StoreOptions struct {
	// Replicas is the number of copies JetStream keeps of the stream; zero means one.
	Replicas int
	// ChunkSize is the size of the chunks of the datasets put; zero means
	// DefaultChunkSize, or less if the server's payload limit is under it. It must be
	// under that limit.
	ChunkSize int
}

// A Store keeps datasets in JetStream: Put, Info, List, Delete and WriteTo, for a
// gateway. Workers read them with Open.
type Store struct {
	js     jetstream.JetStream
	stream jetstream.Stream
	chunk  int
}

// inFlight bounds the chunks a Put has published and not yet seen stored, and
// maxPending those of every Put of a Store; a Put waits up to stallWait for room, and
// as long for a chunk to be acknowledged.
const (
	inFlight   = 16
	maxPending = 64
	stallWait  = 30 * time.Second
)

// NewStore makes or updates the stream of datasets over nc.
func NewStore(ctx context.Context, nc *nats.Conn, opts StoreOptions) (*Store, error) {
	chunk := opts.ChunkSize
	if chunk == 0 {
		// Halved until a chunk and its headers fit a message of the server's.
		chunk = DefaultChunkSize
		for chunk > 4<<10 && int64(chunk)+4<<10 > nc.MaxPayload() {
			chunk /= 2
		}
	}
	if chunk < 1 || int64(chunk)+4<<10 > nc.MaxPayload() {
		return nil, fmt.Errorf("datasets: chunk size %d, want 1 to the server's payload limit %d less 4 KiB", chunk, nc.MaxPayload())
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(maxPending), jetstream.WithPublishAsyncTimeout(stallWait))
	if err != nil {
		return nil, fmt.Errorf("datasets: %w", err)
	}
	stream, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        Stream,
		Description: "Burst datasets: a manifest and the chunks of each",
		Subjects:    []string{"burst.data.>"},
		Storage:     jetstream.FileStorage,
		Replicas:    max(opts.Replicas, 1),
		// A manifest subject keeps the latest; a chunk subject has one message anyway.
		MaxMsgsPerSubject: 1,
		AllowDirect:       true,
	})
	if err != nil {
		return nil, fmt.Errorf("datasets: stream %s: %w", Stream, err)
	}
	return &Store{js: js, stream: stream, chunk: chunk}, nil
}

// Put stores what r holds, up to limit bytes, as dataset name of namespace ns, in place
// of any dataset of that name once all of it is stored: a reader sees the old one or
// the new one, whole. progress, if not nil, is called with the bytes stored so far.
// Past limit it returns ErrTooLarge, and if another Put of the name ends first,
// ErrConflict; either way nothing of this one is kept, and the old dataset stays.
func (s *Store) Put(ctx context.Context, ns, name string, r io.Reader, limit int64, progress func(int64)) (Info, error) {
	_, prevSeq, err := s.manifest(ctx, ns, name)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Info{}, err
	}
	info := Info{Namespace: ns, Name: name, ChunkSize: s.chunk, Version: newVersion()}
	sum := sha256.New()
	var pending []jetstream.PubAckFuture
	settle := func() error {
		for _, f := range pending {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				return fmt.Errorf("datasets: store chunk: %w", err)
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		pending = pending[:0]
		return nil
	}
	fail := func(err error) (Info, error) {
		// The chunks stored so far go, once those on their way have landed; the
		// context may be why this failed.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		for _, f := range pending {
			select {
			case <-f.Ok():
			case <-f.Err():
			case <-ctx.Done():
			}
		}
		s.purge(ctx, chunkPrefix(ns, name, info.Version))
		return Info{}, err
	}
	for i := int64(0); ; i++ {
		buf := make([]byte, s.chunk)
		n, rerr := fill(r, buf)
		if n > 0 {
			if info.Size+int64(n) > limit {
				return fail(fmt.Errorf("%w: over %d bytes", ErrTooLarge, limit))
			}
			sum.Write(buf[:n])
			f, err := s.js.PublishAsync(chunkSubject(ns, name, info.Version, i), buf[:n], jetstream.WithStallWait(stallWait))
			if err != nil {
				return fail(fmt.Errorf("datasets: store chunk: %w", err))
			}
			pending = append(pending, f)
			info.Size += int64(n)
			if len(pending) == inFlight {
				if err := settle(); err != nil {
					return fail(err)
				}
				if progress != nil {
					progress(info.Size)
				}
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return fail(fmt.Errorf("datasets: read: %w", rerr))
		}
	}
	if err := settle(); err != nil {
		return fail(err)
	}
	if progress != nil {
		progress(info.Size)
	}
	info.SHA256 = hex.EncodeToString(sum.Sum(nil))
	info.Created = time.Now().UTC()
	manifest, err := json.Marshal(info)
	if err != nil {
		return fail(err)
	}
	// Once every chunk is stored, the upload finishes even if its caller has gone:
	// stopping between the manifest and the purges would leave either unsure.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()
	// Only over the manifest this Put read: a Put that ended meanwhile wins.
	ack, err := s.js.Publish(ctx, manifestSubject(ns, name), manifest, jetstream.WithExpectLastSequencePerSubject(prevSeq))
	var apiErr *jetstream.APIError
	switch {
	case errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant):
		return fail(ErrConflict)
	case err != nil:
		// No answer is not a no: the manifest may be stored. Only if it is not are
		// the chunks of no use.
		stored, seq, merr := s.manifest(ctx, ns, name)
		if merr != nil || stored.Version != info.Version {
			return fail(fmt.Errorf("datasets: store manifest: %w", err))
		}
		ack = &jetstream.PubAck{Sequence: seq}
	}
	// The versions before this one go, and with them what an upload cut short left.
	s.purgeVersions(ctx, ns, name, info.Version, ack.Sequence)
	return info, nil
}

// finishTimeout bounds the end of a Put (its manifest and purges) and of a Delete.
const finishTimeout = 30 * time.Second

// fill reads into buf until it is full or r ends: n < len(buf) only at the end (err
// io.EOF) or on r's error, which is returned as it came, io.ErrUnexpectedEOF too.
func fill(r io.Reader, buf []byte) (n int, err error) {
	for n < len(buf) {
		var k int
		k, err = r.Read(buf[n:])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// chunkPrefix is the subjects of every chunk of a version of a dataset.
func chunkPrefix(ns, name, version string) string {
	return manifestSubject(ns, name) + "." + version + ".>"
}

// purgeVersions removes the chunks of every version of a dataset but keep that began
// before keep's manifest, at sequence manifest: those it replaced, and those of uploads
// that were cut short or will find their manifest out of date. An upload that began
// after it keeps its chunks.
func (s *Store) purgeVersions(ctx context.Context, ns, name, keep string, manifest uint64) {
	info, err := s.stream.Info(ctx, jetstream.WithSubjectFilter(manifestSubject(ns, name)+".*.0"))
	if err != nil {
		return
	}
	for subject := range info.State.Subjects {
		version := strings.Split(subject, ".")[4]
		if version == keep {
			continue
		}
		first, err := s.stream.GetLastMsgForSubject(ctx, subject)
		if err == nil && first.Sequence < manifest {
			s.purge(ctx, chunkPrefix(ns, name, version))
		}
	}
}

func (s *Store) purge(ctx context.Context, subject string) error {
	if err := s.stream.Purge(ctx, jetstream.WithPurgeSubject(subject)); err != nil {
		return fmt.Errorf("datasets: purge %s: %w", subject, err)
	}
	return nil
}

// Info returns the manifest of dataset name of namespace ns, or ErrNotFound.
func (s *Store) Info(ctx context.Context, ns, name string) (Info, error) {
	info, _, err := s.manifest(ctx, ns, name)
	return info, err
}

// manifest returns a dataset's manifest and its sequence in the stream.
func (s *Store) manifest(ctx context.Context, ns, name string) (Info, uint64, error) {
	m, err := s.stream.GetLastMsgForSubject(ctx, manifestSubject(ns, name))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return Info{}, 0, ErrNotFound
	}
	if err != nil {
		return Info{}, 0, fmt.Errorf("datasets: manifest of %s: %w", name, err)
	}
	var info Info
	if err := json.Unmarshal(m.Data, &info); err != nil {
		return Info{}, 0, fmt.Errorf("datasets: manifest of %s: %w", name, err)
	}
	return info, m.Sequence, nil
}

// List returns the manifests of namespace ns's datasets, by name.
func (s *Store) List(ctx context.Context, ns string) ([]Info, error) {
	si, err := s.stream.Info(ctx, jetstream.WithSubjectFilter(manifestSubject(ns, "*")))
	if err != nil {
		return nil, fmt.Errorf("datasets: list: %w", err)
	}
	out := make([]Info, 0, len(si.State.Subjects))
	for subject := range si.State.Subjects {
		info, err := s.Info(ctx, ns, strings.Split(subject, ".")[3])
		if errors.Is(err, ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b Info) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Delete removes dataset name of namespace ns and returns what it was: first the
// manifest, so that no new reader opens it, then the chunks of every version that
// began before it. An upload that began after the manifest keeps its chunks (and will
// find the manifest it read gone: ErrConflict).
func (s *Store) Delete(ctx context.Context, ns, name string) (Info, error) {
	info, seq, err := s.manifest(ctx, ns, name)
	if err != nil {
		return Info{}, err
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
	defer cancel()
	if err := s.purge(ctx, manifestSubject(ns, name)); err != nil {
		return Info{}, err
	}
	s.purgeVersions(ctx, ns, name, "", seq+1)
	return info, nil
}

// WriteTo writes the whole of the dataset info describes to w, chunk after chunk.
func (s *Store) WriteTo(ctx context.Context, info Info, w io.Writer) (int64, error) {
	var n int64
	for i := range info.chunks() {
		m, err := s.stream.GetLastMsgForSubject(ctx, chunkSubject(info.Namespace, info.Name, info.Version, i))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return n, fmt.Errorf("datasets: %s: chunk %d is gone: the dataset was replaced or deleted meanwhile", info.Name, i)
		}
		if err != nil {
			return n, fmt.Errorf("datasets: %s: chunk %d: %w", info.Name, i, err)
		}
		if err := info.checkChunk(i, len(m.Data)); err != nil {
			return n, err
		}
		k, err := w.Write(m.Data)
		n += int64(k)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// checkChunk checks that chunk i has the size the manifest gives it.
func (i Info) checkChunk(index int64, size int) error {
	want := min(int64(i.ChunkSize), i.Size-index*int64(i.ChunkSize))
	if int64(size) != want {
		return fmt.Errorf("datasets: %s: chunk %d has %d bytes, want %d", i.Name, index, size, want)
	}
	return nil
}

// newVersion names one upload's chunks.
func newVersion() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}
