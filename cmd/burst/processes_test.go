package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/burstgo/burst/cluster/clustertest"
	"github.com/burstgo/burst/control"
	"github.com/burstgo/burst/gateway"
)

// Tests that run burst as separate processes: this test binary, which is the burst
// binary when asBinary=1 is in its environment (TestMain), so that a gateway can be
// killed with SIGKILL under a flare and started again.

const asBinary = "BURST_TEST_AS_BINARY"

// proc is one burst process of a test.
type proc struct {
	cmd *exec.Cmd
	out *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// start runs `burst args...`, this test binary standing for burst; the test's end kills
// it if it still runs.
func start(t testing.TB, args ...string) *proc {
	t.Helper()
	return startBinary(t, os.Args[0], args...)
}

// startBinary runs `bin args...` as start does.
func startBinary(t testing.TB, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...), out: &syncBuffer{}}
	p.cmd.Env = append(os.Environ(), asBinary+"=1", "BURST_LOG_LEVEL=debug")
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
		if t.Failed() {
			t.Logf("burst %s:\n%s", strings.Join(args, " "), p.out.String())
		}
	})
	return p
}

// stop ends the process with sig and waits for it.
func (p *proc) stop(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	p.cmd.Wait()
}

// apiKeys are the admin keys the tests made, by the base URL of their gateway; apiClient
// sends each with the requests to its gateway.
var (
	apiKeys   sync.Map
	apiClient = &http.Client{Transport: keyTransport{}}
)

type keyTransport struct{}

func (keyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if k, ok := apiKeys.Load(r.URL.Scheme + "://" + r.URL.Host); ok {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+k.(string))
	}
	return http.DefaultTransport.RoundTrip(r)
}

// adminKey makes the first key of the gateway at api, an admin's, which apiClient sends
// from then on.
func adminKey(t testing.TB, api string) string {
	t.Helper()
	k := request[gateway.NewKey](t, "POST", api+"/keys", []byte(`{"role":"admin"}`), http.StatusCreated)
	apiKeys.Store(api, k.Secret)
	return k.Secret
}

