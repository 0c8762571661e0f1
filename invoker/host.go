package invoker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/burstgo/burst/comm"
	"github.com/burstgo/burst/control"
)

// The invoker's side of function hosts (hostmain.go is the host's). A host runs the
// packs of one flare that an invoker has, of one function version; each pack is a comm
// pack of its own, as in the invoker, and those of a memory flare share its memory.
// Hosts are kept warm: after a flare a host waits, plugin open and NATS connected, for
// the next flare of its function, for Options.HostIdle; a host whose function left
// goroutines running behind it is retired rather than reused. Why this unit:
//
//   - A pack is the unit of shared memory, so it cannot be split over processes, and a
//     flare is the unit of failure (one worker's failure aborts it): a process per flare
//     and invoker keeps a crash, a memory limit and a kill to the flare that caused it,
//     and no other.
//   - One process for all the flare's packs on the invoker, rather than one per pack:
//     960 workers in 20 packs are one process, not 20 that share two cores.
//   - Reuse keeps the cost of a process start and a plugin open (tens of milliseconds)
//     to the first flare of a version on an invoker, and to flares that need more hosts
//     than are warm; the others start their workers in a warm host in about a
//     millisecond.
//   - A warm host may hold what an earlier flare of the same function left in its
//     globals, as a warm OpenWhisk container does; a function must not rely on either.
//
// Containment: whatever ends a host (a panic in a goroutine the function started,
// os.Exit, a fatal runtime error, a signal, the memory watchdog) ends only the packs in
// it: each of their workers that had not reported fails with the cause, and the packs'
// slots come back only once the process is gone. A pack that does not stop within
// Options.HostGrace of its flare's cancel or timeout is killed with its host, so its CPU
// use stops. Memory: the host runs with GOMEMLIMIT at its limit, and a watchdog reads the
// host's resident memory every Options.WatchInterval and kills it over the limit:
// the footprint the host had when it became ready, plus each worker's Limits.Memory.
// cgroup v2 would let the kernel enforce it; this invoker does not use cgroups.

// Defaults of the function hosts.
const (
	DefaultHostGrace     = 2 * time.Second
	DefaultHostIdle      = time.Minute
	DefaultWatchInterval = 50 * time.Millisecond
	hostStartTimeout     = 30 * time.Second
	// finishWait bounds the wait for a host that is closing its last pack.
	finishWait = 50 * time.Millisecond
	// outputTail is how much of a host's stdout and stderr is kept for its crash report.
	outputTail = 64 << 10
)

// hostPool holds an invoker's function hosts.
type hostPool struct {
	inv *Invoker

	mu   sync.Mutex
	idle map[string][]*hostProc // warm hosts, by function digest
	busy map[*hostProc]struct{}
	// finishing counts, by digest, the busy hosts whose packs have all ended and are
	// closing: soon warm, and worth a moment's wait rather than a new host.
	finishing map[string]int
	freed     chan struct{}        // closed, and replaced, when a host is released
	byFlare   map[string]*hostProc // the host of a flare's packs
	health    string               // why hosts cannot start, if they cannot
	closed    bool
}

func newHostPool(inv *Invoker) *hostPool {
	return &hostPool{inv: inv, idle: make(map[string][]*hostProc), busy: make(map[*hostProc]struct{}), byFlare: make(map[string]*hostProc),
		finishing: make(map[string]int), freed: make(chan struct{})}
}

// hostProc is one function host.
type hostProc struct {
	pool   *hostPool
	digest string
	cmd    *exec.Cmd
	out    *tailBuffer
	pid    int

	ready    chan struct{} // closed once started, or failed to
	readyErr error
	exited   chan struct{} // closed once the process is gone and its messages read

	encMu sync.Mutex
	enc   *json.Encoder
	cmdW  *os.File

	mu         sync.Mutex
	holders    int                            // packs that acquired it and did not release it yet
	runs       map[control.PackRef]*hostedRun // packs in the host
	flare      string                         // whose packs it runs; "" when idle
	baseRSS    int64                          // resident bytes when ready
	base       int                            // goroutines when ready
	limit      int64                          // resident bytes it may use while it runs packs
	killReason string                         // why the invoker killed it
	killStatus control.Status
	finishing  bool // counted in the pool's finishing
	retire     bool // leaked goroutines: not to be reused
	idleTimer  *time.Timer
}

