package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/burstgo/burst/control"
)

// Function hosts (invoker/host.go) against functions that do what they must not: each
// hostile flare runs beside a bystander flare of another function, which must succeed;
// the hostile one fails or times out with its cause named, the gateway stays ready, the
// slots come back, and a loop that ignores its context stops.

func TestHostileFunctions(t *testing.T) {
	// The gateway waits for the packs' last reports longer than the invoker gives a
	// pack that ignores its cancel, so that the kill is in the record.
	c := newCluster(t, clusterOptions{slots: []int{64}, gateway: Options{Grace: 10 * time.Second}})
	so := mustRead(t, plugin(t, "gateway/testdata/hostile"))
	call[FunctionRecord](c, "PUT", "/functions/hostile", so, http.StatusCreated)
	hungry := call[FunctionRecord](c, "PUT", "/functions/hungry?memory=32MiB", so, http.StatusCreated)
	if hungry.Limits.Memory != 32<<20 {
		t.Fatalf("limits %+v, want 32 MiB of memory", hungry.Limits)
	}
	call[FunctionRecord](c, "PUT", "/functions/greet", mustRead(t, plugin(t, "functions/examples/hello/plugin")), http.StatusCreated)
	tests := []struct {
		name     string
		flare    map[string]any
		status   control.Status
		says     string
		spinning bool
	}{
		{"a goroutine panics", map[string]any{"function": "hostile", "size": 2, "input": "panic"},
			control.StatusFailed, "the function's host crashed: panic: hostile goroutine of rank", false},
		{"os.Exit(1)", map[string]any{"function": "hostile", "size": 2, "input": "exit"},
			control.StatusFailed, "the function's host exited with status 1", false},
		{"memory without bound", map[string]any{"function": "hungry", "input": "alloc"},
			control.StatusFailed, "killed: over its 32 MiB memory limit", false},
		{"a loop that ignores its context", map[string]any{"function": "hostile", "input": "spin", "timeout": "2s"},
			control.StatusTimedOut, "timed out after 2s", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.t = t
			var bystander Record
			var wg sync.WaitGroup
			wg.Go(func() {
				// Another function's flare, on the same invoker at the same time.
				bystander = c.run(map[string]any{"function": "greet", "size": 4, "granularity": 2, "input": "bystander"})
			})
			rec := c.run(tt.flare)
			wg.Wait()
			if rec.Status != tt.status || !strings.Contains(rec.Error, tt.says) {
				t.Errorf("hostile flare %s %q, want %s saying %q", rec.Status, rec.Error, tt.status, tt.says)
			}
			if bystander.Status != control.StatusSucceeded {
				t.Errorf("bystander %s %q, want succeeded", bystander.Status, bystander.Error)
			}
			if status, body := c.do("GET", "/readyz", nil); status != http.StatusOK {
				t.Errorf("readyz %d %s", status, body)
			}
			eventually(t, func() bool {
				l := call[struct{ Invokers []InvokerInfo }](c, "GET", "/invokers", nil, http.StatusOK)
				return l.Invokers[0].Used == 0
			}, "the slots to come back")
			if tt.spinning {
				// The flare is recorded once its host is gone: the loop is no more.
				pid := spinnerPID(t, c, rec.ID)
				if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
					st, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
					t.Errorf("the spinning host %d is still there: %s", pid, st)
				}
				if w := rec.Workers[0]; !strings.Contains(w.Error, "did not stop within") {
					t.Errorf("worker %+v, want the kill named", w)
				}
			}
		})
	}
}

// spinnerPID reads the process id that the spinning worker logged.
func spinnerPID(t *testing.T, c *cluster, id string) int {
	t.Helper()
	l := call[FlareLogs](c, "GET", "/flares/"+id+"/logs", nil, http.StatusOK)
	for _, line := range l.Lines {
		if line.Message == "spinning" {
			pid, err := strconv.Atoi(line.Attrs["pid"])
			if err == nil {
				return pid
			}
		}
	}
	t.Fatalf("no pid in the logs: %+v", l.Lines)
	return 0
}