// joinKeyFile makes a join key for invoker id and writes it to a file for --credentials.
func joinKeyFile(t testing.TB, api, id string) string {
	t.Helper()
	k := request[gateway.NewKey](t, "POST", api+"/keys", []byte(`{"role":"invoker","invoker":"`+id+`"}`), http.StatusCreated)
	file := filepath.Join(t.TempDir(), id+".key")
	if err := os.WriteFile(file, []byte(k.Secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// waitHTTP polls url until it answers 200.
func waitHTTP(t testing.TB, url string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := apiClient.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer 200: %v", url, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// getJSON reads url into a T.
func getJSON[T any](t *testing.T, url string) T {
	t.Helper()
	resp, err := apiClient.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var v T
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &v) != nil {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return v
}

// poll reads flare id until done says it is what the test waits for, and returns it.
func poll(t *testing.T, api, id, what string, done func(gateway.Record) bool) gateway.Record {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		rec := getJSON[gateway.Record](t, api+"/flares/"+id)
		if done(rec) {
			return rec
		}
		if time.Now().After(deadline) {
			t.Fatalf("flare %s: gave up waiting for %s: %+v", id, what, rec)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitRunning waits until every worker of flare id runs.
func waitRunning(t *testing.T, api, id string) {
	t.Helper()
	poll(t, api, id, "every worker to run", func(rec gateway.Record) bool {
		for _, w := range rec.Workers {
			if w.Status != control.StatusRunning || w.Start.IsZero() {
				return false
			}
		}
		return len(rec.Workers) == rec.Size
	})
}

// waitEnded waits until flare id has ended and returns its record.
func waitEnded(t *testing.T, api, id string) gateway.Record {
	t.Helper()
	return poll(t, api, id, "its end", func(rec gateway.Record) bool { return rec.Status.Final() })
}

func postFlare(t *testing.T, api, body string) gateway.Record {
	t.Helper()
	resp, err := apiClient.Post(api+"/flares", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rec gateway.Record
	if b, _ := io.ReadAll(resp.Body); resp.StatusCode != http.StatusAccepted || json.Unmarshal(b, &rec) != nil {
		t.Fatalf("POST /flares: %d %s", resp.StatusCode, b)
	}
	return rec
}

// TestGatewayKilledUnderAFlare is the acceptance run of a gateway crash: `burst gateway`
// and a separate `burst invoker`, a sleep flare of 4 workers and 5 s, the gateway killed
// with SIGKILL once every worker runs, and started again on the same data directory: the
// flare ends succeeded with its 4 results.
func TestGatewayKilledUnderAFlare(t *testing.T) {
	if testing.Short() {
		t.Skip("runs processes for several seconds")
	}
	dir := t.TempDir()
	natsPort, httpPort := clustertest.FreePort(t), clustertest.FreePort(t)
	api := "http://127.0.0.1:" + strconv.Itoa(httpPort)
	gatewayArgs := []string{"gateway", "--data", filepath.Join(dir, "gateway"), "--http", "127.0.0.1:" + strconv.Itoa(httpPort),
		"--nats-port", strconv.Itoa(natsPort)}
	gw := start(t, gatewayArgs...)
	waitHTTP(t, api+"/livez")
	// The bus is closed: an invoker without a join key is refused, and told what to do.
	natsURL := fmt.Sprintf("nats://127.0.0.1:%d", natsPort)
	if code, _, errOut := burstCmd([]string{"invoker", "--nats", natsURL, "--data", t.TempDir()}); code != 1 ||
		!strings.Contains(errOut, "Authorization Violation") || !strings.Contains(errOut, "--credentials") {
		t.Errorf("an invoker without a join key: exit %d, %q", code, errOut)
	}
	adminKey(t, api)
	invHTTP := "http://127.0.0.1:" + strconv.Itoa(clustertest.FreePort(t))
	start(t, "invoker", "--nats", fmt.Sprintf("nats://127.0.0.1:%d", natsPort), "--data", filepath.Join(dir, "invoker"), "--slots", "64",
		"--invoker-id", "inv", "--credentials", joinKeyFile(t, api, "inv"), "--http", strings.TrimPrefix(invHTTP, "http://"))
	waitHTTP(t, api+"/readyz")
	// The invoker's own probes and metrics, for an operator of several hosts.
	waitHTTP(t, invHTTP+"/readyz")
	if resp, err := http.Get(invHTTP + "/metrics"); err != nil {
		t.Error(err)
	} else {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(b), "burst_invoker_slots 64") {
			t.Errorf("the invoker's metrics have no burst_invoker_slots 64:\n%.500s", b)
		}
	}

	rec := postFlare(t, api, `{"function":"sleep","size":4,"granularity":2,"input":"5s"}`)
	waitRunning(t, api, rec.ID)
	gw.stop(t, syscall.SIGKILL)
	start(t, gatewayArgs...)
	waitHTTP(t, api+"/livez")

	got := waitEnded(t, api, rec.ID)
	if got.Status != control.StatusSucceeded || len(got.Workers) != 4 {
		t.Fatalf("after the crash: %s %q with %d workers, want succeeded", got.Status, got.Error, len(got.Workers))
	}
	res := getJSON[gateway.FlareResults](t, api+"/flares/"+rec.ID+"/results")
	for r, v := range res.Results {
		if b, _ := json.Marshal(v); string(b) != fmt.Sprintf(`{"rank":%d,"slept":"5s"}`, r) {
			t.Errorf("result %d: %s", r, b)
		}
	}
	if len(res.Results) != 4 {
		t.Errorf("%d results, want 4", len(res.Results))
	}
}

// TestServeKilledUnderAFlare kills `burst serve`, invoker and all, under a flare: started
// again on the same data directory, with the same invoker id, it records the flare as
// failed, its packs lost with the invoker's restart, and keeps what each worker did.
func TestServeKilledUnderAFlare(t *testing.T) {
	if testing.Short() {
		t.Skip("runs processes for several seconds")
	}
	dir := t.TempDir()
	httpPort := clustertest.FreePort(t)
	api := "http://127.0.0.1:" + strconv.Itoa(httpPort)
	args := []string{"serve", "--data", dir, "--http", "127.0.0.1:" + strconv.Itoa(httpPort), "--nats-port", "-1"}
	serve := start(t, args...)
	waitHTTP(t, api+"/readyz")
	rec := postFlare(t, api, `{"function":"sleep","size":4,"granularity":2,"input":"1m"}`)
	waitRunning(t, api, rec.ID)
	serve.stop(t, syscall.SIGKILL)
	start(t, args...)
	waitHTTP(t, api+"/livez")

	got := waitEnded(t, api, rec.ID)
	t.Logf("after the crash: %s %q", got.Status, got.Error)
	if got.Status != control.StatusFailed || !strings.Contains(got.Error, "no longer runs the flare's packs") || len(got.Workers) != 4 {
		t.Fatalf("after the crash: %s %q with %d workers", got.Status, got.Error, len(got.Workers))
	}
	for _, w := range got.Workers {
		if w.Status != control.StatusFailed || w.Start.IsZero() {
			t.Errorf("worker %+v: want failed, with its start kept", w)
		}
	}
}

// binaryDir holds the binary realBinary builds.
var binaryDir string

// realBinary builds the burst binary, once per test binary, for the tests that must run
// the real thing, and returns its path. TestMain removes it.
var realBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "burst-cmd-binary-")
	if err != nil {
		return "", err
	}
	binaryDir = dir
	bin := filepath.Join(dir, "burst")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// realPlugin builds the real burst binary and, with it, the plugin of
// gateway/testdata/NAME, as a user builds one: with the binary that serves it.
func realPlugin(t *testing.T, name string) (bin string, plugin []byte) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds a plugin and runs processes")
	}
	bin, err := realBinary()
	if err != nil {
		t.Fatal(err)
	}
	so := filepath.Join(t.TempDir(), name+".so")
	if out, err := exec.Command(bin, "fn", "build", "../../gateway/testdata/"+name, "-o", so).CombinedOutput(); err != nil {
		t.Fatalf("burst fn build: %v\n%s", err, out)
	}
	plugin, err = os.ReadFile(so)
	if err != nil {
		t.Fatal(err)
	}
	return bin, plugin
}

// request sends a request to the API and decodes the answer into a T.
func request[T any](t testing.TB, method, url string, body []byte, want int) T {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := apiClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var v T
	if resp.StatusCode != want || json.Unmarshal(b, &v) != nil {
		t.Fatalf("%s %s: %d %s, want %d", method, url, resp.StatusCode, b, want)
	}
	return v
}

// TestServeSurvivesHostileFunctions builds burst, runs `burst serve` and gives it, one
// after the other, functions that panic in a goroutine, call os.Exit, allocate without
// bound and loop without looking at their context, each beside a bystander flare: the
// server answers throughout, the bystanders succeed, and a SIGTERM with a loop running
// still ends it cleanly, without waiting out its shutdown timeout.
func TestServeSurvivesHostileFunctions(t *testing.T) {
	bin, plugin := realPlugin(t, "hostile")
	httpPort := clustertest.FreePort(t)
	api := "http://127.0.0.1:" + strconv.Itoa(httpPort)
	data := t.TempDir()
	serve := startBinary(t, bin, "serve", "--data", data, "--http", "127.0.0.1:"+strconv.Itoa(httpPort), "--nats-port", "-1",
		"--shutdown-timeout", "1m")
	waitHTTP(t, api+"/readyz")
	request[gateway.FunctionRecord](t, "PUT", api+"/functions/hostile", plugin, http.StatusCreated)
	request[gateway.FunctionRecord](t, "PUT", api+"/functions/hungry?memory=32MiB", plugin, http.StatusCreated)
	for _, tt := range []struct {
		flare  string
		status control.Status
		says   string
	}{
		{`{"function":"hostile","size":2,"input":"panic"}`, control.StatusFailed, "panic: hostile goroutine"},
		{`{"function":"hostile","input":"exit"}`, control.StatusFailed, "exited with status 1"},
		{`{"function":"hungry","input":"alloc"}`, control.StatusFailed, "killed: over its 32 MiB memory limit"},
		{`{"function":"hostile","input":"spin","timeout":"2s"}`, control.StatusTimedOut, "timed out after 2s"},
	} {
		var bystander gateway.Record
		var wg sync.WaitGroup
		wg.Go(func() {
			bystander = request[gateway.Record](t, "POST", api+"/flares?wait=true", []byte(`{"function":"sleep","size":4,"input":"300ms"}`), http.StatusOK)
		})
		rec := request[gateway.Record](t, "POST", api+"/flares?wait=true", []byte(tt.flare), http.StatusOK)
		wg.Wait()
		if rec.Status != tt.status || !strings.Contains(rec.Error, tt.says) {
			t.Errorf("%s: %s %q, want %s saying %q", tt.flare, rec.Status, rec.Error, tt.status, tt.says)
		}
		if bystander.Status != control.StatusSucceeded {
			t.Errorf("bystander of %s: %s %q", tt.flare, bystander.Status, bystander.Error)
		}
		waitHTTP(t, api+"/readyz")
	}
	// A loop that ignores its context, and a SIGTERM.
	spin := postFlare(t, api, `{"function":"hostile","input":"spin"}`)
	waitRunning(t, api, spin.ID)
	if hosts(data) == 0 {
		t.Fatal("no function host runs the spinning pack")
	}
	serve.stop(t, syscall.SIGTERM)
	if code := serve.cmd.ProcessState.ExitCode(); code != 0 || strings.Contains(serve.out.String(), "still running at shutdown") {
		t.Errorf("serve exited %d:\n%s", code, serve.out.String())
	}
	if n := hosts(data); n != 0 {
		t.Errorf("%d function hosts outlived serve", n)
	}
}

// hosts counts the processes whose command line names a plugin under data: function
// hosts of a server with that data directory.
func hosts(data string) int {
	n := 0
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(b), "host") && strings.Contains(string(b), data) {
			if st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil && !strings.Contains(string(st), ") Z ") {
				n++
			}
		}
	}
	return n
}