// hostedRun is a pack the invoker runs in a host.
type hostedRun struct {
	a        control.Assignment
	setup    chan error    // the host's answer to run
	finished chan struct{} // closed once its ended event went to the gateway, or the host is gone
	done     chan struct{} // closed once the pack is closed in the host, or the host is gone
	running  bool          // set up in the host: its workers ran
	reported map[int]bool  // ranks whose end went to the gateway
	parts    int           // workers events forwarded
	ended    bool          // its ended event went to the gateway

	finishOnce sync.Once
}

// acquire returns a host for pack a of the function at plugin: the host of the other
// packs of a's flare on this invoker if they have one, a warm one, or a new one.
func (p *hostPool) acquire(ctx context.Context, a control.Assignment, plugin string) (*hostProc, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrShutdown
	}
	var h *hostProc
	var wait <-chan time.Time
	for h == nil {
		if h = p.byFlare[a.Flare]; h != nil {
			break
		}
		for h == nil && len(p.idle[a.Digest]) > 0 {
			idle := p.idle[a.Digest]
			c := idle[len(idle)-1]
			p.idle[a.Digest] = idle[:len(idle)-1]
			if c.takeIdle() {
				h = c
			}
		}
		// A memory flare's packs must find the host the first of them chose: it
		// chooses without letting go of the lock.
		if h != nil || p.finishing[a.Digest] == 0 || a.Backend == control.BackendMemory {
			break
		}
		// A host of the function is closing its last pack: it is warm in a moment,
		// where a new one takes tens of milliseconds and a core.
		if wait == nil {
			wait = time.After(finishWait)
		}
		freed := p.freed
		p.mu.Unlock()
		select {
		case <-freed:
		case <-wait:
			p.mu.Lock()
			p.finishing[a.Digest] = 0 // stop waiting for these
			p.mu.Unlock()
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
		p.mu.Lock()
	}
	fresh := h == nil
	if fresh {
		h = &hostProc{pool: p, digest: a.Digest, ready: make(chan struct{}), exited: make(chan struct{}), runs: make(map[control.PackRef]*hostedRun)}
	}
	h.mu.Lock()
	h.holders++
	h.mu.Unlock()
	p.busy[h] = struct{}{}
	p.byFlare[a.Flare] = h
	p.mu.Unlock()
	if fresh {
		h.readyErr = h.start(plugin)
		close(h.ready)
		p.setHealth(h.readyErr)
	}
	select {
	case <-h.ready:
	case <-ctx.Done():
		return nil, context.Cause(ctx)
	}
	if h.readyErr != nil {
		p.release(h)
		return nil, h.readyErr
	}
	return h, nil
}

// setHealth notes whether hosts can start: a failure to start one makes the invoker
// unhealthy until one starts again.
func (p *hostPool) setHealth(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil && !errors.Is(err, errFunctionHost) {
		p.health = "cannot start function hosts: " + err.Error()
	} else if err == nil {
		p.health = ""
	}
}

// errFunctionHost marks the failures that are the function's doing, not the invoker's:
// a plugin that does not open in the host, say.
var errFunctionHost = errors.New("the function's host failed")

