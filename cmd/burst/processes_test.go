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

// start runs `burst args...`; the test's end kills it if it still runs.
func start(t *testing.T, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(os.Args[0], args...), out: &syncBuffer{}}
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

// waitHTTP polls url until it answers 200.
func waitHTTP(t *testing.T, url string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := http.Get(url)
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
	resp, err := http.Get(url)
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
	resp, err := http.Post(api+"/flares", "application/json", strings.NewReader(body))
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
	natsPort, httpPort := freePort(t), freePort(t)
	api := "http://127.0.0.1:" + strconv.Itoa(httpPort)
	gatewayArgs := []string{"gateway", "--data", filepath.Join(dir, "gateway"), "--http", "127.0.0.1:" + strconv.Itoa(httpPort),
		"--nats-port", strconv.Itoa(natsPort)}
	gw := start(t, gatewayArgs...)
	waitHTTP(t, api+"/livez")
	start(t, "invoker", "--nats", fmt.Sprintf("nats://127.0.0.1:%d", natsPort), "--data", filepath.Join(dir, "invoker"), "--slots", "64")
	waitHTTP(t, api+"/readyz")

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
	httpPort := freePort(t)
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
