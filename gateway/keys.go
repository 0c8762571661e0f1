package gateway

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/burstgo/burst/control"
)

// BucketKeys maps a key's id to its storedKey: the key's hash, never the key.
const BucketKeys = "burst-keys"

// A Role is what an API key may do; each role may do what the ones before it may.
type Role string

// Roles of API keys, from least to most.
const (
	RoleReader    Role = "reader"    // read functions, flares, results, logs, events, invokers
	RoleRunner    Role = "runner"    // and run and cancel flares
	RoleDeveloper Role = "developer" // and upload and delete functions
	RoleAdmin     Role = "admin"     // and make, list and revoke keys
	// RoleInvoker is an invoker's join key for the NATS bus (bus.go), for the one
	// invoker it names; it may do nothing on the HTTP API.
	RoleInvoker Role = "invoker"
)

var roles = []Role{RoleReader, RoleRunner, RoleDeveloper, RoleAdmin}

// may reports whether r may do what need needs.
func (r Role) may(need Role) bool {
	return slices.Index(roles, r) >= slices.Index(roles, need) && slices.Contains(roles, need)
}

// Auth modes (Options.Auth).
const (
	// AuthAuto enforces keys when the HTTP listener is not on loopback or a key exists;
	// until then every request acts as the default namespace's admin.
	AuthAuto = "auto"
	// AuthRequired enforces keys always.
	AuthRequired = "required"
)

// DefaultNamespace is the namespace of every key, function and flare until namespaces
// of their own land.
const DefaultNamespace = "default"

// A Key is an API key's record: what GET /keys shows. The key itself is shown once,
// when it is made (NewKey); the store keeps only its SHA-256.
type Key struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Namespace string     `json:"namespace"`
	Role      Role       `json:"role"`
	Invoker   string     `json:"invoker,omitempty"` // the invoker a join key is for
	Created   time.Time  `json:"created"`
	Expires   *time.Time `json:"expires,omitempty"`
	LastUsed  *time.Time `json:"last_used,omitempty"`
}

// NewKey is the answer to POST /keys: the record and the key, shown this once.
type NewKey struct {
	Key
	Secret string `json:"key"`
}

// KeyRequest is the body of POST /keys.
type KeyRequest struct {
	Name string `json:"name"`
	Role Role   `json:"role"`
	// Invoker is the id of the invoker a join key (role invoker) is for.
	Invoker string `json:"invoker,omitempty"`
	// Namespace is the key's; empty means the maker's own. Only the cluster's admins
	// (the default namespace's) make keys in other namespaces.
	Namespace string `json:"namespace,omitempty"`
	// ExpiresIn is the key's life from now; zero means it does not expire.
	ExpiresIn control.Duration `json:"expires_in"`
}

// storedKey is a key's value in the keys bucket.
type storedKey struct {
	Key
	// Hash is the hex SHA-256 of the key's secret part.
	Hash string `json:"hash"`
}

// keyPrefix starts every key, so that a scanner of leaked secrets can spot one.
const keyPrefix = "burst_"

// lastUseEvery is how often a key's last use is written back: not on every request.
const lastUseEvery = time.Minute

// keys is the gateway's view of the keys bucket: every key in memory, kept current by
// a watch of the bucket and at once by the gateway's own changes, so that a request
// costs no store read and a revocation takes effect before DELETE /keys/{id} answers.
type keys struct {
	kv jetstream.KeyValue
	// loopback is whether the HTTP listener takes only local connections.
	loopback bool
	required bool

	mu   sync.Mutex
	byID map[string]*cachedKey
	// revoked are the ids this gateway revoked: the watch may still bring an older put
	// of one (its creation, a last-use write) after the delete here, which must not
	// bring it back. Ids are random and never reused.
	revoked map[string]bool
}

type cachedKey struct {
	storedKey
	revision uint64
	writing  bool // a last-use write is on its way
}

// A principal is who a request acts as.
type principal struct {
	key       string // the key's id; empty for the first-run admin
	namespace string
	role      Role
}