// start starts the host process and waits for it to be ready.
func (h *hostProc) start(plugin string) error {
	inv := h.pool.inv
	args := []string{"host", "--log-level", inv.opts.LogLevel.String()}
	if plugin == "" {
		args = append(args, "--check")
	} else {
		args = append(args, "--plugin", plugin, "--nats", inv.opts.HostNATS)
	}
	cmdR, cmdW, err := os.Pipe()
	if err != nil {
		return err
	}
	msgR, msgW, err := os.Pipe()
	if err != nil {
		cmdR.Close()
		cmdW.Close()
		return err
	}
	h.out = &tailBuffer{max: outputTail, log: inv.log.With("host", "function")}
	h.cmd = exec.Command(inv.opts.HostExe, args...)
	h.cmd.Env = append(os.Environ(), hostCookie+"="+hostCookieValue)
	h.cmd.ExtraFiles = []*os.File{cmdR, msgW} // 3 and 4
	h.cmd.Stdout, h.cmd.Stderr = h.out, h.out
	// A group of its own: a Ctrl-C at the invoker's terminal is the invoker's to handle.
	h.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	err = h.cmd.Start()
	cmdR.Close()
	msgW.Close()
	if err != nil {
		cmdW.Close()
		msgR.Close()
		return fmt.Errorf("start %s: %w", inv.opts.HostExe, err)
	}
	h.pid = h.cmd.Process.Pid
	inv.log.Debug("function host started", "pid", h.pid, "function", h.digest)
	h.cmdW = cmdW
	h.enc = json.NewEncoder(cmdW)
	readyc := make(chan hostMsg, 1)
	go h.read(msgR, readyc)
	t := time.NewTimer(hostStartTimeout)
	defer t.Stop()
	select {
	case m := <-readyc:
		if m.Error != "" {
			h.kill("", "")
			<-h.exited
			return fmt.Errorf("%w: %s", errFunctionHost, m.Error)
		}
		h.mu.Lock()
		h.base = m.Goroutines
		h.baseRSS = rss(h.pid)
		h.mu.Unlock()
		return nil
	case <-h.exited:
		cause, _ := h.cause()
		return fmt.Errorf("the function host exited before it was ready: %s", cause)
	case <-t.C:
		h.kill("", "")
		<-h.exited
		return fmt.Errorf("the function host was not ready after %s", hostStartTimeout)
	}
}

// read takes the host's messages until it is gone, then ends what it still ran.
func (h *hostProc) read(r *os.File, readyc chan<- hostMsg) {
	defer close(h.exited)
	dec := json.NewDecoder(r)
	for {
		var m hostMsg
		if err := dec.Decode(&m); err != nil {
			break
		}
		switch m.Op {
		case "ready":
			readyc <- m
		case "setup":
			h.mu.Lock()
			hr := h.runs[control.PackRef{Flare: m.Flare, Pack: m.Pack}]
			if hr != nil && m.Error == "" {
				hr.running = true
			}
			h.mu.Unlock()
			if hr != nil {
				var err error
				if m.Error != "" {
					err = errors.New(m.Error)
				}
				hr.setup <- err
			}
		case "event":
			h.forward(m)
		case "done":
			k := control.PackRef{Flare: m.Flare, Pack: m.Pack}
			h.mu.Lock()
			hr := h.runs[k]
			delete(h.runs, k)
			h.mu.Unlock()
			if hr != nil {
				hr.finish()
				close(hr.done)
			}
		case "leaked":
			h.mu.Lock()
			h.retire = true
			h.mu.Unlock()
			h.pool.inv.log.Info("function host retired: its function left goroutines running", "pid", h.pid,
				"goroutines", m.Goroutines, "at start", h.base)
			// Not from this goroutine: stopping the host waits for it to be read out.
			go h.pool.retireIdle(h)
		}
	}
	r.Close()
	h.cmd.Wait()
	h.cmdW.Close()
	h.died()
}

// forward sends an event of a pack in the host to the gateway, and notes what it said.
func (h *hostProc) forward(m hostMsg) {
	if m.Event == nil {
		return
	}
	ev := *m.Event
	h.mu.Lock()
	hr := h.runs[control.PackRef{Flare: m.Flare, Pack: m.Pack}]
	if hr != nil {
		switch ev.Kind {
		case control.EventWorkers:
			hr.parts++
		case control.EventEnded:
			hr.ended = true
		}
		if ev.Kind == control.EventWorkers || ev.Kind == control.EventEnded {
			for _, w := range ev.Workers {
				hr.reported[w.Rank] = true
			}
		}
	}
	allEnded := false
	if hr != nil && ev.Kind == control.EventEnded {
		allEnded = true
		for _, r := range h.runs {
			allEnded = allEnded && r.ended
		}
		allEnded = allEnded && !h.finishing
		h.finishing = h.finishing || allEnded
	}
	h.mu.Unlock()
	h.pool.inv.forward(ev)
	if hr != nil && ev.Kind == control.EventEnded {
		// Its workers are done: the host may take the next flare while the pack
		// closes.
		hr.finish()
	}
	if allEnded {
		h.pool.mu.Lock()
		h.pool.finishing[h.digest]++
		h.pool.mu.Unlock()
	}
}

