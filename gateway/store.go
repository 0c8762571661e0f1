package gateway

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/burstgo/burst/control"
)

// Buckets of the JetStream store. Each key-value bucket keeps one revision per key on the
// file store, so a restart of the server on the same data directory loses nothing. The
// flares, results and logs buckets age their values out after the retention (JetStream's
// own MaxAge); functions stay until they are deleted.
const (
	// BucketFunctions maps "<namespace>.<name>" to a registered function's
	// FunctionRecord.
	BucketFunctions = "burst-functions"
	// BucketFlares maps a flare id to its Record, without workers and results.
	BucketFlares = "burst-flares"
	// BucketResults maps "<flare id>.<first rank>" to the workers and results of a run
	// of ranks, cut so that each value stays well under the NATS payload limit.
	BucketResults = "burst-results"
	// BucketLogs maps a flare id to its workers' log lines.
	BucketLogs = "burst-logs"
)

// partBudget bounds the bytes of one value of the results bucket, counted as putFlare
// estimates them.
const partBudget = 2 << 20

// store is the gateway's durable state in JetStream.
type store struct {
	js        jetstream.JetStream
	functions jetstream.KeyValue
	flares    jetstream.KeyValue
	results   jetstream.KeyValue
	logs      jetstream.KeyValue
	plugins   jetstream.ObjectStore
	events    jetstream.Stream

	// maxValue is the largest value the server takes, and partBudget the estimate a
	// value of the results bucket is cut at: a NATS server of its own, which --nats
	// joins, takes 1 MiB messages by default, not the embedded server's 8 MiB.
	maxValue, partBudget int
}

// openStore opens (or makes) the buckets and the events stream. retention is the age of
// a flare's values; maxTimeout, the longest a flare runs, bounds how long events wait.
func openStore(ctx context.Context, nc *nats.Conn, retention, maxTimeout time.Duration, replicas int) (*store, error) {
	replicas = max(replicas, 1)
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("gateway: jetstream: %w", err)
	}
	// Room for the subject and headers of the message that carries a value.
	maxValue := int(nc.MaxPayload()) - 4<<10
	// A part holds workers until the estimate reaches the budget, and its last worker
	// may bring a result of up to half the payload (the invoker's own bound): a quarter
	// leaves room for both.
	s := &store{maxValue: maxValue, partBudget: min(partBudget, maxValue/4)}
	for _, b := range []struct {
		kv   *jetstream.KeyValue
		name string
		desc string
		ttl  time.Duration
	}{
		{&s.functions, BucketFunctions, "Burst functions by name", 0},
		{&s.flares, BucketFlares, "Burst flare records by id", retention},
		{&s.results, BucketResults, "Burst workers and results by flare id and first rank", retention},
		{&s.logs, BucketLogs, "Burst worker logs by flare id", retention},
	} {
		kv, err := openBucket(ctx, js, jetstream.KeyValueConfig{
			Bucket: b.name, Description: b.desc, History: 1, Storage: jetstream.FileStorage, TTL: b.ttl, Replicas: replicas,
		})
		if err != nil {
			return nil, fmt.Errorf("gateway: bucket %s: %w", b.name, err)
		}
		*b.kv = kv
	}
	s.plugins, err = js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket: control.PluginBucket, Description: "Burst plugins by SHA-256 digest", Storage: jetstream.FileStorage,
		Replicas: replicas,
	})
	if err == nil && replicas > 1 {
		if err = leaderReads(ctx, js, "OBJ_"+control.PluginBucket); err == nil {
			s.plugins, err = js.ObjectStore(ctx, control.PluginBucket)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("gateway: bucket %s: %w", control.PluginBucket, err)
	}
	// The gateway purges the events of the flares it has recorded (housekeeping); the
	// age bound is the backstop for a gateway that never comes back.
	s.events, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        control.EventStream,
		Description: "Burst invokers' events, until the gateway has recorded their flare",
		Subjects:    []string{control.EventSubjects},
		Storage:     jetstream.FileStorage,
		MaxAge:      maxTimeout + time.Hour,
		Duplicates:  2 * time.Minute,
		Replicas:    replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("gateway: stream %s: %w", control.EventStream, err)
	}
	s.js = js
	return s, nil
}