// openKeys opens the keys bucket, reads it and watches it for changes until ctx ends.
func openKeys(ctx context.Context, js jetstream.JetStream, replicas int, required, loopback bool) (*keys, <-chan struct{}, error) {
	kv, err := openBucket(ctx, js, jetstream.KeyValueConfig{
		Bucket: BucketKeys, Description: "Burst API keys by id (hashes, never keys)", Storage: jetstream.FileStorage,
		Replicas: max(replicas, 1),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("gateway: keys bucket: %w", err)
	}
	k := &keys{kv: kv, required: required, loopback: loopback, byID: make(map[string]*cachedKey), revoked: make(map[string]bool)}
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("gateway: watch keys: %w", err)
	}
	// The watch sends every key, then a nil to say it is up to date.
	for e := range w.Updates() {
		if e == nil {
			break
		}
		k.apply(e)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer w.Stop()
		for e := range w.Updates() {
			if e != nil {
				k.apply(e)
			}
		}
	}()
	return k, done, nil
}

// apply takes a change of the bucket into the cache; a change older than what the
// cache has (the gateway's own, applied at once) is skipped.
func (k *keys) apply(e jetstream.KeyValueEntry) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !keyID(e.Key()) {
		return // the flare credential secret (bus.go)
	}
	old := k.byID[e.Key()]
	if old != nil && old.revision >= e.Revision() || k.revoked[e.Key()] {
		return
	}
	if e.Operation() != jetstream.KeyValuePut {
		delete(k.byID, e.Key())
		return
	}
	var sk storedKey
	if err := json.Unmarshal(e.Value(), &sk); err != nil || sk.ID != e.Key() {
		delete(k.byID, e.Key())
		return
	}
	k.byID[e.Key()] = &cachedKey{storedKey: sk, revision: e.Revision()}
}

// enforced reports whether requests need a key.
func (k *keys) enforced() bool {
	if k.required || !k.loopback {
		return true
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.byID) > 0
}

// authenticate finds who a request's Authorization header names. A request without
// one acts as the default namespace's admin while keys are not enforced.
func (k *keys) authenticate(header string) (principal, error) {
	if header == "" {
		if !k.enforced() {
			return principal{namespace: DefaultNamespace, role: RoleAdmin}, nil
		}
		return principal{}, errorf(http.StatusUnauthorized, CodeUnauthorized, "this API needs a key: send Authorization: Bearer <key>")
	}
	scheme, text, _ := strings.Cut(header, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return principal{}, errorf(http.StatusUnauthorized, CodeUnauthorized, "the Authorization header must be Bearer <key>")
	}
	id, secret, ok := parseKey(strings.TrimSpace(text))
	if !ok {
		return principal{}, errorf(http.StatusUnauthorized, CodeUnauthorized, "that is not a Burst API key")
	}
	key, err := k.check(id, secret, time.Now())
	if err != nil {
		return principal{}, err
	}
	return principal{key: id, namespace: key.Namespace, role: key.Role}, nil
}

// check finds the key of id whose secret part is secret and that has not expired.
func (k *keys) check(id, secret string, now time.Time) (Key, error) {
	// A copy, taken under the lock: used writes the cached key's last use meanwhile.
	k.mu.Lock()
	cached := k.byID[id]
	ok := cached != nil
	var c storedKey
	if ok {
		c = cached.storedKey
	}
	k.mu.Unlock()
	sum := sha256.Sum256([]byte(secret))
	if !ok {
		return Key{}, errorf(http.StatusUnauthorized, CodeUnauthorized, "unknown or revoked key")
	}
	want, err := hex.DecodeString(c.Hash)
	if err != nil || subtle.ConstantTimeCompare(sum[:], want) != 1 {
		return Key{}, errorf(http.StatusUnauthorized, CodeUnauthorized, "unknown or revoked key")
	}
	if c.Expires != nil && now.After(*c.Expires) {
		return Key{}, errorf(http.StatusUnauthorized, CodeUnauthorized, "key %s expired at %s", id, c.Expires.Format(time.RFC3339))
	}
	return c.Key, nil
}

