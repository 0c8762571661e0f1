package invoker

import (
	"bufio"
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
// the next flare of its function, for Options.HostIdle. Why this unit:
//
//   - A pack is the unit of shared memory, so it cannot be split over processes, and a
//     flare is the unit of failure (one worker's failure aborts it): a process per flare
//     and invoker keeps a crash, a memory limit and a kill to the flare that caused it.
//   - One process for all the flare's packs on the invoker, rather than one per pack:
//     960 workers in 20 packs are one process, not 20 that share two cores.
//   - Reuse keeps the cost of a process start and a plugin open (tens of milliseconds)
//     to the first flare of a version on an invoker, and to flares that need more hosts
//     than are warm; the others start their workers in a warm host in about a
//     millisecond. Options.MaxHosts bounds the processes: past it, an idle host of
//     another function makes room, or the pack waits for one.
//   - A warm host holds what its function's earlier flares left. Goroutines it notices:
//     a host whose count, with no pack, is above the one after its warm-up takes no more
//     packs and is retired, and the pack it refused runs in another host. Globals and
//     files it cannot see: they reach the function's own next flares in that host
//     (never another function's), until it has run maxHostFlares flares.
//
// Containment: whatever ends a host (a panic in a goroutine the function started,
// os.Exit, a fatal runtime error, a signal, the memory watchdog) ends only the packs in
// it: each of their workers that had not reported fails with the cause, and the packs'
// slots come back only once the process is gone. The host leads a process group of its
// own, and the invoker kills the group, so processes the function started go with it. A
// pack that does not stop within Options.HostGrace of its flare's cancel or timeout is
// killed with its host, so its CPU use stops. Memory: the host runs with GOMEMLIMIT at
// its limit, and a watchdog reads the host's resident memory every
// Options.WatchInterval and kills it over the limit: its footprint when it took the
// flare plus each worker's Limits.Memory. cgroup v2 would let the kernel enforce it;
// this invoker does not use cgroups.
//
// The host is not trusted: its messages are checked against what the invoker asked it
// to run, and a write to it that does not go through within writeTimeout counts as the
// host being gone.

// Defaults of the function hosts.
const (
	DefaultHostGrace     = 2 * time.Second
	DefaultHostIdle      = time.Minute
	DefaultWatchInterval = 50 * time.Millisecond
	DefaultMaxHosts      = 64
	hostStartTimeout     = 30 * time.Second
	// finishWait bounds the wait for a host that is closing its last pack.
	finishWait = 50 * time.Millisecond
	// maxHostFlares is how many flares a host runs before it is retired.
	maxHostFlares = 1000
	// outputTail is how much of a host's stdout and stderr is kept for its crash report.
	outputTail = 64 << 10
	// writeTimeout bounds a command's write to a host that does not read.
	writeTimeout = 5 * time.Second
	// exitWait bounds the wait for a host to go once it is asked or killed.
	exitWait = 2 * time.Second
)

// hostPool holds an invoker's function hosts.
type hostPool struct {
	inv *Invoker

	mu   sync.Mutex
	idle map[string][]*hostProc // warm hosts, by function digest, the last used last
	busy map[*hostProc]struct{} // hosts that run packs, or start
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
	out    *tailBuffer

	ready    chan struct{} // closed once started, or failed to
	readyErr error         // set before ready is closed
	exited   chan struct{} // closed once the process is gone and its messages read

	encMu sync.Mutex
	enc   *json.Encoder
	cmdW  *os.File

	mu         sync.Mutex
	cmd        *exec.Cmd
	pid        int
	holders    int                            // packs that acquired it and did not release it yet
	runs       map[control.PackRef]*hostedRun // packs in the host
	flare      string                         // whose packs it runs; "" when idle
	flares     int                            // flares it ran
	baseRSS    int64                          // resident bytes of its own, when it took its flare
	base       int                            // goroutines after its warm-up
	limit      int64                          // resident bytes it may use while it runs packs
	killReason string                         // why the invoker killed it
	killStatus control.Status
	finishing  bool // counted in the pool's finishing
	retire     bool // not to be reused
	idleTimer  *time.Timer
}

// hostedRun is a pack the invoker runs in a host.
type hostedRun struct {
	a        control.Assignment
	setup    chan error    // the host's answer to run; one value
	finished chan struct{} // closed once its ended event went to the gateway, or the host is gone
	done     chan struct{} // closed once the pack is closed in the host, or the host is gone
	answered bool          // the host answered setup
	running  bool          // set up in the host: its workers ran
	reported map[int]bool  // ranks whose end went to the gateway
	parts    int           // workers events forwarded
	ended    bool          // its ended event went to the gateway

	finishOnce sync.Once
	stopOnce   sync.Once
}

// finish closes r.finished once.
func (r *hostedRun) finish() { r.finishOnce.Do(func() { close(r.finished) }) }

// count is the hosts of the pool. Called with p.mu held.
func (p *hostPool) count() int {
	n := len(p.busy)
	for _, hs := range p.idle {
		n += len(hs)
	}
	return n
}

// acquire returns a host for pack a of the function at plugin: the host of the other
// packs of a's flare on this invoker if they have one, a warm one unless notWarm, or a
// new one.
func (p *hostPool) acquire(ctx context.Context, a control.Assignment, plugin string, notWarm bool) (*hostProc, error) {
	p.mu.Lock()
	var h *hostProc
	var evict []*hostProc
	for {
		if p.closed {
			p.mu.Unlock()
			p.stopAll(evict)
			return nil, ErrShutdown
		}
		if h = p.byFlare[a.Flare]; h != nil {
			break
		}
		if !notWarm {
			if h = p.takeIdle(a.Digest); h != nil {
				break
			}
		}
		var wait time.Duration
		switch {
		case p.count() >= p.inv.opts.MaxHosts:
			if old := p.oldestIdle(); old != nil {
				evict = append(evict, old)
				continue
			}
			// Every host runs packs: this one waits for one to be free.
			wait = hostStartTimeout
		case p.finishing[a.Digest] > 0 && a.Backend != control.BackendMemory:
			// A host of the function is closing its last pack: it is warm in a
			// moment, where a new one takes tens of milliseconds and a core. (A memory
			// flare's packs must find the host the first of them chose: it chooses
			// without letting go of the lock.)
			wait = finishWait
		}
		if wait == 0 {
			break
		}
		freed := p.freed
		p.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-freed:
		case <-t.C:
			if wait == finishWait {
				p.mu.Lock()
				p.finishing[a.Digest] = 0 // stop waiting for these
				p.mu.Unlock()
			}
		case <-ctx.Done():
			t.Stop()
			p.stopAll(evict)
			return nil, context.Cause(ctx)
		}
		t.Stop()
		p.mu.Lock()
	}
	fresh := h == nil
	if fresh {
		h = p.newHost(a.Digest)
	}
	h.mu.Lock()
	if h.holders == 0 {
		// A new flare for it: what the host says from now on is this flare's.
		h.flare = a.Flare
		h.flares++
		h.out.reset()
	}
	h.holders++
	h.mu.Unlock()
	p.busy[h] = struct{}{}
	p.byFlare[a.Flare] = h
	p.mu.Unlock()
	p.stopAll(evict)
	if fresh {
		h.readyErr = h.start(plugin)
		close(h.ready)
		p.setHealth(h.readyErr)
	}
	select {
	case <-h.ready:
	case <-ctx.Done():
		p.release(h)
		return nil, context.Cause(ctx)
	}
	if h.readyErr != nil {
		p.release(h)
		return nil, h.readyErr
	}
	p.mu.Lock()
	closed := p.closed
	p.mu.Unlock()
	if closed {
		p.release(h)
		return nil, ErrShutdown
	}
	return h, nil
}