// openBucket makes or updates a bucket and opens it for reads that see every write
// acknowledged before them (leaderReads).
func openBucket(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, cfg)
	if err != nil || cfg.Replicas <= 1 {
		return kv, err
	}
	if err := leaderReads(ctx, js, "KV_"+cfg.Bucket); err != nil {
		return nil, err
	}
	return js.KeyValue(ctx, cfg.Bucket)
}

// leaderReads turns a replicated stream's direct gets off, so that its reads go to
// its leader: a direct get may be answered by a follower that has not yet applied the
// newest write, and a function registered a moment before was not found (seen with
// docker compose: PUT /functions answered 201, a POST /flares 10 ms later 404).
// Buckets set direct gets on whenever they are made or updated, so this follows each.
func leaderReads(ctx context.Context, js jetstream.JetStream, stream string) error {
	st, err := js.Stream(ctx, stream)
	if err != nil {
		return err
	}
	cfg := st.CachedInfo().Config
	if !cfg.AllowDirect {
		return nil
	}
	cfg.AllowDirect = false
	_, err = js.UpdateStream(ctx, cfg)
	return err
}

// errNotStored is returned for a key that is not in its bucket.
var errNotStored = errors.New("gateway: not stored")

// storeTry bounds one attempt at a bucket, and storeTries the attempts. While
// JetStream elects a new leader for a bucket whose leader's server was lost, requests go
// unanswered; an attempt after the election reaches the new leader.
const (
	storeTry   = 3 * time.Second
	storeTries = 10
)

// retry runs op until it succeeds, fails for good, or storeTries attempts of at most
// storeTry each have timed out or found no leader.
func retry(ctx context.Context, op func(context.Context) error) error {
	var err error
	for range storeTries {
		try, cancel := context.WithTimeout(ctx, storeTry)
		err = op(try)
		cancel()
		if err == nil || ctx.Err() != nil || !transient(err) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

// transient reports whether err may pass on its own: an unanswered request, or
// JetStream saying it is unavailable for now.
func transient(err error) bool {
	var apiErr *jetstream.APIError
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.As(err, &apiErr) && apiErr.Code == http.StatusServiceUnavailable
}

func getJSON(ctx context.Context, kv jetstream.KeyValue, key string, v any) (uint64, error) {
	var e jetstream.KeyValueEntry
	err := retry(ctx, func(ctx context.Context) (err error) {
		e, err = kv.Get(ctx, key)
		return err
	})
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return 0, errNotStored
	}
	if err != nil {
		return 0, fmt.Errorf("gateway: get %s from %s: %w", key, kv.Bucket(), err)
	}
	if err := json.Unmarshal(e.Value(), v); err != nil {
		return 0, fmt.Errorf("gateway: %s in %s: %w", key, kv.Bucket(), err)
	}
	return e.Revision(), nil
}

func putJSON(ctx context.Context, kv jetstream.KeyValue, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	err = retry(ctx, func(ctx context.Context) error {
		_, err := kv.Put(ctx, key, b)
		return err
	})
	if err != nil {
		return fmt.Errorf("gateway: put %s in %s: %w", key, kv.Bucket(), err)
	}
	return nil
}

func allKeys(ctx context.Context, kv jetstream.KeyValue) ([]string, error) {
	l, err := kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("gateway: list %s: %w", kv.Bucket(), err)
	}
	defer l.Stop()
	var keys []string
	for k := range l.Keys() {
		keys = append(keys, k)
	}
	return keys, nil
}

// registryKey is a registered function's key: names are unique per namespace.
func registryKey(namespace, name string) string { return namespace + "." + name }

func (s *store) function(ctx context.Context, namespace, name string) (FunctionRecord, uint64, error) {
	var f FunctionRecord
	rev, err := getJSON(ctx, s.functions, registryKey(namespace, name), &f)
	if f.Namespace == "" {
		f.Namespace = namespace
	}
	return f, rev, err
}