// due reports whether a key's last use is due to be written back.
func (k *keys) due(id string, now time.Time) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	c := k.byID[id]
	return c != nil && !c.writing && (c.LastUsed == nil || now.Sub(*c.LastUsed) >= lastUseEvery)
}

// used notes a key's use; it is written back at most once a minute per key, by a
// compare-and-set on the revision, so that a key revoked meanwhile stays revoked.
func (k *keys) used(ctx context.Context, id string, now time.Time) {
	k.mu.Lock()
	c := k.byID[id]
	if c == nil || c.writing || (c.LastUsed != nil && now.Sub(*c.LastUsed) < lastUseEvery) {
		k.mu.Unlock()
		return
	}
	c.writing = true
	sk, rev := c.storedKey, c.revision
	k.mu.Unlock()
	sk.LastUsed = &now
	b, _ := json.Marshal(sk)
	newRev, err := k.kv.Update(ctx, id, b, rev)
	k.mu.Lock()
	defer k.mu.Unlock()
	c.writing = false
	if err == nil && k.byID[id] == c && c.revision == rev {
		c.LastUsed, c.revision = &now, newRev
	}
}

// create makes a key and stores its hash. While keys are not enforced, the first key
// must be an admin's: it turns enforcement on, and a lesser one would lock everyone out.
func (k *keys) create(ctx context.Context, req KeyRequest, namespace string, now time.Time) (NewKey, error) {
	if !slices.Contains(roles, req.Role) && req.Role != RoleInvoker {
		return NewKey{}, errorf(http.StatusBadRequest, CodeBadRequest, "role %q is none of %s, %s", req.Role, roleList(), RoleInvoker)
	}
	switch {
	case req.Role == RoleInvoker && req.Invoker == "":
		return NewKey{}, errorf(http.StatusBadRequest, CodeBadRequest, "an invoker key needs the id of its invoker (invoker)")
	case req.Role != RoleInvoker && req.Invoker != "":
		return NewKey{}, errorf(http.StatusBadRequest, CodeBadRequest, "only an invoker key names an invoker")
	case req.Invoker != "":
		if err := checkName("invoker", req.Invoker); err != nil {
			return NewKey{}, err
		}
	}
	if req.Name == "" {
		req.Name = string(req.Role)
		if req.Invoker != "" {
			req.Name = req.Invoker
		}
	}
	if err := checkName("key", req.Name); err != nil {
		return NewKey{}, err
	}
	if req.ExpiresIn < 0 {
		return NewKey{}, errorf(http.StatusBadRequest, CodeBadRequest, "expires_in %s is negative", time.Duration(req.ExpiresIn))
	}
	if req.Role != RoleAdmin && !k.enforced() {
		return NewKey{}, errorf(http.StatusConflict, CodeConflict,
			"the first key must be an admin key: it turns keys on, and with only a %s key no one could make others", req.Role)
	}
	id, secret := hex.EncodeToString(randomBytes(8)), base64.RawURLEncoding.EncodeToString(randomBytes(32))
	sum := sha256.Sum256([]byte(secret))
	sk := storedKey{Key: Key{ID: id, Name: req.Name, Namespace: namespace, Role: req.Role, Invoker: req.Invoker, Created: now.UTC()},
		Hash: hex.EncodeToString(sum[:])}
	if req.ExpiresIn > 0 {
		exp := now.Add(time.Duration(req.ExpiresIn)).UTC()
		sk.Expires = &exp
	}
	b, _ := json.Marshal(sk)
	rev, err := k.kv.Create(ctx, id, b)
	if err != nil {
		return NewKey{}, fmt.Errorf("store key: %w", err)
	}
	k.mu.Lock()
	if old := k.byID[id]; old == nil || old.revision < rev {
		k.byID[id] = &cachedKey{storedKey: sk, revision: rev}
	}
	k.mu.Unlock()
	return NewKey{Key: sk.Key, Secret: keyPrefix + id + "_" + secret}, nil
}

