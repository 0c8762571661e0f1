package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/nats-io/nats.go/jetstream"
)

// Namespaces. Functions, flares, their logs and results belong to the namespace of the
// key that made them; a key sees its own namespace's and the built-ins, and another
// namespace's function or flare answers 404, as if it did not exist. The default
// namespace always exists; its admins are the cluster's: they make namespaces, set
// their limits and make keys in any of them. An admin of another namespace manages that
// namespace's keys.

// BucketNamespaces maps a namespace's name to its Namespace.
const BucketNamespaces = "burst-namespaces"

// A Namespace is a tenant of the cluster, with its limits.
type Namespace struct {
	Name    string          `json:"name"`
	Created time.Time       `json:"created"`
	Limits  NamespaceLimits `json:"limits"`
}

// NamespaceLimits bound what a namespace's flares may take; zero means no bound.
type NamespaceLimits struct {
	// Workers bounds the workers of the namespace's flares that run at once: a flare
	// that would go over waits in the queue, while other namespaces' flares pass it.
	Workers int `json:"workers,omitempty"`
	// Queued bounds the namespace's flares that wait for slots (429 above).
	Queued int `json:"queued,omitempty"`
	// Rate is how many flares a second the namespace may start over time, and Burst
	// how many at once above it (zero: the rate, and at least 1); 429 with Retry-After
	// above.
	Rate  float64 `json:"rate,omitempty"`
	Burst int     `json:"burst,omitempty"`
	// MaxSize bounds the workers of one flare.
	MaxSize int `json:"max_size,omitempty"`
	// DatasetBytes bounds the bytes of the namespace's datasets together (413 over it).
	DatasetBytes int64 `json:"dataset_bytes,omitempty"`
}

// namespaceState is a namespace as the gateway holds it; guarded by g.mu.
type namespaceState struct {
	Namespace
	tokens float64 // of the rate's bucket
	filled time.Time
}

// openNamespaces reads the namespaces, and makes the default one the first time.
func openNamespaces(ctx context.Context, js jetstream.JetStream, replicas int) (jetstream.KeyValue, map[string]*namespaceState, error) {
	kv, err := openBucket(ctx, js, jetstream.KeyValueConfig{
		Bucket: BucketNamespaces, Description: "Burst namespaces and their limits", Storage: jetstream.FileStorage,
		Replicas: max(replicas, 1),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("gateway: namespaces bucket: %w", err)
	}
	keys, err := allKeys(ctx, kv)
	if err != nil && !errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil, nil, err
	}
	out := make(map[string]*namespaceState, len(keys)+1)
	for _, k := range keys {
		var ns Namespace
		if _, err := getJSON(ctx, kv, k, &ns); err != nil {
			if errors.Is(err, errNotStored) {
				continue
			}
			return nil, nil, err
		}
		out[ns.Name] = &namespaceState{Namespace: ns}
	}
	if out[DefaultNamespace] == nil {
		ns := Namespace{Name: DefaultNamespace, Created: time.Now().UTC()}
		b, _ := json.Marshal(ns)
		if _, err := kv.Create(ctx, DefaultNamespace, b); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
			return nil, nil, fmt.Errorf("gateway: default namespace: %w", err)
		}
		out[DefaultNamespace] = &namespaceState{Namespace: ns}
	}
	return kv, out, nil
}

// principalOf is who r acts as (allow put it there).
func principalOf(r *http.Request) principal {
	return r.Context().Value(principalKeyType{}).(principal)
}

// clusterAdmin reports whether p administers the cluster: an admin of the default
// namespace.
func (p principal) clusterAdmin() bool {
	return p.role == RoleAdmin && p.namespace == DefaultNamespace
}

// recordNamespace is the namespace of a stored record: records of before namespaces
// are the default one's.
func recordNamespace(ns string) string {
	if ns == "" {
		return DefaultNamespace
	}
	return ns
}