// finish closes r.finished once.
func (r *hostedRun) finish() { r.finishOnce.Do(func() { close(r.finished) }) }

// died ends the packs the host still ran: each worker that had not reported fails with
// the cause, or ends as the cancel that the host did not heed said.
func (h *hostProc) died() {
	cause, status := h.cause()
	h.mu.Lock()
	runs := h.runs
	h.runs = map[control.PackRef]*hostedRun{}
	h.mu.Unlock()
	if len(runs) > 0 {
		h.pool.inv.log.Warn("function host gone", "pid", h.pid, "packs", len(runs), "cause", cause)
	}
	for _, hr := range runs {
		select {
		case hr.setup <- errors.New(cause):
		default:
		}
		if hr.ended || !hr.running {
			// Reported in full, or never set up: its assignment's answer says why.
			hr.finish()
			close(hr.done)
			continue
		}
		first, end := hr.a.Ranks()
		now := time.Now()
		var ws []control.WorkerEvent
		for r := first; r < end; r++ {
			if !hr.reported[r] {
				ws = append(ws, control.WorkerEvent{Rank: r, Status: status, End: now, Error: clip(cause, maxLogMessage)})
			}
		}
		ev := func(e control.Event) control.Event {
			e.Flare, e.Pack, e.Time = hr.a.Flare, hr.a.Pack, now
			return e
		}
		// Errors of a few KiB: 64 workers an event stay well under any payload limit.
		for len(ws) > 64 {
			hr.parts++
			h.pool.inv.forward(ev(control.Event{Kind: control.EventWorkers, Workers: ws[:64], Part: hr.parts}))
			ws = ws[64:]
		}
		h.pool.inv.forward(ev(control.Event{Kind: control.EventEnded, Workers: ws, Status: status,
			Error: clip(cause, maxLogMessage), Reports: hr.parts}))
		hr.finish()
		close(hr.done)
	}
}

// cause says why the host is gone, and the status of the workers it took with it.
func (h *hostProc) cause() (string, control.Status) {
	h.mu.Lock()
	reason, status := h.killReason, h.killStatus
	h.mu.Unlock()
	if reason != "" {
		return reason, status
	}
	out := h.out.String()
	for _, start := range []string{"panic: ", "fatal error: "} {
		if i := strings.Index(out, start); i >= 0 {
			lines := strings.SplitN(out[i:], "\n", 14)
			return "the function's host crashed: " + strings.Join(lines[:min(len(lines), 13)], "\n"), control.StatusFailed
		}
	}
	if ps := h.cmd.ProcessState; ps != nil {
		if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return fmt.Sprintf("the function's host was killed by signal %d (%s)", ws.Signal(), ws.Signal()), control.StatusFailed
		}
		msg := fmt.Sprintf("the function's host exited with status %d", ps.ExitCode())
		if tail := lastLines(out, 3); tail != "" {
			msg += ": " + tail
		}
		return msg, control.StatusFailed
	}
	return "the function's host is gone", control.StatusFailed
}

// send gives the host a command.
func (h *hostProc) send(c hostCmd) error {
	h.encMu.Lock()
	defer h.encMu.Unlock()
	return h.enc.Encode(c)
}

// runPack runs pack a in the host and waits until it is set up there.
func (h *hostProc) runPack(ctx context.Context, a control.Assignment) (*hostedRun, error) {
	first, end := a.Ranks()
	hr := &hostedRun{a: a, setup: make(chan error, 1), finished: make(chan struct{}), done: make(chan struct{}), reported: make(map[int]bool)}
	h.mu.Lock()
	h.runs[control.PackRef{Flare: a.Flare, Pack: a.Pack}] = hr
	h.flare = a.Flare
	if a.Limits.Memory > 0 {
		if h.limit == 0 {
			// The host's own footprint: what it holds now, idle, which may include
			// what an earlier flare left for the collector.
			h.baseRSS = rss(h.pid)
			h.limit = h.baseRSS
		}
		h.limit += a.Limits.Memory * int64(end-first)
	}
	limit := h.limit
	h.mu.Unlock()
	if err := h.send(hostCmd{Op: "run", Run: &a, Memory: limit}); err != nil {
		<-h.exited // the host is going: died ends hr
		cause, _ := h.cause()
		return nil, errors.New(cause)
	}
	select {
	case err := <-hr.setup:
		if err != nil {
			<-hr.done
			return nil, err
		}
		return hr, nil
	case <-ctx.Done():
		h.kill("killed: the pack was not set up before its flare ended", control.StatusCancelled)
		<-hr.done
		return nil, context.Cause(ctx)
	}
}

