package invoker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/burstgo/burst/control"
)

// hostAssignment is a pack of a one-minute flare of the function of digest.
func hostAssignment(flare, digest string, size, granularity, pack int) control.Assignment {
	return control.Assignment{Flare: flare, Digest: digest, Size: size, Granularity: granularity, Pack: pack,
		Timeout: control.Duration(time.Minute)}
}

// helloFile writes the hello plugin where a test's invoker can open it, and returns the
// path and its digest.
func helloFile(t *testing.T) (string, string) {
	t.Helper()
	so, err := helloPlugin()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "hello.so")
	if err := os.WriteFile(path, so, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, hashHex(so)
}

// poolState is what a host pool holds.
type poolState struct{ busy, byFlare, idle, finishing int }

func (p *hostPool) state() poolState {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := poolState{busy: len(p.busy), byFlare: len(p.byFlare)}
	for _, hs := range p.idle {
		s.idle += len(hs)
	}
	for _, n := range p.finishing {
		s.finishing += n
	}
	return s
}

// alive reports whether h's process still runs.
func (h *hostProc) alive() bool {
	select {
	case <-h.exited:
		return false
	default:
		return true
	}
}

// TestHostStartFails: a host that cannot be started (its binary gone since the
// invoker's check) fails the pack's acquire with the cause, and leaves nothing held.
func TestHostStartFails(t *testing.T) {
	e := newEnv(t, Options{})
	p := e.inv.hosts
	e.inv.opts.HostExe = filepath.Join(t.TempDir(), "gone")
	_, err := p.acquire(context.Background(), hostAssignment("f1", "d", 1, 1, 0), "/none.so", false)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("acquire: %v, want the missing binary named", err)
	}
	if s := p.state(); s != (poolState{}) {
		t.Errorf("pool after a failed start: %+v, want empty", s)
	}
	p.mu.Lock()
	health := p.health
	p.mu.Unlock()
	if health == "" {
		t.Error("the invoker stays healthy after it failed to start a host")
	}
}

// TestHostBadPlugin: a plugin that does not open fails its packs as the function's
// fault: the invoker stays healthy, and no host is kept for the flare.
func TestHostBadPlugin(t *testing.T) {
	e := newEnv(t, Options{})
	p := e.inv.hosts
	bad := filepath.Join(t.TempDir(), "bad.so")
	if err := os.WriteFile(bad, []byte("not a plugin"), 0o644); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		_, err := p.acquire(context.Background(), hostAssignment(fmt.Sprint("f", i), "d", 1, 1, 0), bad, false)
		if !errors.Is(err, errFunctionHost) {
			t.Errorf("acquire: %v, want the function's fault", err)
		}
	}
	if s := p.state(); s != (poolState{}) {
		t.Errorf("pool after failed plugins: %+v, want empty", s)
	}
	if hb := e.inv.Heartbeat(); hb.Health != "" {
		t.Errorf("unhealthy for a function's fault: %q", hb.Health)
	}
}

// TestHostAcquireCancelled: packs whose contexts end while their host starts leave no
// host held, and the host of the pack that went on is kept warm once it is released.
func TestHostAcquireCancelled(t *testing.T) {
	path, digest := helloFile(t)
	e := newEnv(t, Options{})
	p := e.inv.hosts

	// Two packs of a flare: the second is cancelled while the first starts the host.
	got := make(chan *hostProc, 1)
	go func() {
		h, err := p.acquire(context.Background(), hostAssignment("f1", digest, 2, 1, 0), path, false)
		if err != nil {
			t.Error(err)
		}
		got <- h
	}()
	eventually(t, func() bool { return p.state().byFlare == 1 }, "the first pack to start a host")
	ctx, cancel := context.WithCancel(context.Background())
	ret := make(chan error, 1)
	go func() {
		_, err := p.acquire(ctx, hostAssignment("f1", digest, 2, 1, 1), path, false)
		ret <- err
	}()
	cancel()
	if err := <-ret; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled pack: %v, want context.Canceled", err)
	}
	h := <-got
	if h == nil {
		t.FailNow()
	}
	p.release(h)
	if s := p.state(); s != (poolState{idle: 1}) {
		t.Errorf("pool after both packs: %+v, want one idle host", s)
	}
	if !h.alive() {
		t.Error("the warm host is gone")
	}

	// Single packs cancelled while their fresh hosts start.
	for i := range 5 {
		ctx, cancel := context.WithCancel(context.Background())
		go func() { time.Sleep(time.Duration(i) * 5 * time.Millisecond); cancel() }()
		a := hostAssignment(fmt.Sprint("g", i), digest+"-other", 1, 1, 0) // no warm host
		if h, err := p.acquire(ctx, a, path, false); err == nil {
			p.release(h)
		}
		cancel()
	}
	eventually(t, func() bool { s := p.state(); return s.busy == 0 && s.byFlare == 0 }, "no host held")
}