// newHost is a host of the function of digest, not started yet.
func (p *hostPool) newHost(digest string) *hostProc {
	return &hostProc{pool: p, digest: digest, ready: make(chan struct{}), exited: make(chan struct{}),
		runs: make(map[control.PackRef]*hostedRun), out: &tailBuffer{max: outputTail, log: p.inv.log.With("host", "function")}}
}

// takeIdle takes the last used idle host of digest that is still there. Called with
// p.mu held.
func (p *hostPool) takeIdle(digest string) *hostProc {
	for idle := p.idle[digest]; len(idle) > 0; idle = p.idle[digest] {
		h := idle[len(idle)-1]
		p.idle[digest] = idle[:len(idle)-1]
		h.mu.Lock()
		if h.idleTimer != nil {
			h.idleTimer.Stop()
		}
		h.mu.Unlock()
		select {
		case <-h.exited:
		default:
			return h
		}
	}
	return nil
}

// oldestIdle takes out an idle host to make room: of the function with the most idle
// hosts, the one that waited longest. Called with p.mu held.
func (p *hostPool) oldestIdle() *hostProc {
	var digest string
	for d, hs := range p.idle {
		if len(hs) > 0 && (digest == "" || len(hs) > len(p.idle[digest])) {
			digest = d
		}
	}
	if digest == "" {
		return nil
	}
	h := p.idle[digest][0]
	p.idle[digest] = p.idle[digest][1:]
	return h
}