// cancel tells the host to stop a pack as c says.
func (h *hostProc) cancel(flare string, pack int, status control.Status, reason string) {
	h.send(hostCmd{Op: "cancel", Flare: flare, Pack: pack, Status: status, Reason: reason})
}

// kill kills the host, for reason (kept as the cause its packs end with, with status).
func (h *hostProc) kill(reason string, status control.Status) {
	h.mu.Lock()
	if h.killReason == "" {
		h.killReason, h.killStatus = reason, status
	}
	h.mu.Unlock()
	if h.cmd != nil && h.cmd.Process != nil {
		h.cmd.Process.Kill()
	}
}

// takeIdle takes an idle host for a pack, unless it is gone. Called with the pool's
// lock held.
func (h *hostProc) takeIdle() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.idleTimer != nil {
		h.idleTimer.Stop()
	}
	select {
	case <-h.exited:
		return false
	default:
		return true
	}
}

// release gives back a host whose pack is done: warm for the next flare of its
// function, unless it is gone, leaked goroutines or still runs packs of its flare.
func (p *hostPool) release(h *hostProc) {
	h.mu.Lock()
	h.holders--
	busy := h.holders > 0
	flare := h.flare
	if !busy {
		h.flare, h.limit = "", 0
	}
	retire := h.retire || h.killReason != ""
	finishing := h.finishing
	if !busy {
		h.finishing = false
	}
	h.mu.Unlock()
	if busy {
		return
	}
	p.mu.Lock()
	if finishing && p.finishing[h.digest] > 0 {
		p.finishing[h.digest]--
	}
	close(p.freed)
	p.freed = make(chan struct{})
	delete(p.busy, h)
	if p.byFlare[flare] == h {
		delete(p.byFlare, flare)
	}
	gone := false
	select {
	case <-h.exited:
		gone = true
	default:
	}
	keep := !p.closed && !retire && !gone && h.readyErr == nil
	if keep {
		p.idle[h.digest] = append(p.idle[h.digest], h)
		h.mu.Lock()
		h.idleTimer = time.AfterFunc(p.inv.opts.HostIdle, func() { p.expire(h) })
		h.mu.Unlock()
	}
	p.mu.Unlock()
	if !keep && !gone && h.cmd != nil {
		h.stop()
	}
}

// retireIdle stops h if it waits in the pool: it is not to be reused.
func (p *hostPool) retireIdle(h *hostProc) { p.expire(h) }

// expire ends a host that stayed idle too long.
func (p *hostPool) expire(h *hostProc) {
	p.mu.Lock()
	idle := p.idle[h.digest]
	for i, c := range idle {
		if c == h {
			p.idle[h.digest] = append(idle[:i:i], idle[i+1:]...)
			p.mu.Unlock()
			h.stop()
			return
		}
	}
	p.mu.Unlock()
}

// stop asks the host to exit, and kills it if it does not within a second.
func (h *hostProc) stop() {
	h.send(hostCmd{Op: "exit"})
	h.cmdW.Close()
	select {
	case <-h.exited:
	case <-time.After(time.Second):
		h.kill("", "")
		<-h.exited
	}
}