// TestWarmHosts runs a function's flares in one warm host (a process of its own, not
// the gateway's or the invoker's), whatever their packs and backends; a host whose
// function left a goroutine behind takes no more flares.
func TestWarmHosts(t *testing.T) {
	c := newCluster(t, clusterOptions{})
	call[FunctionRecord](c, "PUT", "/functions/hostile", mustRead(t, plugin(t, "gateway/testdata/hostile")), http.StatusCreated)
	pid := func(req map[string]any) int {
		t.Helper()
		req["function"] = "hostile"
		rec := c.run(req)
		if rec.Status != control.StatusSucceeded {
			t.Fatalf("%v: %s %q", req, rec.Status, rec.Error)
		}
		pids := map[int]bool{}
		for _, res := range rec.Results {
			var r struct{ PID int }
			json.Unmarshal(res, &r)
			pids[r.PID] = true
		}
		if len(pids) != 1 {
			t.Fatalf("%v: the packs ran in processes %v, want one host", req, pids)
		}
		for p := range pids {
			return p
		}
		return 0
	}
	first := pid(map[string]any{"input": "pid"})
	if first == os.Getpid() || first == 0 {
		t.Fatalf("the function ran in process %d, the test's is %d: want a host of its own", first, os.Getpid())
	}
	for _, req := range []map[string]any{
		{"input": "pid"},
		{"input": "pid", "size": 4, "granularity": 2},
		{"input": "pid", "size": 4, "granularity": 2, "backend": "memory"},
		{"input": "pid", "size": 4, "granularity": 2, "backend": "jetstream"},
		{"input": "pid", "size": 4, "granularity": 2, "backend": "jetstream"},
		{"input": "pid", "size": 4, "granularity": 2},
	} {
		// Now and then idle long enough for the host to count its goroutines.
		time.Sleep(150 * time.Millisecond)
		if got := pid(req); got != first {
			t.Errorf("%v ran in host %d, want the warm %d: retired for a leak it did not have?", req, got, first)
			first = got
		}
	}
	// A leftover goroutine: the next flare, at once or after the host counted, runs in
	// a new host.
	for _, wait := range []time.Duration{0, 150 * time.Millisecond} {
		leaky := pid(map[string]any{"input": "leak"})
		time.Sleep(wait)
		if next := pid(map[string]any{"input": "pid"}); next == leaky {
			t.Errorf("%s after a flare that left a goroutine, the next ran in the same host %d", wait, leaky)
		}
	}
	// One that panics later must not fail the next flare, which did nothing wrong.
	late := pid(map[string]any{"input": "latepanic"})
	if next := pid(map[string]any{"input": "wait", "size": 2}); next == late {
		t.Errorf("the flare after a late panic ran in the same host %d", late)
	}
}

// TestHostInitPanic uploads a plugin whose init panics in a host: its flare fails
// with the panic named, as the function's fault; the invoker stays healthy and runs
// other flares.
func TestHostInitPanic(t *testing.T) {
	c := newCluster(t, clusterOptions{})
	call[FunctionRecord](c, "PUT", "/functions/broken", mustRead(t, plugin(t, "gateway/testdata/initpanic")), http.StatusCreated)
	rec := c.run(map[string]any{"function": "broken", "size": 2})
	if rec.Status != control.StatusFailed || !strings.Contains(rec.Error, "panic: init of a broken plugin") {
		t.Errorf("flare %s %q, want failed with the panic", rec.Status, rec.Error)
	}
	l := call[struct{ Invokers []InvokerInfo }](c, "GET", "/invokers", nil, http.StatusOK)
	if i := l.Invokers[0]; i.Status != "ready" {
		t.Errorf("invoker %+v after a plugin's fault, want ready", i)
	}
	call[FunctionRecord](c, "PUT", "/functions/greet", mustRead(t, plugin(t, "functions/examples/hello/plugin")), http.StatusCreated)
	for _, fn := range []string{"hello", "greet"} {
		if rec := c.run(map[string]any{"function": fn, "input": "after"}); rec.Status != control.StatusSucceeded {
			t.Errorf("%s after it: %s %q", fn, rec.Status, rec.Error)
		}
	}
}

// TestHostChildProcess runs a function that starts a process holding its host's output,
// and exits: the flare fails with the exit named, at once, and the process is killed
// with its host.
func TestHostChildProcess(t *testing.T) {
	c := newCluster(t, clusterOptions{slots: []int{64}})
	call[FunctionRecord](c, "PUT", "/functions/hostile", mustRead(t, plugin(t, "gateway/testdata/hostile")), http.StatusCreated)
	rec := c.run(map[string]any{"function": "hostile", "input": "child"})
	if rec.Status != control.StatusFailed || !strings.Contains(rec.Error, "exited with status 1") {
		t.Errorf("flare %s %q, want failed with the exit named", rec.Status, rec.Error)
	}
	if hb := c.invokers[0].Heartbeat(); hb.Used != 0 || hb.Packs != 0 {
		t.Errorf("invoker: %d slots used, %d packs after the flare", hb.Used, hb.Packs)
	}
	// Killed with the host, before the flare ended; gone from /proc once reaped.
	eventually(t, func() bool { return len(processes("sleep\x003600.25\x00")) == 0 },
		"the function's child process to go with its host")
}