// stopAll stops hosts that left the pool, in the background.
func (p *hostPool) stopAll(hs []*hostProc) {
	for _, h := range hs {
		go h.stop()
	}
}

// setHealth notes whether hosts can start: a failure that is the platform's doing, not
// the function's, makes the invoker unhealthy for uploaded functions until a host
// starts again.
func (p *hostPool) setHealth(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case err == nil:
		p.health = ""
	case !errors.Is(err, errFunctionHost):
		p.health = "cannot start function hosts: " + err.Error()
	}
}

// errLeftover is a host's refusal of a pack: goroutines of its function's earlier flares
// still run in it. The pack runs in another host.
var errLeftover = errors.New("the function host is retired")

// retireBusy keeps h from taking more packs: not for the rest of its flare, whose packs
// that were refused find another host, nor once its packs are released.
func (p *hostPool) retireBusy(h *hostProc) {
	p.mu.Lock()
	defer p.mu.Unlock()
	h.mu.Lock()
	h.retire = true
	flare := h.flare
	h.mu.Unlock()
	if p.byFlare[flare] == h {
		delete(p.byFlare, flare)
	}
}

// errFunctionHost marks the failures of a host that are the function's doing, not the
// invoker's: a plugin that does not open, or whose init code ends the process.
var errFunctionHost = errors.New("the function's host failed")

