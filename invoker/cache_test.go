package invoker

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/burstgo/burst/control"
	"github.com/burstgo/burst/functions"
)

var helloPlugin = sync.OnceValues(func() ([]byte, error) {
	out := filepath.Join(pluginDir, "hello.so")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := functions.Build(ctx, "../functions/examples/hello/plugin", out); err != nil {
		return nil, err
	}
	return os.ReadFile(out)
})

func TestPluginFetchedByDigest(t *testing.T) {
	so, err := helloPlugin()
	if err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	e := newEnv(t, Options{CacheDir: cache})
	digest := hashHex(so)
	ctx := context.Background()
	js, _ := jetstream.New(e.nc)
	a := control.Assignment{Flare: "p1", Function: "greet", Digest: digest, Size: 2, Granularity: 2, Timeout: control.Duration(time.Minute)}
	opened.Lock()
	_, already := opened.fns[digest]
	opened.Unlock()
	if already {
		// A plugin opens once per process, and an earlier run of this test (-count)
		// opened it: it runs with no store at all.
		ch := e.events("p1")
		if r := e.assign(a); !r.OK {
			t.Fatal(r.Error)
		}
		if pe := collect(t, ch, 1)[0]; pe.ended.Status != control.StatusSucceeded {
			t.Fatalf("plugin opened before: %+v", pe.ended)
		}
		return
	}
	// No bucket yet: refused with a clear error.
	if r := e.assign(a); r.OK || !strings.Contains(r.Error, control.PluginBucket) {
		t.Fatalf("before the bucket: %+v", r)
	}
	obs, err := js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: control.PluginBucket})
	if err != nil {
		t.Fatal(err)
	}
	// An object whose bytes do not match its name is refused.
	bogus := strings.Repeat("0", 64)
	obs.PutBytes(ctx, bogus, []byte("not the plugin"))
	bad := a
	bad.Flare, bad.Digest = "p0", bogus
	if r := e.assign(bad); r.OK || !strings.Contains(r.Error, "arrived with digest") {
		t.Fatalf("mismatched digest: %+v", r)
	}
	if _, err := obs.PutBytes(ctx, digest, so); err != nil {
		t.Fatal(err)
	}
	ch := e.events("p1")
	if r := e.assign(a); !r.OK {
		t.Fatal(r.Error)
	}
	pe := collect(t, ch, 1)[0]
	var res struct{ Rank, Size int }
	json.Unmarshal(pe.workers[1].Result, &res)
	if pe.ended.Status != control.StatusSucceeded || res.Rank != 1 || res.Size != 2 {
		t.Fatalf("plugin run: %+v %s", pe.ended, pe.workers[1].Result)
	}
	if b, err := os.ReadFile(filepath.Join(cache, digest+".so")); err != nil || hashHex(b) != digest {
		t.Errorf("cache file: %v", err)
	}
	// Cached: it runs with the object gone.
	if err := obs.Delete(ctx, digest); err != nil {
		t.Fatal(err)
	}
	ch = e.events("p2")
	a.Flare = "p2"
	if r := e.assign(a); !r.OK {
		t.Fatal(r.Error)
	}
	if pe := collect(t, ch, 1)[0]; pe.ended.Status != control.StatusSucceeded {
		t.Errorf("cached plugin: %+v", pe.ended)
	}
}
