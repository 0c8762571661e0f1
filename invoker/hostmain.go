package invoker

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/burstgo/burst/comm"
	"github.com/burstgo/burst/control"
	"github.com/burstgo/burst/datasets"
	"github.com/burstgo/burst/functions"
)

// A function host is a child process of an invoker that runs the packs of one uploaded
// function, so that whatever the function does (a panic in a goroutine of its own,
// os.Exit, a fatal runtime error, memory without bound) ends that process, not the
// invoker. It is the burst binary itself, started as `burst host` with hostCookie in its
// environment; HostMain is its main.
//
// The host opens the plugin once, then takes commands from the invoker on file descriptor 3 and answers on 4, a JSON value a
// message: "run" a pack (it answers "setup" once the pack listens, forwards the pack's
// events to the gateway through the invoker, and "done" once the pack is closed),
// "cancel" a flare's packs, "exit". The packs of a flare that talk to other packs do so
// over a NATS connection of the host's own, as the flare's user on a closed bus (so that
// the function reaches only its own flare's subjects), open while the flare has packs
// in the host: the pack's comm traffic goes from the host to the server, and the
// workers of a pack still share its memory. Idle for a moment, it says "leaked" if it has more
// goroutines than after its warm-up; it counts them again before it takes a pack of a
// new flare, once the last flare's packs have closed, and refuses the pack if its
// function left some ("setup" with the fault "leaked"): the invoker runs the pack in a
// new host. Its stdout and stderr are the function's and the
// runtime's: the invoker keeps the last of them to say why a host died.

// hostCookie is the environment variable an invoker sets for its hosts: `burst host` by
// hand, without it, refuses to run.
const hostCookie = "BURST_FUNCTION_HOST"

// hostCookieValue tells the host it was started by an invoker of this protocol level.
var hostCookieValue = fmt.Sprintf("burst-host-%d", control.Version)

// IsHost reports whether this process was started by an invoker as a function host,
// with args (os.Args[1:]) beginning with "host". A binary that may be an invoker's host
// (the burst binary, a test binary standing for it) calls HostMain then.
func IsHost(args []string) bool {
	return len(args) > 0 && args[0] == "host" && os.Getenv(hostCookie) == hostCookieValue
}

// hostCmd is a command of the invoker to its host.
type hostCmd struct {
	Op string `json:"op"` // run, cancel, exit
	// Run is the pack to run, with its limits.
	Run *control.Assignment `json:"run,omitempty"`
	// Memory is the host's soft memory limit (GOMEMLIMIT) while it runs Run.
	Memory int64 `json:"memory,omitempty"`
	// Settings are the invoker's bounds of a pack's workers' logs and results.
	Settings *hostSettings `json:"settings,omitempty"`
	// The flare and pack to cancel (Pack -1: all of the flare's), and how.
	Flare  string         `json:"flare,omitempty"`
	Pack   int            `json:"pack,omitempty"`
	Status control.Status `json:"status,omitempty"`
	Reason string         `json:"reason,omitempty"`
}

// hostSettings are what a pack runs with in the invoker, for a pack in a host.
type hostSettings struct {
	LogLines   int    `json:"log_lines"`
	LogLevel   string `json:"log_level"`
	MaxResult  int    `json:"max_result"`
	MaxPayload int    `json:"max_payload"` // the NATS server's
}

// hostMsg is a message of a host to its invoker.
type hostMsg struct {
	Op    string `json:"op"` // started, ready, setup, event, done, leaked
	Flare string `json:"flare,omitempty"`
	Pack  int    `json:"pack"`
	Error string `json:"error,omitempty"` // ready or setup failed
	// Fault says whose fault a failed ready is: "function" (the plugin does not open) or
	// "platform" (the check's host cannot reach NATS); "leaked" on a failed setup says that the
	// host has goroutines of earlier flares and runs no more packs.
	Fault string         `json:"fault,omitempty"`
	Event *control.Event `json:"event,omitempty"`
	// Goroutines is the host's count when it is ready, and when it is idle and finds it
	// has more (leaked): its function left some running.
	Goroutines int `json:"goroutines,omitempty"`
}

