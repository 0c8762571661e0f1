package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	natscluster "github.com/burstgo/burst/cluster"
	"github.com/burstgo/burst/comm"
	"github.com/burstgo/burst/control"
	"github.com/burstgo/burst/functions"
	"github.com/burstgo/burst/functions/examples"
	"github.com/burstgo/burst/invoker"
)

// TestMain doubles as `burst fn check PATH`: the gateway checks plugins in a child
// process, and in these tests the child is this test binary, which loads plugins exactly
// as the in-process invoker does. Plugins are built once per test binary.
func TestMain(m *testing.M) {
	// The invokers start their function hosts from this test binary.
	if invoker.IsHost(os.Args[1:]) {
		os.Exit(invoker.HostMain(os.Args[1:]))
	}
	if len(os.Args) == 4 && os.Args[1] == "fn" && os.Args[2] == "check" {
		if err := functions.WriteCheck(os.Stdout, os.Args[3]); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	var err error
	pluginDir, err = os.MkdirTemp("", "burst-gateway-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(pluginDir)
	if code == 0 {
		// Idle keep-alive connections of http.DefaultClient are not the gateway's.
		http.DefaultClient.CloseIdleConnections()
		if err := goleak.Find(natsObjectPutRace); err != nil {
			fmt.Fprintln(os.Stderr, "goroutines left behind:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// natsObjectPutRace ignores a goroutine that nats.go's object store Put may leave: Put
// starts resetPendingAcksOnReconnect and, when done, sets the status channel it reads
// to nil; a goroutine that reads it after that waits on a nil channel for good
// (nats.go v1.55.0, jetstream/publish.go and object.go). It is not ours to end.
var natsObjectPutRace = goleak.IgnoreTopFunction("github.com/nats-io/nats.go/jetstream.(*jetStream).resetPendingAcksOnReconnect")

var pluginDir string

var builds sync.Map // name → func() (string, error)

// built returns the output of build, run once per name for the whole test binary.
func built(t testing.TB, name string, build func(out string) error) string {
	t.Helper()
	once, _ := builds.LoadOrStore(name, sync.OnceValues(func() (string, error) {
		out := filepath.Join(pluginDir, name)
		return out, build(out)
	}))
	out, err := once.(func() (string, error))()
	if err != nil {
		t.Fatalf("build %s: %v", name, err)
	}
	return out
}

// plugin builds the function in src (relative to the module root) with functions.Build.
func plugin(t testing.TB, src string) string {
	t.Helper()
	return built(t, strings.ReplaceAll(src, "/", "_")+".so", func(out string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		return functions.Build(ctx, filepath.Join("..", src), out)
	})
}

// goBuild runs `go build ARGS -o OUT .` in src: a program, or a plugin built unlike
// this binary.
func goBuild(t testing.TB, name, src string, args ...string) string {
	t.Helper()
	return built(t, name, func(out string) error {
		cmd := exec.Command("go", append(append([]string{"build"}, args...), "-o", out, ".")...)
		cmd.Dir = filepath.Join("..", src)
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%w\n%s", err, b)
		}
		return nil
	})
}

// cluster is a real embedded NATS server with JetStream, a gateway on a random port and
// in-process invokers.
type cluster struct {
	t        testing.TB
	dir      string
	srv      *server.Server
	auth     *natscluster.Auth // the server's: a closed bus, as burst serve's
	gw       *Gateway
	invokers []*invoker.Invoker
	conns    []*nats.Conn
	url      string
	key      string // sent as Authorization: Bearer by do, when set
}

type clusterOptions struct {
	dir        string // JetStream store; empty means a new temporary one
	slots      []int  // one invoker per entry; nil means one with the default slots
	maxPayload int32  // the NATS server's; zero means the embedded server's default
	isolation  control.Isolation
	gateway    Options
	lanesOff   bool // the invokers keep all traffic between packs on NATS
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("BURST_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func newCluster(t testing.TB, o clusterOptions) *cluster {
	t.Helper()
	c := &cluster{t: t, dir: o.dir}
	if c.dir == "" {
		c.dir = t.TempDir()
	}
	c.auth = natscluster.NewAuth()
	srv, err := natscluster.RunServer(natscluster.ServerOptions{Port: -1, StoreDir: filepath.Join(c.dir, "nats"), MaxPayload: o.maxPayload, Auth: c.auth})
	if err != nil {
		t.Fatal(err)
	}
	c.srv = srv
	t.Cleanup(c.close)
	if o.slots == nil {
		o.slots = []int{0}
	}
	for i, slots := range o.slots {
		c.addInvokerOpts(fmt.Sprintf("inv%d", i), invokerOpts{slots: slots, isolation: o.isolation, lanesOff: o.lanesOff})
	}
	c.startGateway(o.gateway)
	c.waitInvokers(len(o.slots))
	return c
}

// startGateway starts a gateway with opts and the tests' defaults on the cluster's store.
func (c *cluster) startGateway(opts Options) {
	c.t.Helper()
	opts.Conn = c.connect()
	setDefault(&opts.Addr, "127.0.0.1:0")
	setDefault(&opts.Exe, os.Args[0])
	setDefault(&opts.TempDir, c.t.TempDir())
	setDefault(&opts.Grace, 500*time.Millisecond)
	if opts.Logger == nil {
		opts.Logger = testLogger(c.t)
	}
	if opts.Revoked == nil {
		opts.Revoked = c.auth.Disconnect
	}
	gw, err := New(opts)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := gw.Start(context.Background()); err != nil {
		c.t.Fatal(err)
	}
	c.gw, c.url = gw, gw.URL()
	c.auth.SetAuthorizer(gw.AuthorizeNATS)
}

// connect opens an in-process connection as the node's own user.
func (c *cluster) connect() *nats.Conn {
	nc, err := natscluster.ConnectInProcess(c.srv, c.auth.Internal())
	if err != nil {
		c.t.Fatal(err)
	}
	c.conns = append(c.conns, nc)
	return nc
}

// testFunctions are the invokers' built-ins in these tests: the example apps, and gate.
var testFunctions = func() map[string]functions.Func {
	fns := examples.Builtins()
	fns["gate"] = gate
	return fns
}()

// gates are the channels that gate flares wait on, by name.
var gates sync.Map // string → chan struct{}

// gate is a built-in for tests: each worker waits until the test opens the gate named
// by the input (openGate), or its context ends, and answers its rank.
func gate(ctx context.Context, w *comm.Worker, input json.RawMessage) (any, error) {
	var name string
	if err := json.Unmarshal(input, &name); err != nil {
		return nil, fmt.Errorf("gate: input: %w", err)
	}
	ch, _ := gates.LoadOrStore(name, make(chan struct{}))
	select {
	case <-ch.(chan struct{}):
		return map[string]int{"rank": w.Rank()}, nil
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
}

var gateSeq atomic.Int64

// newGate names a gate of its own for a test.
func newGate(t testing.TB) string {
	return fmt.Sprintf("%s-%d", t.Name(), gateSeq.Add(1))
}

// openGate lets the workers of the gate flares named name go on.
func openGate(name string) {
	ch, _ := gates.LoadOrStore(name, make(chan struct{}))
	close(ch.(chan struct{}))
}

func (c *cluster) addInvoker(id string, slots int) *invoker.Invoker {
	return c.addInvokerOpts(id, invokerOpts{slots: slots})
}

// invokerOpts are what a test changes of an invoker.
type invokerOpts struct {
	slots     int
	isolation control.Isolation
	hostExe   string
	maxHosts  int
	// joinKey joins the invoker as `burst invoker --credentials` does: over TCP, as
	// its own user, its packs over connections of their flares'.
	joinKey  string
	lanesOff bool
}

func (c *cluster) addInvokerOpts(id string, o invokerOpts) *invoker.Invoker {
	nc := c.connect
	if o.joinKey != "" {
		nc = func() *nats.Conn {
			conn, err := nats.Connect(c.srv.ClientURL(), nats.UserInfo(control.InvokerUser(id), o.joinKey),
				nats.CustomInboxPrefix(control.InvokerInbox(id)), nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond),
				// A revoked key's refusals are what TestJoinedInvoker waits for, not news.
				nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
			if err != nil {
				c.t.Fatal(err)
			}
			c.conns = append(c.conns, conn)
			return conn
		}
	}
	inv, err := invoker.New(invoker.Options{
		ID: id, Conn: nc(), Slots: o.slots, Heartbeat: 50 * time.Millisecond, Functions: testFunctions,
		HostNATS: c.srv.ClientURL(), Isolation: o.isolation, HostExe: o.hostExe, MaxHosts: o.maxHosts,
		CacheDir: filepath.Join(c.dir, "plugins-"+id), Logger: testLogger(c.t), FlareConns: o.joinKey != "",
		Lanes: invoker.LaneOptions{Off: o.lanesOff},
	})
	if err != nil {
		c.t.Fatal(err)
	}
	if err := inv.Start(context.Background()); err != nil {
		c.t.Fatal(err)
	}
	c.invokers = append(c.invokers, inv)
	return inv
}

// waitInvokers waits until the gateway knows n invokers.
func (c *cluster) waitInvokers(n int) {
	c.t.Helper()
	eventually(c.t, func() bool {
		c.gw.mu.Lock()
		defer c.gw.mu.Unlock()
		return len(c.gw.invokers) == n
	}, "the gateway to know %d invokers", n)
}

func (c *cluster) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if c.gw != nil {
		if err := c.gw.Shutdown(ctx); err != nil {
			c.t.Errorf("gateway shutdown: %v", err)
		}
		c.gw = nil
	}
	for _, inv := range c.invokers {
		inv.Shutdown(ctx)
	}
	c.invokers = nil
	for _, nc := range c.conns {
		nc.Close()
	}
	c.conns = nil
	if c.srv != nil {
		c.srv.Shutdown()
		c.srv.WaitForShutdown()
		c.srv = nil
	}
}

// eventually polls cond until it holds, for at most 20 seconds.
func eventually(t testing.TB, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for "+format, args...)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// do sends a request and returns the status and body.
func (c *cluster) do(method, path string, body any) (int, []byte) {
	c.t.Helper()
	resp, b := c.send(method, path, body)
	return resp.StatusCode, b
}

// send sends a request, with the cluster's key if it has one, and returns the answer
// and its body, read.
func (c *cluster) send(method, path string, body any) (*http.Response, []byte) {
	c.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, c.url+path, r)
	if err != nil {
		c.t.Fatal(err)
	}
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp, out
}

// call sends a request, checks the status and decodes the answer into a T.
func call[T any](c *cluster, method, path string, body any, want int) T {
	c.t.Helper()
	status, b := c.do(method, path, body)
	if status != want {
		c.t.Fatalf("%s %s: status %d, want %d: %s", method, path, status, want, b)
	}
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		c.t.Fatalf("%s %s: %v: %s", method, path, err, b)
	}
	return v
}

// apiError checks that a request fails with status and code.
func (c *cluster) apiError(method, path string, body any, status int, code string) string {
	c.t.Helper()
	got, b := c.do(method, path, body)
	var e struct {
		Error Error `json:"error"`
	}
	if err := json.Unmarshal(b, &e); err != nil {
		c.t.Fatalf("%s %s: error body is not JSON: %v: %s", method, path, err, b)
	}
	if got != status || e.Error.Code != code || e.Error.Message == "" {
		c.t.Fatalf("%s %s: %d %q %q, want %d %q and a message", method, path, got, e.Error.Code, e.Error.Message, status, code)
	}
	return e.Error.Message
}

// run posts a flare with ?wait=true and returns its record.
func (c *cluster) run(req map[string]any) Record {
	c.t.Helper()
	return call[Record](c, "POST", "/flares?wait=true", req, http.StatusOK)
}

// waitFlare polls a flare until it has ended.
func (c *cluster) waitFlare(id string) Record {
	c.t.Helper()
	var rec Record
	eventually(c.t, func() bool {
		rec = call[Record](c, "GET", "/flares/"+id, nil, http.StatusOK)
		return rec.Status.Final()
	}, "flare %s to end", id)
	return rec
}
