package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
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

// TestWarmHosts runs a function twice: the second flare finds its host warm (the same
// process, not the gateway's or the invoker's); a host whose function left a goroutine
// behind is retired.
func TestWarmHosts(t *testing.T) {
	c := newCluster(t, clusterOptions{})
	call[FunctionRecord](c, "PUT", "/functions/hostile", mustRead(t, plugin(t, "gateway/testdata/hostile")), http.StatusCreated)
	pid := func(input string) int {
		t.Helper()
		rec := c.run(map[string]any{"function": "hostile", "input": input})
		if rec.Status != control.StatusSucceeded {
			t.Fatalf("%s: %s %q", input, rec.Status, rec.Error)
		}
		var r struct{ PID int }
		json.Unmarshal(rec.Results[0], &r)
		return r.PID
	}
	first, second := pid("pid"), pid("pid")
	if first == os.Getpid() || first == 0 {
		t.Fatalf("the function ran in process %d, the test's is %d: want a host of its own", first, os.Getpid())
	}
	if second != first {
		t.Errorf("second flare in host %d, want the warm host %d", second, first)
	}
	leaky := pid("leak")
	if leaky != first {
		t.Errorf("leaking flare in host %d, want the warm host %d", leaky, first)
	}
	// A host counts its goroutines once it has been idle for a moment (leakCheckAfter,
	// 100 ms): the leaky one is retired then, and the next flare gets a new host.
	eventually(t, func() bool {
		time.Sleep(150 * time.Millisecond) // idle, for the host to count
		return pid("pid") != leaky
	}, "the host that leaked a goroutine (%d) to be retired", leaky)
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
	c.addInvokerOpts("broken", invokerOpts{slots: 8, hostExe: "/nonexistent/burst"})
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