// moveToNamespaces moves the functions registered before namespaces, under their bare
// names, to the default namespace's keys: once, at start, and again harmlessly.
func (s *store) moveToNamespaces(ctx context.Context) (int, error) {
	keys, err := allKeys(ctx, s.functions)
	if err != nil {
		return 0, err
	}
	moved := 0
	for _, k := range keys {
		if strings.Contains(k, ".") {
			continue
		}
		e, err := s.functions.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return moved, fmt.Errorf("gateway: move function %s: %w", k, err)
		}
		var f FunctionRecord
		if err := json.Unmarshal(e.Value(), &f); err != nil {
			return moved, fmt.Errorf("gateway: function %s: %w", k, err)
		}
		f.Namespace = DefaultNamespace
		b, _ := json.Marshal(f)
		if _, err := s.functions.Create(ctx, registryKey(DefaultNamespace, k), b); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
			return moved, fmt.Errorf("gateway: move function %s: %w", k, err)
		}
		if err := s.functions.Delete(ctx, k); err != nil {
			return moved, fmt.Errorf("gateway: move function %s: %w", k, err)
		}
		moved++
	}
	return moved, nil
}

// putFunction writes f if the key is still at revision rev (0: absent), so that two
// registrations of one name cannot both think they made the same version.
func (s *store) putFunction(ctx context.Context, f FunctionRecord, rev uint64) error {
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	key := registryKey(f.Namespace, f.Name)
	if rev == 0 {
		_, err = s.functions.Create(ctx, key, b)
	} else {
		_, err = s.functions.Update(ctx, key, b, rev)
	}
	if errors.Is(err, jetstream.ErrKeyExists) || isWrongRevision(err) {
		return errConflict
	}
	return err
}

var errConflict = errors.New("gateway: changed meanwhile")

func isWrongRevision(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}

func (s *store) deleteFunction(ctx context.Context, namespace, name string) error {
	return s.functions.Delete(ctx, registryKey(namespace, name))
}

// allFunctions lists the functions registered in namespace.
func (s *store) allFunctions(ctx context.Context, namespace string) ([]FunctionRecord, error) {
	keys, err := allKeys(ctx, s.functions)
	if err != nil {
		return nil, err
	}
	fs := make([]FunctionRecord, 0, len(keys))
	for _, k := range keys {
		name, ok := strings.CutPrefix(k, namespace+".")
		if !ok {
			continue
		}
		f, _, err := s.function(ctx, namespace, name)
		if errors.Is(err, errNotStored) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		fs = append(fs, f)
	}
	return fs, nil
}

// hasPlugin reports whether the object store holds the plugin of digest.
func (s *store) hasPlugin(ctx context.Context, digest string) (bool, error) {
	_, err := s.plugins.GetInfo(ctx, digest)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return false, nil
	}
	return err == nil, err
}

func (s *store) putPlugin(ctx context.Context, digest string, r io.Reader) error {
	if _, err := s.plugins.Put(ctx, jetstream.ObjectMeta{Name: digest}, r); err != nil {
		return fmt.Errorf("gateway: store plugin %s: %w", digest, err)
	}
	return nil
}

// storedFlare is a flare in the flares bucket: the record's header and the first rank of
// each of its values in the results bucket. A small flare's workers and results are in
// the same value, with no parts.
type storedFlare struct {
	Record
	Parts []int `json:"result_parts,omitempty"`
	// Input and Traffic are the record's, kept out of its header so that listings stay
	// small.
	Input   json.RawMessage `json:"input,omitempty"`
	Traffic *Traffic        `json:"traffic,omitempty"`
}

// resultPart is a value of the results bucket.
type resultPart struct {
	Workers []WorkerRecord    `json:"workers"`
	Results []json.RawMessage `json:"results"`
}

func partKey(id string, first int) string { return id + "." + strconv.Itoa(first) }

// inlineBudget bounds the estimated bytes of the workers and results kept in a flare's
// own value: one write for most flares, and a light read of every header at start.
const inlineBudget = 16 << 10

// workerBytes estimates the bytes of worker i of r and its result.
func workerBytes(r *Record, i int) int {
	n := 160 + len(r.Workers[i].Error)
	if i < len(r.Results) {
		n += len(r.Results[i])
	}
	return n
}