// start starts the host process and waits for it to be ready. The host says "started"
// once it runs, before it opens the plugin: a host that ends after that is the
// function's doing.
func (h *hostProc) start(plugin string) error {
	inv := h.pool.inv
	args := []string{"host", "--log-level", inv.opts.LogLevel.String(), "--nats", inv.opts.HostNATS}
	if inv.opts.HostNATSCA != "" {
		args = append(args, "--nats-ca", inv.opts.HostNATSCA)
	}
	if plugin == "" {
		args = append(args, "--check")
	} else {
		args = append(args, "--plugin", plugin)
		args = append(args, inv.opts.Lanes.hostArgs()...)
	}
	fail := func(err error) error {
		close(h.exited) // never started: gone
		return err
	}
	cmdR, cmdW, err := os.Pipe()
	if err != nil {
		return fail(err)
	}
	msgR, msgW, err := os.Pipe()
	if err != nil {
		cmdR.Close()
		cmdW.Close()
		return fail(err)
	}
	cmd := exec.Command(inv.opts.HostExe, args...)
	cmd.Env = append(os.Environ(), hostCookie+"="+hostCookieValue)
	cmd.ExtraFiles = []*os.File{cmdR, msgW} // 3 and 4
	cmd.Stdout, cmd.Stderr = h.out, h.out
	// A group of its own: a Ctrl-C at the invoker's terminal is the invoker's to handle,
	// and a kill of the group takes the processes the function started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Those processes may hold the output pipes open after the host is gone.
	cmd.WaitDelay = exitWait
	err = cmd.Start()
	cmdR.Close()
	msgW.Close()
	if err != nil {
		cmdW.Close()
		msgR.Close()
		return fail(fmt.Errorf("start %s: %w", inv.opts.HostExe, err))
	}
	h.mu.Lock()
	h.cmd, h.pid = cmd, cmd.Process.Pid
	h.mu.Unlock()
	h.cmdW = cmdW
	h.enc = json.NewEncoder(cmdW)
	hello := make(chan hostMsg, 2)
	go h.watch(msgR, hello)
	t := time.NewTimer(hostStartTimeout)
	defer t.Stop()
	started := false
	for {
		select {
		case m := <-hello:
			switch {
			case m.Op == "started":
				started = true
				continue
			case m.Error != "" && m.Fault == "platform":
				h.kill("", "")
				return fmt.Errorf("the function host could not start: %s", m.Error)
			case m.Error != "":
				h.kill("", "")
				return fmt.Errorf("%w: %s", errFunctionHost, m.Error)
			}
			h.mu.Lock()
			h.base = m.Goroutines
			h.mu.Unlock()
			return nil
		case <-h.exited:
			cause, _ := h.cause()
			if started {
				return fmt.Errorf("%w: opening the plugin ended its host: %s", errFunctionHost, cause)
			}
			return fmt.Errorf("the function host exited before it started: %s", cause)
		case <-t.C:
			h.kill("", "")
			if started {
				return fmt.Errorf("%w: the plugin did not open within %s", errFunctionHost, hostStartTimeout)
			}
			return fmt.Errorf("the function host did not start within %s", hostStartTimeout)
		}
	}
}

// watch reads the host's messages and waits for the process; once it is gone, it ends
// what the host still ran.
func (h *hostProc) watch(r *os.File, hello chan<- hostMsg) {
	defer close(h.exited)
	read := make(chan struct{})
	go func() {
		defer close(read)
		h.read(r, hello)
	}()
	h.mu.Lock()
	cmd, pid := h.cmd, h.pid
	h.mu.Unlock()
	cmd.Wait()
	// What the function started goes with the host, and takes the pipes it held. The
	// process id is free from now on: no kill may use it.
	syscall.Kill(-pid, syscall.SIGKILL)
	h.mu.Lock()
	h.pid = 0
	h.mu.Unlock()
	r.Close()
	<-read
	h.cmdW.Close()
	h.died(pid)
}