// flareScope answers 404 for a flare of another namespace than the request's, as for a
// flare that does not exist.
func (g *Gateway) flareScope(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := flareID(r)
		ns, err := g.flareNamespace(r.Context(), id)
		if err == nil && ns != principalOf(r).namespace {
			err = errorf(http.StatusNotFound, CodeUnknownFlare, "no flare %q", id)
		}
		if err != nil {
			writeError(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// flareNamespace finds the namespace of flare id: in memory while it runs, in the index
// or the store after.
func (g *Gateway) flareNamespace(ctx context.Context, id string) (string, error) {
	g.mu.Lock()
	f := g.flares[id]
	var ns string
	if f != nil {
		ns = f.rec.Namespace
	}
	g.mu.Unlock()
	if f != nil {
		return ns, nil
	}
	if rec, ok := g.index.get(id); ok {
		return recordNamespace(rec.Namespace), nil
	}
	rec, err := g.store.flare(ctx, id, false)
	if errors.Is(err, errNotStored) {
		return "", errorf(http.StatusNotFound, CodeUnknownFlare, "no flare %q", id)
	}
	return recordNamespace(rec.Namespace), err
}

// admitFlare checks a new flare of size workers against its namespace's limits, and
// takes a token of its rate. Called with g.mu held.
func (g *Gateway) admitFlare(namespace string, size int, now time.Time) error {
	ns := g.namespaces[namespace]
	if ns == nil {
		return errorf(http.StatusForbidden, CodeForbidden, "namespace %q no longer exists", namespace)
	}
	l := ns.Limits
	switch {
	case l.MaxSize > 0 && size > l.MaxSize:
		return errorf(http.StatusBadRequest, CodeOverLimit, "a flare of %d workers is larger than namespace %s's largest, %d", size, namespace, l.MaxSize)
	case l.Workers > 0 && size > l.Workers:
		return errorf(http.StatusBadRequest, CodeOverLimit, "a flare of %d workers is more than namespace %s runs at once, %d", size, namespace, l.Workers)
	}
	if l.Queued > 0 {
		queued := 0
		for _, f := range g.queue {
			if f.rec.Namespace == namespace {
				queued++
			}
		}
		if queued >= l.Queued {
			e := errorf(http.StatusTooManyRequests, CodeQueueFull, "namespace %s has %d flares waiting already, its most; try again later", namespace, queued)
			e.RetryAfter = time.Second
			return e
		}
	}
	if l.Rate > 0 {
		burst := float64(max(l.Burst, int(math.Ceil(l.Rate)), 1))
		if ns.filled.IsZero() {
			ns.tokens = burst
		} else {
			ns.tokens = min(burst, ns.tokens+now.Sub(ns.filled).Seconds()*l.Rate)
		}
		ns.filled = now
		if ns.tokens < 1 {
			wait := time.Duration((1 - ns.tokens) / l.Rate * float64(time.Second))
			e := errorf(http.StatusTooManyRequests, CodeRateLimited, "namespace %s may start %g flares a second; try again in %s", namespace, l.Rate, wait.Round(time.Millisecond))
			e.RetryAfter = wait
			return e
		}
		ns.tokens--
	}
	return nil
}

// workersBound returns whether a queued flare must wait for its namespace's running
// workers, given the running workers by namespace (filled once per scheduling pass).
// Called with g.mu held.
func (g *Gateway) workersBound(f *flare, running map[string]int) bool {
	ns := g.namespaces[f.rec.Namespace]
	return ns != nil && ns.Limits.Workers > 0 && running[f.rec.Namespace]+f.rec.Size > ns.Limits.Workers
}

// runningWorkers counts the workers of the placed packs that have not ended, by
// namespace, as the invokers' slots count them; nil when no namespace has a workers
// limit. Called with g.mu held.
func (g *Gateway) runningWorkers() map[string]int {
	limited := false
	for _, ns := range g.namespaces {
		limited = limited || ns.Limits.Workers > 0
	}
	if !limited {
		return nil
	}
	running := make(map[string]int)
	for _, f := range g.flares {
		for p, pl := range f.placements {
			if !f.packs[p].ended {
				running[f.rec.Namespace] += pl.end - pl.first
			}
		}
	}
	return running
}

// NamespaceRequest is the body of PUT /namespaces/{name}.
type NamespaceRequest struct {
	Limits NamespaceLimits `json:"limits"`
}

func (g *Gateway) putNamespace(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "name")
	if err := checkName("namespace", name); err != nil {
		writeError(w, r, err)
		return
	}
	if !principalOf(r).clusterAdmin() {
		writeError(w, r, errorf(http.StatusForbidden, CodeForbidden, "only an admin of the default namespace makes namespaces and sets their limits"))
		return
	}
	var req NamespaceRequest
	if err := decodeJSON(http.MaxBytesReader(w, r.Body, g.opts.MaxBody), &req); err != nil {
		writeError(w, r, err)
		return
	}
	l := req.Limits
	if l.Workers < 0 || l.Queued < 0 || l.Rate < 0 || l.Burst < 0 || l.MaxSize < 0 || l.DatasetBytes < 0 || math.IsInf(l.Rate, 0) || math.IsNaN(l.Rate) {
		writeError(w, r, errorf(http.StatusBadRequest, CodeBadRequest, "limits must be zero (no bound) or positive"))
		return
	}
	g.mu.Lock()
	old := g.namespaces[name]
	ns := Namespace{Name: name, Created: time.Now().UTC(), Limits: l}
	if old != nil {
		ns.Created = old.Created
	}
	g.mu.Unlock()
	if err := putJSON(r.Context(), g.nsKV, name, ns); err != nil {
		writeError(w, r, err)
		return
	}
	g.mu.Lock()
	if st := g.namespaces[name]; st != nil {
		st.Namespace = ns
	} else {
		g.namespaces[name] = &namespaceState{Namespace: ns}
	}
	// A higher bound may let waiting flares in.
	placed := g.scheduleLocked()
	g.mu.Unlock()
	g.dispatch(placed)
	g.log.Info("namespace set", "namespace", name, "limits", fmt.Sprintf("%+v", l), "by", principalOf(r).key)
	status := http.StatusOK
	if old == nil {
		status = http.StatusCreated
	}
	writeJSON(w, status, ns)
}

// listNamespaces answers the namespaces a request may see: all for a cluster admin,
// else its own.
func (g *Gateway) listNamespaces(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r)
	g.mu.Lock()
	out := []Namespace{}
	for _, ns := range g.namespaces {
		if p.clusterAdmin() || ns.Name == p.namespace {
			out = append(out, ns.Namespace)
		}
	}
	g.mu.Unlock()
	slices.SortFunc(out, func(a, b Namespace) int { return strings.Compare(a.Name, b.Name) })
	writeJSON(w, http.StatusOK, map[string][]Namespace{"namespaces": out})
}

func (g *Gateway) getNamespace(w http.ResponseWriter, r *http.Request) {
	name, p := chi.URLParam(r, "name"), principalOf(r)
	g.mu.Lock()
	ns := g.namespaces[name]
	g.mu.Unlock()
	if ns == nil || (!p.clusterAdmin() && name != p.namespace) {
		writeError(w, r, errorf(http.StatusNotFound, CodeNotFound, "no namespace %q", name))
		return
	}
	writeJSON(w, http.StatusOK, ns.Namespace)
}

// keyNamespace is the namespace a new key of req goes to, if p may make it there.
func (g *Gateway) keyNamespace(p principal, namespace string) (string, error) {
	if namespace == "" || namespace == p.namespace {
		return p.namespace, nil
	}
	g.mu.Lock()
	_, ok := g.namespaces[namespace]
	g.mu.Unlock()
	if !p.clusterAdmin() || !ok {
		return "", errorf(http.StatusNotFound, CodeNotFound, "no namespace %q", namespace)
	}
	return namespace, nil
}