// putFlare writes a flare's header; with full, also its workers and results: in the
// same value if they are small, else first in parts of their own, so that the header
// never names parts that are not there.
func (s *store) putFlare(ctx context.Context, r *Record, full bool) error {
	sf := storedFlare{Record: r.header(), Input: r.Input, Traffic: r.Traffic}
	if full && len(r.Workers) > 0 {
		total := 0
		for i := range r.Workers {
			total += workerBytes(r, i)
		}
		if total <= inlineBudget {
			sf.Workers, sf.Results = r.Workers, r.Results
			return putJSON(ctx, s.flares, r.ID, sf)
		}
		for first := 0; first < len(r.Workers); {
			end, size := first, 0
			for end < len(r.Workers) && (end == first || size < s.partBudget) {
				size += workerBytes(r, end)
				end++
			}
			part := resultPart{Workers: r.Workers[first:end]}
			if len(r.Results) >= end {
				part.Results = r.Results[first:end]
			}
			if err := putJSON(ctx, s.results, partKey(r.ID, first), part); err != nil {
				return err
			}
			sf.Parts = append(sf.Parts, first)
			first = end
		}
	}
	return putJSON(ctx, s.flares, r.ID, sf)
}

// flare reads a whole flare back.
func (s *store) flare(ctx context.Context, id string, withResults bool) (Record, error) {
	var sf storedFlare
	if _, err := getJSON(ctx, s.flares, id, &sf); err != nil {
		return Record{}, err
	}
	r := sf.Record
	r.Input, r.Traffic = sf.Input, sf.Traffic
	for _, first := range sf.Parts {
		var p resultPart
		if _, err := getJSON(ctx, s.results, partKey(id, first), &p); err != nil {
			return Record{}, err
		}
		r.Workers = append(r.Workers, p.Workers...)
		if withResults {
			r.Results = append(r.Results, p.Results...)
		}
	}
	if !withResults {
		r.Results = nil
	}
	return r, nil
}

// allFlares reads every stored flare, sorted by id (oldest first), without the parts
// of their workers and results.
func (s *store) allFlares(ctx context.Context) ([]storedFlare, error) {
	w, err := s.flares.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("gateway: read %s: %w", s.flares.Bucket(), err)
	}
	defer w.Stop()
	var out []storedFlare
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return nil, fmt.Errorf("gateway: read %s: the watcher stopped", s.flares.Bucket())
			}
			if e == nil { // every value present at the start has come
				slices.SortFunc(out, func(a, b storedFlare) int { return cmp.Compare(a.ID, b.ID) })
				return out, nil
			}
			var sf storedFlare
			if err := json.Unmarshal(e.Value(), &sf); err != nil {
				return nil, fmt.Errorf("gateway: %s in %s: %w", e.Key(), s.flares.Bucket(), err)
			}
			out = append(out, sf)
		case <-ctx.Done():
			return nil, fmt.Errorf("gateway: read %s: %w", s.flares.Bucket(), ctx.Err())
		}
	}
}

// flareLogs are a flare's log lines as the logs bucket keeps them.
type flareLogs struct {
	Lines   []control.LogLine `json:"lines"`
	Dropped int               `json:"dropped"`
}

// putLogs writes a flare's log lines; the last lines go, counted as dropped, if they do
// not fit in one value.
func (s *store) putLogs(ctx context.Context, id string, l flareLogs) error {
	b, err := json.Marshal(l)
	for err == nil && len(b) > s.maxValue && len(l.Lines) > 0 {
		keep := min(len(l.Lines)-1, len(l.Lines)*s.maxValue/len(b))
		l.Dropped += len(l.Lines) - keep
		l.Lines = l.Lines[:keep]
		b, err = json.Marshal(l)
	}
	if err != nil {
		return err
	}
	err = retry(ctx, func(ctx context.Context) error {
		_, err := s.logs.Put(ctx, id, b)
		return err
	})
	if err != nil {
		return fmt.Errorf("gateway: put %s in %s: %w", id, s.logs.Bucket(), err)
	}
	return nil
}

func (s *store) flareLogs(ctx context.Context, id string) (flareLogs, error) {
	var l flareLogs
	_, err := getJSON(ctx, s.logs, id, &l)
	if errors.Is(err, errNotStored) {
		return flareLogs{Lines: []control.LogLine{}}, nil
	}
	return l, err
}