// close stops every host: the idle ones at once; the busy ones are ended by their packs'
// cancels, and killed here if they are still there.
func (p *hostPool) close() {
	p.mu.Lock()
	p.closed = true
	var all []*hostProc
	for _, hs := range p.idle {
		all = append(all, hs...)
	}
	for h := range p.busy {
		all = append(all, h)
	}
	p.idle = map[string][]*hostProc{}
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, h := range all {
		if h.cmd == nil || h.cmd.Process == nil {
			continue
		}
		wg.Go(func() {
			h.kill("killed: the invoker shut down", control.StatusCancelled)
			<-h.exited
		})
	}
	wg.Wait()
}

// watch kills the hosts over their memory limit, every interval, until stop.
func (p *hostPool) watch(stop <-chan struct{}) {
	t := time.NewTicker(p.inv.opts.WatchInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		p.mu.Lock()
		busy := make([]*hostProc, 0, len(p.busy))
		for h := range p.busy {
			busy = append(busy, h)
		}
		p.mu.Unlock()
		for _, h := range busy {
			h.mu.Lock()
			limit, base, pid := h.limit, h.baseRSS, h.pid
			h.mu.Unlock()
			if limit == 0 || pid == 0 {
				continue
			}
			if used := rss(pid); used > limit {
				h.kill(fmt.Sprintf("killed: over its %s memory limit (it used %s)", mib(limit-base), mib(used-base)), control.StatusFailed)
			}
		}
	}
}

// rss is the resident memory of process pid, in bytes, or 0 if it cannot be read.
func rss(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0
	}
	return pages * int64(os.Getpagesize())
}

// mib writes bytes in MiB.
func mib(b int64) string { return fmt.Sprintf("%d MiB", (b+(1<<20)-1)>>20) }

// lastLines returns the last n non-empty lines of s, joined by "; ".
func lastLines(s string, n int) string {
	var out []string
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i := len(lines) - 1; i >= 0 && len(out) < n; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			out = append([]string{l}, out...)
		}
	}
	return clip(strings.Join(out, "; "), maxLogValue)
}

// tailBuffer keeps the last max bytes written to it, and passes each line to log at
// debug level.
type tailBuffer struct {
	max  int
	log  *slog.Logger
	mu   sync.Mutex
	b    []byte
	line []byte // the start of a line not yet ended
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	if t.log != nil && t.log.Enabled(context.Background(), slog.LevelDebug) {
		t.line = append(t.line, p...)
		for {
			i := bytes.IndexByte(t.line, '\n')
			if i < 0 {
				break
			}
			t.log.Debug(string(t.line[:i]))
			t.line = t.line[i+1:]
		}
		if len(t.line) > maxLogMessage {
			t.line = t.line[:0]
		}
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// runHosted runs pack a of an uploaded function in a function host: it is set up there,
// the gateway hears the host's events, and once the pack's context ends (a cancel, the
// timeout, Shutdown) the host is told, and killed if the pack is not done within
// Options.HostGrace. It replies to the assignment once the pack is set up.
func (inv *Invoker) runHosted(ctx context.Context, a control.Assignment, reply func(error)) {
	plugin, err := inv.cache.file(ctx, a.Digest)
	if err != nil {
		reply(err)
		return
	}
	h, err := inv.hosts.acquire(ctx, a, plugin)
	if err != nil {
		reply(err)
		return
	}
	hr, err := h.runPack(ctx, a)
	if err != nil {
		inv.hosts.release(h)
		reply(err)
		return
	}
	reply(nil)
	select {
	case <-hr.finished:
	case <-ctx.Done():
		status, reason := cancelOf(context.Cause(ctx))
		h.cancel(a.Flare, a.Pack, status, reason)
		t := time.NewTimer(inv.opts.HostGrace)
		select {
		case <-hr.finished:
		case <-t.C:
			h.kill(fmt.Sprintf("killed: its workers did not stop within %s of the end of the flare (%s)", inv.opts.HostGrace, reason), status)
			<-hr.finished
		}
		t.Stop()
	}
	inv.hosts.release(h)
}

// cancelOf is the status and reason of a cancel cause, as a host is told them.
func cancelOf(cause error) (control.Status, string) {
	switch {
	case errors.Is(cause, ErrTimedOut):
		return control.StatusTimedOut, cause.Error()
	case errors.Is(cause, comm.ErrAborted):
		return control.StatusFailed, cause.Error()
	}
	return control.StatusCancelled, cause.Error()
}