// read takes the host's messages, checked against what the invoker asked it, until the
// pipe closes.
func (h *hostProc) read(r *os.File, hello chan<- hostMsg) {
	// A message is a line: at most an event, which fits a NATS message, and some room.
	maxLine := 2*int(h.pool.inv.nc.MaxPayload()) + 64<<10
	br := bufio.NewReaderSize(r, 64<<10)
	var line []byte
	greeted := false
	for {
		chunk, err := br.ReadSlice('\n')
		line = append(line, chunk...)
		switch {
		case errors.Is(err, bufio.ErrBufferFull) && len(line) <= maxLine:
			continue
		case errors.Is(err, bufio.ErrBufferFull):
			h.kill(fmt.Sprintf("killed: it wrote a message of more than %d bytes to the invoker", maxLine), control.StatusFailed)
			return
		case err != nil:
			return // gone
		}
		var m hostMsg
		err = json.Unmarshal(line, &m)
		line = line[:0]
		if err != nil {
			// Not the host's own: its function wrote to the host's pipe.
			h.kill("killed: it wrote what is not a message to the invoker: "+clip(err.Error(), maxLogValue), control.StatusFailed)
			return
		}
		k := control.PackRef{Flare: m.Flare, Pack: m.Pack}
		switch m.Op {
		case "started", "ready":
			if !greeted {
				greeted = m.Op == "ready"
				select {
				case hello <- m:
				default:
				}
			}
		case "setup":
			h.mu.Lock()
			hr := h.runs[k]
			answer := hr != nil && !hr.answered
			if answer {
				hr.answered, hr.running = true, m.Error == ""
			}
			h.mu.Unlock()
			if !answer {
				continue
			}
			var err error
			switch {
			case m.Fault == "leaked":
				err = fmt.Errorf("%w: %s", errLeftover, m.Error)
				h.pool.retireBusy(h)
			case m.Error != "":
				err = errors.New(m.Error)
			}
			hr.setup <- err
		case "event":
			h.forward(k, m.Event)
		case "done":
			h.mu.Lock()
			hr := h.runs[k]
			// The host says done once it answered the run, and, if the pack ran, once
			// it ended: anything else is not the host's.
			valid := hr != nil && hr.answered && (!hr.running || hr.ended)
			if valid {
				delete(h.runs, k)
			}
			h.mu.Unlock()
			switch {
			case valid:
				hr.finish()
				close(hr.done)
			case hr != nil:
				h.kill("killed: it said a pack was done that was not", control.StatusFailed)
				return
			}
		case "leaked":
			h.mu.Lock()
			h.retire = true
			pid, base := h.pid, h.base // pid is cleared by watch once the process is reaped
			h.mu.Unlock()
			h.pool.inv.log.Info("function host retired: its function left goroutines running", "pid", pid,
				"goroutines", m.Goroutines, "after warm-up", base)
			// Not from here: stopping the host waits for it to be read out.
			go h.pool.retireIdle(h)
		}
	}
}

// forward sends an event of pack k, which the host runs, to the gateway, and notes what
// it said. The event names the pack the invoker gave the host, whatever the host put in.
func (h *hostProc) forward(k control.PackRef, ev *control.Event) {
	h.mu.Lock()
	hr := h.runs[k]
	if hr == nil || !hr.running || hr.ended || ev == nil {
		h.mu.Unlock()
		return
	}
	e := *ev
	e.Flare, e.Pack = k.Flare, k.Pack
	switch e.Kind {
	case control.EventWorkers:
		hr.parts++
	case control.EventEnded:
		hr.ended = true
	}
	if e.Kind == control.EventWorkers || e.Kind == control.EventEnded {
		for _, w := range e.Workers {
			hr.reported[w.Rank] = true
		}
	}
	h.mu.Unlock()
	if e.Kind == control.EventEnded {
		h.pool.noteEnded(h)
	}
	h.pool.inv.forward(e)
	if e.Kind == control.EventEnded {
		// Its workers are done: the host may take the next flare while the pack
		// closes.
		hr.finish()
	}
}

// noteEnded counts h as finishing once every pack in it has ended, until it is
// released.
func (p *hostPool) noteEnded(h *hostProc) {
	p.mu.Lock()
	defer p.mu.Unlock()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.finishing || h.holders == 0 {
		return
	}
	for _, r := range h.runs {
		if !r.ended {
			return
		}
	}
	h.finishing = true
	p.finishing[h.digest]++
}