// revoke deletes a key; it fails from now on, here at once and on other gateways as
// soon as their watch hears of it.
func (k *keys) revoke(ctx context.Context, id string) (Key, error) {
	k.mu.Lock()
	c, ok := k.byID[id]
	k.mu.Unlock()
	if !ok {
		return Key{}, errorf(http.StatusNotFound, CodeNotFound, "no key %q", id)
	}
	if err := k.kv.Delete(ctx, id); err != nil {
		return Key{}, fmt.Errorf("delete key: %w", err)
	}
	k.mu.Lock()
	delete(k.byID, id)
	k.revoked[id] = true
	k.mu.Unlock()
	return c.Key, nil
}

// get returns the record of key id.
func (k *keys) get(id string) (Key, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	c, ok := k.byID[id]
	if !ok {
		return Key{}, false
	}
	return c.Key, true
}

// list returns the keys, oldest first.
func (k *keys) list() []Key {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make([]Key, 0, len(k.byID))
	for _, c := range k.byID {
		out = append(out, c.Key)
	}
	slices.SortFunc(out, func(a, b Key) int { return a.Created.Compare(b.Created) })
	return out
}

// hasAdmin reports whether a cluster admin's key (the default namespace's) exists and
// has not expired.
func (k *keys) hasAdmin() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := time.Now()
	for _, c := range k.byID {
		if c.Role == RoleAdmin && c.Namespace == DefaultNamespace && (c.Expires == nil || now.Before(*c.Expires)) {
			return true
		}
	}
	return false
}

// parseKey splits "burst_<id>_<secret>".
func parseKey(s string) (id, secret string, ok bool) {
	rest, ok := strings.CutPrefix(s, keyPrefix)
	if !ok {
		return "", "", false
	}
	id, secret, ok = strings.Cut(rest, "_")
	return id, secret, ok && keyID(id) && secret != ""
}

// keyID reports whether s could be a key's id: 16 hex digits.
func keyID(s string) bool {
	if len(s) != 16 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// randomBytes is n bytes from crypto/rand.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func roleList() string {
	s := make([]string, len(roles))
	for i, r := range roles {
		s[i] = string(r)
	}
	return strings.Join(s, ", ")
}

// isLoopback reports whether a listener's address takes only local connections.
func isLoopback(addr net.Addr) bool {
	tcp, ok := addr.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

// principalKey is where auth puts the request's principal.
type principalKeyType struct{}

// allow lets a request through when its key's role may do what need needs: 401 without
// a good key, 403 with a lesser one.
func (g *Gateway) allow(need Role) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if p, ok := r.Context().Value(principalKeyType{}).(principal); ok {
				// An outer allow of the route's group checked the key already.
				if !p.role.may(need) {
					writeError(w, r, errorf(http.StatusForbidden, CodeForbidden, "a %s key may not do this: it needs %s", p.role, need))
					return
				}
				next.ServeHTTP(w, r)
				return
			}
			p, err := g.keys.authenticate(r.Header.Get("Authorization"))
			if err != nil {
				w.Header().Set("WWW-Authenticate", `Bearer realm="burst"`)
				writeError(w, r, err)
				return
			}
			if p.key == "" {
				if err := openModeRequest(r); err != nil {
					writeError(w, r, err)
					return
				}
			}
			if !p.role.may(need) {
				writeError(w, r, errorf(http.StatusForbidden, CodeForbidden, "a %s key may not do this: it needs %s", p.role, need))
				return
			}
			if now := time.Now(); p.key != "" && g.keys.due(p.key, now) {
				g.spawn(func() { g.keys.used(g.base, p.key, now) })
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKeyType{}, p)))
		})
	}
}

// openModeRequest refuses, while keys are off, what a web page could make a local
// browser send: a request from another origin (a cross-site form or fetch carries its
// Origin) or to another host name (a DNS rebinding page names its own). curl and the
// CLI send neither.
func openModeRequest(r *http.Request) error {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	if host != "localhost" && !strings.HasSuffix(host, ".localhost") && (ip == nil || !ip.IsLoopback()) {
		return errorf(http.StatusForbidden, CodeForbidden, "while API keys are off, this gateway takes requests to its loopback name only, not to %q", r.Host)
	}
	if o := r.Header.Get("Origin"); o != "" && o != "http://"+r.Host && o != "https://"+r.Host {
		return errorf(http.StatusForbidden, CodeForbidden, "while API keys are off, this gateway takes no request from another origin (%s)", o)
	}
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return errorf(http.StatusForbidden, CodeForbidden, "while API keys are off, this gateway takes no cross-site request")
	}
	return nil
}