// processes returns the ids of the processes whose command line is cmdline.
func processes(cmdline string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline"); err == nil && string(b) == cmdline {
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestHostForgedMessages runs functions that write to their host's pipe to the invoker:
// messages as the host's change nothing of other flares, and what is not a message gets
// the host killed, saying why.
func TestHostForgedMessages(t *testing.T) {
	c := newCluster(t, clusterOptions{slots: []int{64}})
	call[FunctionRecord](c, "PUT", "/functions/hostile", mustRead(t, plugin(t, "gateway/testdata/hostile")), http.StatusCreated)
	if rec := c.run(map[string]any{"function": "hostile", "input": "forge"}); rec.Status != control.StatusSucceeded {
		t.Errorf("forging flare %s %q, want succeeded", rec.Status, rec.Error)
	}
	rec := c.run(map[string]any{"function": "hostile", "input": "garble", "size": 2})
	if rec.Status != control.StatusFailed || !strings.Contains(rec.Error, "killed: it wrote what is not a message") {
		t.Errorf("garbling flare %s %q, want failed, saying why", rec.Status, rec.Error)
	}
	eventually(t, func() bool { return c.invokers[0].Heartbeat().Used == 0 }, "the slots to come back")
}

// TestMaxHosts runs more flares at once than an invoker may have hosts: they share the
// hosts, each waiting for one to be free, and all succeed.
func TestMaxHosts(t *testing.T) {
	c := newCluster(t, clusterOptions{slots: []int{}})
	c.addInvokerOpts("small", invokerOpts{slots: 64, maxHosts: 2})
	c.waitInvokers(1)
	call[FunctionRecord](c, "PUT", "/functions/hostile", mustRead(t, plugin(t, "gateway/testdata/hostile")), http.StatusCreated)
	var ids []string
	for range 6 {
		ids = append(ids, call[Record](c, "POST", "/flares", map[string]any{"function": "hostile", "input": "wait"}, http.StatusAccepted).ID)
	}
	pids := map[int]bool{}
	for _, id := range ids {
		if rec := c.waitFlare(id); rec.Status != control.StatusSucceeded {
			t.Fatalf("flare %s %q", rec.Status, rec.Error)
		}
		res := call[struct{ Results []struct{ PID int } }](c, "GET", "/flares/"+id+"/results", nil, http.StatusOK)
		pids[res.Results[0].PID] = true
	}
	if len(pids) > 2 {
		t.Errorf("6 flares ran in %d hosts, want at most 2", len(pids))
	}
}

// TestIsolationNone runs an uploaded function in the invoker's own process, as
// --isolation=none does.
func TestIsolationNone(t *testing.T) {
	c := newCluster(t, clusterOptions{slots: []int{}})
	c.addInvokerOpts("trusting", invokerOpts{slots: 8, isolation: control.IsolationNone})
	c.waitInvokers(1)
	call[FunctionRecord](c, "PUT", "/functions/hostile", mustRead(t, plugin(t, "gateway/testdata/hostile")), http.StatusCreated)
	rec := c.run(map[string]any{"function": "hostile", "input": "pid"})
	if string(rec.Results[0]) != fmt.Sprintf(`{"pid":%d,"rank":0}`, os.Getpid()) {
		t.Errorf("ran as %s, want in this process, %d", rec.Results[0], os.Getpid())
	}
	l := call[struct{ Invokers []InvokerInfo }](c, "GET", "/invokers", nil, http.StatusOK)
	if i := l.Invokers[0]; i.Isolation != control.IsolationNone || i.MemoryLimit != "none" {
		t.Errorf("invoker %+v, want isolation none", i)
	}
}

// TestUnhealthyInvoker joins an invoker that cannot start function hosts: it says so,
// the gateway lists it unhealthy and places nothing on it.
func TestUnhealthyInvoker(t *testing.T) {
	c := newCluster(t, clusterOptions{slots: []int{}})
	exe := filepath.Join(t.TempDir(), "burst")
	c.addInvokerOpts("broken", invokerOpts{slots: 8, hostExe: exe})
	eventually(t, func() bool {
		l := call[struct{ Invokers []InvokerInfo }](c, "GET", "/invokers", nil, http.StatusOK)
		return len(l.Invokers) == 1
	}, "the invoker to be listed")
	l := call[struct{ Invokers []InvokerInfo }](c, "GET", "/invokers", nil, http.StatusOK)
	if i := l.Invokers[0]; i.Status != "unhealthy" || !strings.Contains(i.Reason, "cannot start function hosts") {
		t.Errorf("invoker %+v, want unhealthy, saying why", i)
	}
	c.apiError("POST", "/flares", map[string]any{"function": "hello"}, http.StatusServiceUnavailable, CodeNoInvokers)
	c.apiError("GET", "/readyz", nil, http.StatusServiceUnavailable, CodeNotReady)

	// The binary is back: the invoker finds out by itself, and runs flares again.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(self, exe); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool {
		l := call[struct{ Invokers []InvokerInfo }](c, "GET", "/invokers", nil, http.StatusOK)
		return l.Invokers[0].Status == "ready"
	}, "the invoker to be ready again")
	call[FunctionRecord](c, "PUT", "/functions/greet", mustRead(t, plugin(t, "functions/examples/hello/plugin")), http.StatusCreated)
	if rec := c.run(map[string]any{"function": "greet", "input": "again"}); rec.Status != control.StatusSucceeded {
		t.Errorf("an uploaded function's flare on the healed invoker: %s %q", rec.Status, rec.Error)
	}
}