// died ends the packs the host still ran, once its process (pid) is gone: each worker
// that had not reported fails with the cause, or ends as the cancel that the host did
// not heed said.
func (h *hostProc) died(pid int) {
	cause, status := h.cause()
	h.mu.Lock()
	runs := h.runs
	h.runs = map[control.PackRef]*hostedRun{}
	for _, hr := range runs {
		hr.answered = true
	}
	h.mu.Unlock()
	if len(runs) > 0 {
		h.pool.inv.log.Warn("function host gone", "pid", pid, "packs", len(runs), "cause", cause)
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
	reason, status, cmd := h.killReason, h.killStatus, h.cmd
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
	if cmd != nil && cmd.ProcessState != nil {
		ps := cmd.ProcessState
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

// send gives the host a command. A host that does not take it within writeTimeout is
// as good as gone.
func (h *hostProc) send(c hostCmd) error {
	h.encMu.Lock()
	defer h.encMu.Unlock()
	if h.enc == nil {
		return errors.New("the function host did not start")
	}
	h.cmdW.SetWriteDeadline(time.Now().Add(writeTimeout))
	err := h.enc.Encode(c)
	if err != nil {
		h.kill("killed: it took no commands", control.StatusFailed)
	}
	return err
}

// runPack runs pack a in the host and waits until it is set up there. A pack whose
// context ends first is cancelled as runHosted does.
func (h *hostProc) runPack(ctx context.Context, a control.Assignment) (*hostedRun, error) {
	inv := h.pool.inv
	first, end := a.Ranks()
	k := control.PackRef{Flare: a.Flare, Pack: a.Pack}
	hr := &hostedRun{a: a, setup: make(chan error, 1), finished: make(chan struct{}), done: make(chan struct{}), reported: make(map[int]bool)}
	h.mu.Lock()
	h.runs[k] = hr
	if a.Limits.Memory > 0 {
		if h.limit == 0 {
			// The host's own footprint: what it holds now, before its flare, which may
			// include what an earlier flare left for the collector.
			h.baseRSS = rss(h.pid)
			h.limit = h.baseRSS
		}
		h.limit += a.Limits.Memory * int64(end-first)
	}
	limit := h.limit
	h.mu.Unlock()
	cmd := hostCmd{Op: "run", Run: &a, Memory: limit, Settings: &hostSettings{
		LogLines: inv.opts.LogLines, LogLevel: inv.opts.LogLevel.String(), MaxResult: inv.opts.MaxResult,
		MaxPayload: int(inv.nc.MaxPayload()),
	}}
	if err := h.send(cmd); err != nil {
		<-h.exited // died ends hr
		cause, _ := h.cause()
		return nil, errors.New(cause)
	}
	var err error
	select {
	case err = <-hr.setup:
	case <-ctx.Done():
		h.stopRun(ctx, hr)
		err = <-hr.setup // stopRun bounds the wait
	}
	if err != nil {
		// The pack goes once the host closed it, or is gone.
		select {
		case <-hr.done:
		case <-ctx.Done():
			h.stopRun(ctx, hr)
			<-hr.done
		}
		return nil, err
	}
	return hr, nil
}

// stopRun tells the host to stop pack hr as the cause of ctx says, and kills the host if
// the pack has not ended within Options.HostGrace. Only its first call counts.
func (h *hostProc) stopRun(ctx context.Context, hr *hostedRun) {
	first := false
	hr.stopOnce.Do(func() { first = true })
	if !first {
		return
	}
	status, reason := cancelOf(context.Cause(ctx))
	grace := h.pool.inv.opts.HostGrace
	t := time.AfterFunc(grace, func() {
		h.mu.Lock()
		ended := hr.ended
		h.mu.Unlock()
		if !ended {
			h.killFor(hr.a.Flare, fmt.Sprintf("killed: its workers did not stop within %s of the end of the flare (%s)", grace, reason), status)
		}
	})
	h.send(hostCmd{Op: "cancel", Flare: hr.a.Flare, Pack: hr.a.Pack, Status: status, Reason: reason})
	go func() {
		<-hr.finished
		t.Stop()
	}()
}

// kill kills the host and what it started, for reason (kept as the cause its packs end
// with, with status).
func (h *hostProc) kill(reason string, status control.Status) {
	h.killFor("", reason, status)
}

// killFor kills the host as kill does if it still runs packs of flare ("": whatever
// it runs): a kill that comes late does not reach the next flare.
func (h *hostProc) killFor(flare, reason string, status control.Status) {
	h.mu.Lock()
	if flare != "" && h.flare != flare {
		h.mu.Unlock()
		return
	}
	if h.killReason == "" {
		h.killReason, h.killStatus = reason, status
	}
	pid := h.pid
	h.mu.Unlock()
	if pid > 0 {
		syscall.Kill(-pid, syscall.SIGKILL)
	}
}

// release gives back a host for one of its packs: once all its packs are released,
// warm for the next flare of its function, unless it is gone or to be retired.
func (p *hostPool) release(h *hostProc) {
	p.mu.Lock()
	h.mu.Lock()
	h.holders--
	if h.holders > 0 {
		h.mu.Unlock()
		p.mu.Unlock()
		return
	}
	flare, finishing := h.flare, h.finishing
	h.flare, h.limit, h.finishing = "", 0, false
	retire := h.retire || h.killReason != "" || h.flares >= maxHostFlares
	h.mu.Unlock()
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
		h.idleTimer = time.AfterFunc(p.inv.opts.HostIdle, func() { p.retireIdle(h) })
		h.mu.Unlock()
	}
	p.mu.Unlock()
	if !keep && !gone {
		go h.stop()
	}
}

// retireIdle stops h if it waits in the pool: it is not to be reused, or waited too
// long.
func (p *hostPool) retireIdle(h *hostProc) {
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

// stop asks the host to exit, and kills it if it does not within exitWait.
func (h *hostProc) stop() {
	select {
	case <-h.ready:
	case <-time.After(hostStartTimeout):
	}
	if h.send(hostCmd{Op: "exit"}) == nil {
		select {
		case <-h.exited:
			return
		case <-time.After(exitWait):
		}
	}
	h.kill("", "")
	<-h.exited
}

// close kills every host: the idle ones, and the busy ones that their packs' cancels
// did not end in time. It waits for them, a moment at most.
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
	for _, h := range all {
		h.kill("killed: the invoker shut down", control.StatusCancelled)
	}
	deadline := time.After(exitWait)
	for _, h := range all {
		select {
		case <-h.exited:
		case <-deadline:
			return // one still starting: acquire stops it once it has
		}
	}
}

// watchMemory kills the hosts over their memory limit, every interval, until stop.
func (p *hostPool) watchMemory(stop <-chan struct{}) {
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
			limit, base, pid, flare := h.limit, h.baseRSS, h.pid, h.flare
			h.mu.Unlock()
			if limit == 0 || pid == 0 {
				continue
			}
			if used := rss(pid); used > limit {
				h.killFor(flare, fmt.Sprintf("killed: over its %s memory limit (it used %s)", mib(limit-base), mib(used-base)), control.StatusFailed)
			}
		}
	}
}

// canWatchMemory says whether this system shows a process's resident memory (Linux's
// /proc): without it, the watchdog enforces nothing, and heartbeats say so.
var canWatchMemory = rss(os.Getpid()) > 0

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

// reset forgets what was written.
func (t *tailBuffer) reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = t.b[:0]
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
	var h *hostProc
	var hr *hostedRun
	for retry := false; ; retry = true {
		// Once a warm host refused the pack, a new one (or the one its flare's other
		// packs moved to) takes it: that one has nothing left of earlier flares.
		h, err = inv.hosts.acquire(ctx, a, plugin, retry)
		if err != nil {
			reply(err)
			return
		}
		hr, err = h.runPack(ctx, a)
		if errors.Is(err, errLeftover) && !retry && ctx.Err() == nil {
			inv.log.Info("function host retired: its function left goroutines running", "flare", a.Flare, "pack", a.Pack, "err", err)
			inv.hosts.release(h)
			continue
		}
		break
	}
	defer inv.hosts.release(h)
	if err != nil {
		reply(err)
		return
	}
	reply(nil)
	select {
	case <-hr.finished:
	case <-ctx.Done():
		h.stopRun(ctx, hr)
		<-hr.finished
	}
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