// HostMain runs a function host: `burst host --plugin F --nats URL` (or `--check`, which
// only answers ready). It returns the exit status.
func HostMain(args []string) int {
	fs := flag.NewFlagSet("host", flag.ContinueOnError)
	plugin := fs.String("plugin", "", "the plugin to open")
	url := fs.String("nats", "", "the NATS server to connect to")
	ca := fs.String("nats-ca", "", "CA file to check a TLS NATS server's certificate against")
	check := fs.Bool("check", false, "answer ready and exit: the invoker checks that it can start hosts")
	level := fs.String("log-level", "info", "least level of the host's own log")
	lanes := laneFlags(fs)
	if len(args) > 0 && args[0] == "host" {
		args = args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if os.Getenv(hostCookie) != hostCookieValue {
		fmt.Fprintln(os.Stderr, "burst host: an invoker starts this command; it is not meant to be run by hand")
		return 2
	}
	in, out := os.NewFile(3, "commands"), os.NewFile(4, "messages")
	if in == nil || out == nil {
		fmt.Fprintln(os.Stderr, "burst host: no command pipes")
		return 2
	}
	// Processes the function starts get neither pipe.
	syscall.CloseOnExec(3)
	syscall.CloseOnExec(4)
	var lvl slog.Level
	lvl.UnmarshalText([]byte(*level))
	h := &host{
		log:   slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl})),
		enc:   json.NewEncoder(out),
		packs: make(map[control.PackRef]*hostedPack),
	}
	// Started, before the plugin opens: an end after this is the plugin's doing.
	h.send(hostMsg{Op: "started"})
	if *check {
		// The invoker's probe: can a host start, and reach NATS?
		if err := reachNATS(*url, *ca); err != nil {
			h.send(hostMsg{Op: "ready", Error: err.Error(), Fault: "platform"})
			return 1
		}
		h.send(hostMsg{Op: "ready"})
		return 0
	}
	fn, err := functions.Load(*plugin)
	if err != nil {
		h.send(hostMsg{Op: "ready", Error: err.Error(), Fault: "function"})
		return 1
	}
	if h.lanes, err = lanes().listen(h.log); err != nil {
		h.send(hostMsg{Op: "ready", Error: err.Error(), Fault: "platform"})
		return 1
	}
	if h.lanes != nil {
		defer h.lanes.Close()
	}
	h.fn, h.flares = fn, newFlareConns(*url, *ca)
	h.base = h.warmUp()
	h.send(hostMsg{Op: "ready", Goroutines: h.base})
	return h.serve(in)
}

// host is the state of a function host.
type host struct {
	base   int // goroutines when idle, after the warm-up
	log    *slog.Logger
	fn     functions.Func
	flares *flareConns // the connections of the flares in the host
	lanes  *comm.Lanes // nil when the invoker's are off
	memory comm.Transport

	encMu sync.Mutex
	enc   *json.Encoder

	mu        sync.Mutex
	packs     map[control.PackRef]*hostedPack
	active    int       // run goroutines, until their very end
	flare     string    // the flare whose packs it took last
	idleSince time.Time // when it last became idle
	leaked    int       // goroutines its function left running, once found: it takes no other flare
}

// hostedPack is a pack the host runs.
type hostedPack struct {
	ctx    context.Context // ends with its cancel or its flare's timeout
	cancel context.CancelCauseFunc
	stop   context.CancelFunc // ends its timeout
	pack   *comm.Pack
}

// reachNATS connects to the NATS server at url without a credential: a closed server
// that refuses it was reached all the same.
func reachNATS(url, ca string) error {
	opts := []nats.Option{nats.Name("burst-host-check"), nats.MaxReconnects(0), nats.IgnoreDiscoveredServers()}
	if ca != "" {
		opts = append(opts, nats.RootCAs(ca))
	}
	nc, err := nats.Connect(url, opts...)
	if errors.Is(err, nats.ErrAuthorization) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("connect to NATS at %s: %w", url, err)
	}
	nc.Close()
	return nil
}

