package invoker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/burstgo/burst/control"
	"github.com/burstgo/burst/functions"
)

// ErrUnknownFunction is returned for a built-in name this binary does not have.
var ErrUnknownFunction = errors.New("invoker: unknown function")

// functionCache finds a flare's function: a built-in by name, or a plugin by digest,
// fetched once from the object store into dir and loaded once per process.
type functionCache struct {
	nc       *nats.Conn
	dir      string
	builtins map[string]functions.Func

	mu      sync.Mutex
	obs     jetstream.ObjectStore
	entries map[string]*cacheEntry[functions.Func] // loaded functions, by digest
	files   map[string]*cacheEntry[string]         // plugin files in dir, checked, by digest
}

type cacheEntry[T any] struct {
	done chan struct{} // closed when v and err are set
	v    T
	err  error
}

func newFunctionCache(nc *nats.Conn, dir string, builtins map[string]functions.Func) *functionCache {
	return &functionCache{nc: nc, dir: dir, builtins: builtins, entries: make(map[string]*cacheEntry[functions.Func]), files: make(map[string]*cacheEntry[string])}
}

// function returns the function to run. Concurrent calls for one digest share one fetch.
func (c *functionCache) function(ctx context.Context, name, digest string) (functions.Func, error) {
	if digest == "" {
		fn, ok := c.builtins[name]
		if !ok {
			return nil, fmt.Errorf("%w: %q is not a built-in of this invoker", ErrUnknownFunction, name)
		}
		return fn, nil
	}
	if !validDigest(digest) {
		return nil, fmt.Errorf("invoker: digest %q is not a hex SHA-256", digest)
	}
	return once(ctx, &c.mu, c.entries, digest, func() (functions.Func, error) { return c.load(ctx, digest) })
}

// file returns the path of the plugin of digest in dir, fetched from the object store
// if it is not there yet, for a function host to open.
func (c *functionCache) file(ctx context.Context, digest string) (string, error) {
	if !validDigest(digest) {
		return "", fmt.Errorf("invoker: digest %q is not a hex SHA-256", digest)
	}
	return once(ctx, &c.mu, c.files, digest, func() (string, error) { return c.ensure(ctx, digest) })
}

// once runs do for key unless entries has its answer or another call is running it,
// and waits for the answer. Concurrent calls for one key share one do; a failed one is
// forgotten, so that a later call tries again (the failure may have been a fetch).
func once[T any](ctx context.Context, mu *sync.Mutex, entries map[string]*cacheEntry[T], key string, do func() (T, error)) (T, error) {
	mu.Lock()
	e := entries[key]
	if e == nil {
		e = &cacheEntry[T]{done: make(chan struct{})}
		entries[key] = e
		mu.Unlock()
		e.v, e.err = do()
		if e.err != nil {
			mu.Lock()
			delete(entries, key)
			mu.Unlock()
		}
		close(e.done)
	} else {
		mu.Unlock()
	}
	select {
	case <-e.done:
		return e.v, e.err
	case <-ctx.Done():
		var zero T
		return zero, context.Cause(ctx)
	}
}

// ensure makes sure dir holds the plugin of digest, fetching it if needed.
func (c *functionCache) ensure(ctx context.Context, digest string) (string, error) {
	path := filepath.Join(c.dir, digest+".so")
	if b, err := os.ReadFile(path); err != nil || hashHex(b) != digest {
		if err := c.fetch(ctx, digest, path); err != nil {
			return "", err
		}
	}
	return path, nil
}

// opened holds the plugins this process has opened, by digest. A plugin opens once per
// process: a second copy of the same content under another path would fail with
// "plugin already loaded", and several invokers may share a process (tests, benchmarks).
var opened = struct {
	sync.Mutex
	fns map[string]functions.Func
}{fns: make(map[string]functions.Func)}

// load makes sure dir holds the plugin, fetching it if needed, and opens it.
func (c *functionCache) load(ctx context.Context, digest string) (functions.Func, error) {
	opened.Lock()
	fn, ok := opened.fns[digest]
	opened.Unlock()
	if ok {
		return fn, nil
	}
	path, err := c.file(ctx, digest)
	if err != nil {
		return nil, err
	}
	opened.Lock()
	defer opened.Unlock()
	if fn, ok := opened.fns[digest]; ok {
		return fn, nil
	}
	fn, err = functions.Load(path)
	if err != nil {
		return nil, fmt.Errorf("invoker: load plugin %s: %w", digest, err)
	}
	opened.fns[digest] = fn
	return fn, nil
}

func (c *functionCache) fetch(ctx context.Context, digest, path string) error {
	obs, err := c.store(ctx)
	if err != nil {
		return err
	}
	// A replica behind its leader may not have the plugin yet: asked again a few
	// times before it is missing.
	var b []byte
	for try := 1; ; try++ {
		b, err = obs.GetBytes(ctx, digest)
		if !errors.Is(err, jetstream.ErrObjectNotFound) || try == 5 {
			break
		}
		select {
		case <-time.After(200 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err != nil {
		return fmt.Errorf("invoker: fetch plugin %s: %w", digest, err)
	}
	if got := hashHex(b); got != digest {
		return fmt.Errorf("invoker: plugin %s arrived with digest %s", digest, got)
	}
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return fmt.Errorf("invoker: plugin cache: %w", err)
	}
	// Write beside and rename, so a crash never leaves a half plugin under its name.
	tmp, err := os.CreateTemp(c.dir, digest+".*.tmp")
	if err != nil {
		return fmt.Errorf("invoker: plugin cache: %w", err)
	}
	_, werr := tmp.Write(b)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("invoker: plugin cache: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("invoker: plugin cache: %w", err)
	}
	return nil
}

// store opens the plugin bucket the first time it is needed: the gateway creates it,
// possibly after this invoker started.
func (c *functionCache) store(ctx context.Context) (jetstream.ObjectStore, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.obs != nil {
		return c.obs, nil
	}
	js, err := jetstream.New(c.nc)
	if err != nil {
		return nil, fmt.Errorf("invoker: jetstream: %w", err)
	}
	obs, err := js.ObjectStore(ctx, control.PluginBucket)
	if err != nil {
		return nil, fmt.Errorf("invoker: plugin bucket %s: %w", control.PluginBucket, err)
	}
	c.obs = obs
	return obs, nil
}

func hashHex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func validDigest(d string) bool {
	if len(d) != 2*sha256.Size {
		return false
	}
	_, err := hex.DecodeString(d)
	return err == nil
}