// TestFunctionLimits sets limits with an upload, and checks that the record shows them
// and that flares keep to them.
func TestFunctionLimits(t *testing.T) {
	c := newCluster(t, clusterOptions{})
	so := mustRead(t, plugin(t, "functions/examples/hello/plugin"))
	for _, bad := range []string{"memory=lots", "memory=512", "memory=8GiB", "timeout=soon", "timeout=100h", "result_bytes=0", "colour=blue"} {
		c.apiError("PUT", "/functions/greet?"+bad, so, http.StatusBadRequest, CodeBadRequest)
	}
	plain := call[FunctionRecord](c, "PUT", "/functions/plain", so, http.StatusCreated)
	if plain.Limits != (Limits{Memory: 256 << 20, Timeout: control.Duration(DefaultTimeout), LogBytes: 1 << 20, ResultBytes: 1 << 20}) {
		t.Errorf("default limits %+v", plain.Limits)
	}
	fn := call[FunctionRecord](c, "PUT", "/functions/greet?memory=64MiB&timeout=2s&result_bytes=100&log_bytes=4KiB", so, http.StatusCreated)
	want := Limits{Memory: 64 << 20, Timeout: control.Duration(2 * time.Second), LogBytes: 4 << 10, ResultBytes: 100}
	if fn.Limits != want {
		t.Fatalf("limits %+v, want %+v", fn.Limits, want)
	}
	if got := call[FunctionRecord](c, "GET", "/functions/greet", nil, http.StatusOK); got.Limits != want {
		t.Errorf("GET shows %+v", got.Limits)
	}
	// The same plugin with other limits is a new version.
	if v2 := call[FunctionRecord](c, "PUT", "/functions/greet?memory=64MiB&timeout=2s&result_bytes=100&log_bytes=4KiB&memory=65MiB", so, http.StatusOK); v2.Version != 2 {
		t.Errorf("new limits: version %d, want 2", v2.Version)
	}
	c.apiError("POST", "/flares", map[string]any{"function": "greet", "timeout": "5s"}, http.StatusBadRequest, CodeBadRequest)
	rec := c.run(map[string]any{"function": "greet", "input": "short"})
	if rec.Status != control.StatusSucceeded || time.Duration(rec.Timeout) != 2*time.Second {
		t.Errorf("flare %s %q with timeout %s, want succeeded with the function's 2s", rec.Status, rec.Error, rec.Timeout)
	}
	rec = c.run(map[string]any{"function": "greet", "input": strings.Repeat("x", 200)})
	if rec.Status != control.StatusFailed || !strings.Contains(rec.Error, "over the 100-byte bound") {
		t.Errorf("large result: %s %q", rec.Status, rec.Error)
	}
}

// TestLargeResultBytes raises a function's result bound above the invokers' default of
// 1 MiB: a worker's larger result passes.
func TestLargeResultBytes(t *testing.T) {
	c := newCluster(t, clusterOptions{})
	so := mustRead(t, plugin(t, "functions/examples/hello/plugin"))
	call[FunctionRecord](c, "PUT", "/functions/greet?result_bytes=4MiB", so, http.StatusCreated)
	input := strings.Repeat("x", 1500<<10)
	rec := c.run(map[string]any{"function": "greet", "input": input})
	if rec.Status != control.StatusSucceeded || !strings.Contains(string(rec.Results[0]), input) {
		t.Errorf("a 1.5 MiB result under a 4 MiB bound: %s %q", rec.Status, rec.Error)
	}
}

// TestLimitsWithinMaxima: a function registered under larger maxima (a gateway started
// with other options before) runs within the maxima of now.
func TestLimitsWithinMaxima(t *testing.T) {
	old := Limits{Memory: 8 << 30, Timeout: control.Duration(48 * time.Hour), LogBytes: 64 << 20, ResultBytes: 1 << 10}
	got := old.within(MaxLimits)
	want := Limits{Memory: MaxLimits.Memory, Timeout: MaxLimits.Timeout, LogBytes: MaxLimits.LogBytes, ResultBytes: 1 << 10}
	if got != want {
		t.Errorf("within: %+v, want %+v", got, want)
	}
}