// leakCheckAfter is how long a host is idle before it counts its goroutines.
const leakCheckAfter = 100 * time.Millisecond

// checkLeaks counts the host's goroutines once it has been idle for a moment, and tells
// the invoker if its function left some running: the host is retired, not reused.
// Called when the host becomes idle.
func (h *host) checkLeaks() {
	h.mu.Lock()
	h.idleSince = time.Now()
	since := h.idleSince
	h.mu.Unlock()
	time.AfterFunc(leakCheckAfter, func() {
		idle := func() bool {
			h.mu.Lock()
			defer h.mu.Unlock()
			return len(h.packs) == 0 && h.idleSince.Equal(since)
		}
		if !idle() {
			return // busy again since: checked when it is idle next
		}
		n := settled(h.base+1) - 1 // this goroutine is not the function's
		if !idle() || n <= h.base {
			return
		}
		h.mu.Lock()
		h.leaked = n - h.base
		h.mu.Unlock()
		h.send(hostMsg{Op: "leaked", Goroutines: n})
	})
}

// drainWait bounds the wait of a new flare's first pack for the last flare's packs to
// close.
const drainWait = 2 * time.Second

// admit takes pack a in, with the host's memory limit while it runs (0: none), and says
// why not if it does not. The first pack of a flare
// other than the last one waits for the last one's packs to close, then the host counts
// its goroutines: above its count after the warm-up, its function's earlier flares left
// some running, and the host takes no other flare. Packs of one flare are always let
// in together: what a flare's own packs left is its own.
func (h *host) admit(a control.Assignment, memory int64) (*hostedPack, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if a.Flare != h.flare {
		for end := time.Now().Add(drainWait); h.active > 0 && h.leaked == 0; {
			if time.Now().After(end) {
				// What holds them counts as left running.
				h.leaked = h.active
				break
			}
			h.mu.Unlock()
			time.Sleep(100 * time.Microsecond)
			h.mu.Lock()
		}
		if h.leaked == 0 {
			// Not under the lock: an idle check that waits for it would count.
			h.mu.Unlock()
			n := settled(h.base)
			h.mu.Lock()
			h.leaked = max(h.leaked, n-h.base)
		}
		if h.leaked > 0 {
			return nil, fmt.Sprintf("host: its function left %d goroutines running", h.leaked)
		}
		h.flare = a.Flare
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	ctx, stop := context.WithTimeoutCause(ctx, time.Duration(a.Timeout)+deadlineSlack, ErrTimedOut)
	hp := &hostedPack{ctx: ctx, cancel: cancel, stop: stop}
	h.packs[control.PackRef{Flare: a.Flare, Pack: a.Pack}] = hp
	h.active++
	if memory > 0 {
		debug.SetMemoryLimit(memory)
	}
	return hp, ""
}

// warmUp runs a pack of one worker and nothing to do, as a flare's, so that what stays
// after every pack is in place, and returns the count of goroutines then: the count to
// which the host comes back after a flare (whose connection it closes), unless its
// function left some running.
func (h *host) warmUp() int {
	h.memory = comm.NewMemoryTransport()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := comm.NewPack(ctx, comm.Config{Flare: fmt.Sprintf("host-warm-up-%d", os.Getpid()), Size: 1, Granularity: 1, Transport: h.memory}, 0)
	if err == nil {
		p.Run(ctx, func(context.Context, *comm.Worker) error { return nil })
		p.Close()
	}
	return settled(0)
}

// settled returns the least goroutine count seen over a moment, or at once a count of
// at most want: goroutines of a pack that are ending do not count.
func settled(want int) int {
	n := runtime.NumGoroutine()
	for end := time.Now().Add(20 * time.Millisecond); n > want && time.Now().Before(end); {
		time.Sleep(time.Millisecond)
		n = min(n, runtime.NumGoroutine())
	}
	return n
}

func (h *host) send(m hostMsg) {
	h.encMu.Lock()
	defer h.encMu.Unlock()
	if err := h.enc.Encode(m); err != nil {
		// The invoker is gone: so is the reason to run.
		h.log.Error("invoker gone", "err", err)
		os.Exit(1)
	}
}

// serve takes commands until the invoker closes the pipe or says exit.
func (h *host) serve(in io.Reader) int {
	dec := json.NewDecoder(in)
	for {
		var c hostCmd
		if err := dec.Decode(&c); err != nil {
			// The invoker closed the pipe, or died: a host never outlives it.
			return 0
		}
		switch c.Op {
		case "run":
			if c.Run == nil || c.Settings == nil {
				continue
			}
			a, set := *c.Run, *c.Settings
			hp, refused := h.admit(a, c.Memory)
			if refused != "" {
				// The invoker runs the pack in another host.
				h.send(hostMsg{Op: "setup", Flare: a.Flare, Pack: a.Pack, Error: refused, Fault: "leaked"})
				h.send(hostMsg{Op: "done", Flare: a.Flare, Pack: a.Pack})
				continue
			}
			go h.run(a, set, hp)
		case "cancel":
			h.cancel(c)
		case "exit":
			return 0
		}
	}
}

// run runs pack a, admitted as hp, and says when it is set up and when it is done.
func (h *host) run(a control.Assignment, set hostSettings, hp *hostedPack) {
	k := control.PackRef{Flare: a.Flare, Pack: a.Pack}
	ctx := hp.ctx
	defer hp.stop()
	defer func() {
		h.mu.Lock()
		delete(h.packs, k)
		idle := len(h.packs) == 0
		if idle {
			debug.SetMemoryLimit(math.MaxInt64)
		}
		h.mu.Unlock()
		hp.cancel(context.Canceled)
		h.send(hostMsg{Op: "done", Flare: a.Flare, Pack: a.Pack})
		if idle {
			h.checkLeaks()
		}
		h.mu.Lock()
		h.active--
		h.mu.Unlock()
	}()
	p, err := h.setup(ctx, a, set)
	if err != nil {
		h.send(hostMsg{Op: "setup", Flare: a.Flare, Pack: a.Pack, Error: err.Error()})
		return
	}
	h.mu.Lock()
	hp.pack = p.pack
	h.mu.Unlock()
	h.send(hostMsg{Op: "setup", Flare: a.Flare, Pack: a.Pack})
	p.run(ctx)
	p.closeConn()
}

// setup sets pack a up: over its flare's connection when it talks to other packs, else
// in memory (a flare of one pack never opens its transport).
func (h *host) setup(ctx context.Context, a control.Assignment, set hostSettings) (*packRun, error) {
	switch a.Backend {
	case control.BackendNATS, control.BackendMemory, control.BackendJetStream, "":
	default:
		return nil, fmt.Errorf("host: unknown backend %q", a.Backend)
	}
	t, release := h.memory, func() {}
	if needsConn(a) {
		var err error
		if t, release, err = h.flares.transport(a); err != nil {
			return nil, err
		}
	}
	var level slog.Level
	level.UnmarshalText([]byte(set.LogLevel))
	p, err := newPackRun(ctx, a, h.fn, t, packEnv{
		log: h.log, logLines: set.LogLines, logLevel: level, maxResult: set.MaxResult,
		payload: set.MaxPayload, lanes: h.lanes,
		dial: func() (*datasets.Conn, func(), error) { return h.flares.datasets(a) },
		report: func(ev control.Event) bool {
			ev.Flare, ev.Pack, ev.Time = a.Flare, a.Pack, time.Now()
			h.send(hostMsg{Op: "event", Flare: a.Flare, Pack: a.Pack, Event: &ev})
			return true
		},
	})
	if err != nil {
		release()
		return nil, err
	}
	p.closeConn = release
	return p, nil
}

// cancel stops a flare's packs as Invoker.cancel does.
func (h *host) cancel(c hostCmd) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for k, hp := range h.packs {
		if k.Flare == c.Flare && (c.Pack < 0 || k.Pack == c.Pack) {
			stopPack(hp.pack, hp.cancel, c.Status, c.Reason)
		}
	}
}