func (g *Gateway) postKey(w http.ResponseWriter, r *http.Request) {
	var req KeyRequest
	if err := decodeJSON(http.MaxBytesReader(w, r.Body, g.opts.MaxBody), &req); err != nil {
		writeError(w, r, err)
		return
	}
	p := principalOf(r)
	ns, err := g.keyNamespace(p, req.Namespace)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if req.Role == RoleInvoker && ns != DefaultNamespace {
		writeError(w, r, errorf(http.StatusBadRequest, CodeBadRequest, "invokers are the cluster's: their keys are the default namespace's"))
		return
	}
	nk, err := g.keys.create(r.Context(), req, ns, time.Now())
	if err != nil {
		writeError(w, r, err)
		return
	}
	g.log.Info("key created", "id", nk.ID, "name", nk.Name, "namespace", nk.Namespace, "role", nk.Role, "by", cmp.Or(p.key, "first-run admin"))
	writeJSON(w, http.StatusCreated, nk)
}

// listKeys answers the keys a request may see: every one for a cluster admin, else its
// namespace's.
func (g *Gateway) listKeys(w http.ResponseWriter, r *http.Request) {
	p := principalOf(r)
	keys := slices.DeleteFunc(g.keys.list(), func(k Key) bool { return !p.clusterAdmin() && k.Namespace != p.namespace })
	writeJSON(w, http.StatusOK, map[string][]Key{"keys": keys})
}

func (g *Gateway) deleteKey(w http.ResponseWriter, r *http.Request) {
	id, p := chi.URLParam(r, "id"), principalOf(r)
	if k, ok := g.keys.get(id); !ok || (!p.clusterAdmin() && k.Namespace != p.namespace) {
		writeError(w, r, errorf(http.StatusNotFound, CodeNotFound, "no key %q", id))
		return
	}
	k, err := g.keys.revoke(r.Context(), id)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if k.Role == RoleInvoker && g.opts.Revoked != nil {
		g.opts.Revoked(control.InvokerUser(k.Invoker))
	}
	g.log.Info("key revoked", "id", id, "by", cmp.Or(p.key, "first-run admin"))
	w.WriteHeader(http.StatusNoContent)
}

// bootstrap makes the first admin key when keys are enforced and none exists, and
// writes it to file, readable by this user only (like Jenkins' initialAdminPassword).
func (g *Gateway) bootstrap(ctx context.Context) error {
	if !g.keys.enforced() || g.keys.hasAdmin() {
		if !g.keys.enforced() {
			g.log.Info("API keys are off while the HTTP listener is on loopback and no key exists: every request acts as the default namespace's admin; `burst key create --role admin` turns them on")
		}
		return nil
	}
	if g.opts.KeyFile == "" {
		g.log.Warn("API keys are enforced and no admin key exists; start with a key file (burst serve writes one) to make the first")
		return nil
	}
	nk, err := g.keys.create(ctx, KeyRequest{Name: "first-admin", Role: RoleAdmin}, DefaultNamespace, time.Now())
	if err != nil {
		return fmt.Errorf("gateway: first admin key: %w", err)
	}
	if err := writeSecret(g.opts.KeyFile, nk.Secret+"\n"); err != nil {
		g.keys.revoke(ctx, nk.ID)
		return fmt.Errorf("gateway: first admin key: %w", err)
	}
	g.log.Warn("API keys are enforced and no admin key existed: made one", "file", g.opts.KeyFile,
		"use", "burst key ls --key \"$(cat "+g.opts.KeyFile+")\" (or BURST_KEY, or Authorization: Bearer); make the keys you need, then delete the file")
	return nil
}

// writeSecret writes s to a new file only its owner can read, replacing an old one.
func writeSecret(path, s string) error {
	tmp := path + ".new"
	os.Remove(tmp)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(s); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
