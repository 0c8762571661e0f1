package comm

import (
	"context"
	"fmt"
	"github.com/burstgo/burst/cluster"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"
)

// The package's tests share one embedded NATS server with JetStream; TestMain shuts it
// down and then checks that no goroutine is left behind.
var (
	testServerOnce sync.Once
	testServer     *server.Server
	testServerDir  string
	testServerErr  error
)

// hangGuard bounds a wait that must end, so that a hang fails its test instead of
// stalling the suite. It is not a claim about speed, which the benchmarks measure: it
// is far above any time the wait takes on a loaded machine.
const hangGuard = time.Minute

func TestMain(m *testing.M) {
	code := m.Run()
	if testServer != nil {
		testServer.Shutdown()
		testServer.WaitForShutdown()
		os.RemoveAll(testServerDir)
	}
	if code == 0 {
		if err := goleak.Find(goleak.IgnoreTopFunction("time.Sleep")); err != nil {
			fmt.Fprintln(os.Stderr, "goroutines left behind:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func natsServer(t testing.TB) *server.Server {
	t.Helper()
	testServerOnce.Do(func() {
		testServerDir, testServerErr = os.MkdirTemp("", "burst-comm-test-")
		if testServerErr != nil {
			return
		}
		testServer, testServerErr = cluster.RunServer(cluster.ServerOptions{Port: -1, StoreDir: testServerDir})
	})
	if testServerErr != nil {
		t.Fatal(testServerErr)
	}
	return testServer
}

// connect opens an in-process connection to the test server, closed with the test.
func connect(t testing.TB) *nats.Conn {
	t.Helper()
	nc, err := cluster.ConnectInProcess(natsServer(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// transports makes a fresh transport of each kind.
var transports = []struct {
	name string
	make func(t testing.TB) Transport
}{
	{"memory", func(testing.TB) Transport { return NewMemoryTransport() }},
	{"nats", func(t testing.TB) Transport { return NewNATSTransport(connect(t)) }},
	{"jetstream", func(t testing.TB) Transport {
		tr, err := NewJetStreamTransport(connect(t), JetStreamOptions{Memory: true})
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}},
}

var flareCount struct {
	sync.Mutex
	n int
}

// flareID gives every test flare its own id, so streams and subjects never collide.
func flareID(t testing.TB) string {
	flareCount.Lock()
	defer flareCount.Unlock()
	flareCount.n++
	return fmt.Sprintf("t%d-%d", time.Now().UnixNano()%1e9, flareCount.n)
}

// newGroup builds a group and closes it with the test.
func newGroup(t testing.TB, cfg Config) *Group {
	t.Helper()
	if cfg.Flare == "" {
		cfg.Flare = flareID(t)
	}
	g, err := NewGroup(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := g.Close(); err != nil {
			t.Error(err)
		}
	})
	return g
}

// run runs fn on every worker with a watchdog, so a bug shows as a failure, not a hang.
func run(t testing.TB, g *Group, fn func(ctx context.Context, w *Worker) error) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return g.Run(ctx, fn)
}