// TestHostFinishingCount: a host counts as finishing from its last pack's end to its
// release, never after, whichever comes first.
func TestHostFinishingCount(t *testing.T) {
	path, digest := helloFile(t)
	e := newEnv(t, Options{})
	p := e.inv.hosts
	for i := range 50 {
		a := hostAssignment(fmt.Sprint("f", i), digest, 1, 1, 0)
		h, err := p.acquire(context.Background(), a, path, false)
		if err != nil {
			t.Fatal(err)
		}
		k := control.PackRef{Flare: a.Flare}
		hr := &hostedRun{a: a, running: true, setup: make(chan error, 1), finished: make(chan struct{}), done: make(chan struct{}), reported: map[int]bool{}}
		h.mu.Lock()
		h.runs[k] = hr
		h.mu.Unlock()
		released := make(chan struct{})
		go func() { <-hr.finished; p.release(h); close(released) }()
		h.forward(k, &control.Event{Kind: control.EventEnded, Status: control.StatusSucceeded})
		<-released
		if s := p.state(); s.finishing != 0 {
			t.Fatalf("flare %d: %d hosts counted finishing after the release", i, s.finishing)
		}
		h.mu.Lock()
		delete(h.runs, k)
		h.mu.Unlock()
	}
}

// TestHostMessagesChecked feeds the invoker's reader of a host what a function could
// write to the host's pipe: a done for a pack still running, a line past any message's
// size, what is not JSON. Each kills the host, saying why, and ends no pack by itself.
func TestHostMessagesChecked(t *testing.T) {
	e := newEnv(t, Options{})
	huge := `{"op":"event","event":{"error":"` + strings.Repeat("A", 3*int(e.inv.nc.MaxPayload())) + "\"}}\n"
	for _, tt := range []struct{ name, msgs, says string }{
		{"done while running", `{"op":"done","flare":"f","pack":0}` + "\n", "said a pack was done that was not"},
		{"a line too long", huge, "wrote a message of more than"},
		{"not JSON", "not a message\n", "wrote what is not a message"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := e.inv.hosts.newHost("d")
			hr := &hostedRun{a: hostAssignment("f", "d", 1, 1, 0), answered: true, running: true, setup: make(chan error, 1),
				finished: make(chan struct{}), done: make(chan struct{}), reported: map[int]bool{}}
			h.runs[control.PackRef{Flare: "f"}] = hr
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			go func() {
				w.WriteString(tt.msgs)
				w.Close()
			}()
			h.read(r, make(chan hostMsg, 2))
			if reason, _ := h.cause(); !strings.Contains(reason, tt.says) {
				t.Errorf("cause %q, want it to say %q", reason, tt.says)
			}
			select {
			case <-hr.done:
				t.Error("the pack was ended by the message")
			default:
			}
		})
	}
}

// TestHostCheckReachesNATS: the invoker's probe of its hosts fails when hosts cannot
// reach NATS, and the invoker says so.
func TestHostCheckReachesNATS(t *testing.T) {
	e := newEnv(t, Options{})
	if hb := e.inv.Heartbeat(); hb.Health != "" {
		t.Fatalf("health %q at start", hb.Health)
	}
	e.inv.opts.HostNATS = "nats://127.0.0.1:1"
	e.inv.checkHosts()
	if hb := e.inv.Heartbeat(); !strings.Contains(hb.Health, "connect to NATS") {
		t.Errorf("health %q, want the NATS connection named", hb.Health)
	}
}
