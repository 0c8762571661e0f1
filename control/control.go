package control

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/burstgo/burst/datasets"
)

// Version is the level of the protocol that this build speaks. Level 2 added the limits
// of an assignment and the isolation and health of a heartbeat; level 3 put the
// invoker's id in the subjects it publishes on and a flare's NATS credential in its
// assignments, for a closed bus; level 4 its namespace, whose datasets its workers read;
// level 5 the bounds of a joined flare's packs.
const Version = 5

// Subjects and JetStream names of the control plane. Flare ids are UUIDs and invoker ids
// are single subject tokens, so the wildcards never catch comm's data subjects
// (burst.<flare>.<pack>). An invoker publishes only on subjects that end in its id, so
// that the bus's permissions can hold it to its own name.
const (
	// HeartbeatSubjects and ByeSubjects are the wildcards of every invoker's
	// HeartbeatSubject and ByeSubject.
	HeartbeatSubjects = "burst.ctl.heartbeat.*"
	ByeSubjects       = "burst.ctl.bye.*"
	SubjectDiscover   = "burst.ctl.discover"
	SubjectCancel     = "burst.ctl.cancel"
	// EventSubjects is the wildcard of every flare's events: the subjects of EventStream.
	EventSubjects = "burst.evt.>"
	// EventStream is the JetStream stream that keeps the events until the gateway has
	// recorded their flare. The gateway creates it.
	EventStream = "burst-events"
	// ServiceName is the NATS micro service every invoker runs for its request subjects.
	ServiceName = "burst-invoker"
	// PluginBucket is the object store bucket of plugins, named by the hex SHA-256 digest
	// of their bytes.
	PluginBucket = "burst-plugins"
)

// AssignSubject is where invoker id takes its Assignments.
func AssignSubject(id string) string { return "burst.ctl.assign." + id }

// PacksSubject is where invoker id answers which packs it still runs.
func PacksSubject(id string) string { return "burst.ctl.packs." + id }

// HeartbeatSubject is where invoker id beats.
func HeartbeatSubject(id string) string { return "burst.ctl.heartbeat." + id }

// ByeSubject is where invoker id says it leaves.
func ByeSubject(id string) string { return "burst.ctl.bye." + id }

// EventSubject is where invoker publishes the Events of its packs of flare.
func EventSubject(flare, invoker string) string { return "burst.evt." + flare + "." + invoker }

// FlareSubjects is the wildcard of a flare's comm traffic (package comm's subjects).
func FlareSubjects(flare string) string { return "burst." + flare + ".>" }

// NATS users of a closed bus: an invoker joins as InvokerUser with a join key for its
// id as the password; the packs of a flare talk over connections of FlareUser, whose
// password is the Credential of the flare's assignments.
func InvokerUser(id string) string  { return "invoker:" + id }
func FlareUser(flare string) string { return "flare:" + flare }

// InvokerInbox and FlareInbox are the inbox prefixes (nats.CustomInboxPrefix) of those
// users: each may listen to its own replies only.
func InvokerInbox(id string) string  { return "_I.invoker." + id }
func FlareInbox(flare string) string { return "_I.flare." + flare }

// Permissions are what a NATS user of a closed bus may do: the subjects it may publish
// to and subscribe to (NATS wildcards), and whether it may answer the requests it
// receives. Revocable asks the server to keep its connections, so that revoking its key
// ends them.
type Permissions struct {
	Publish, Subscribe []string
	Responses          bool
	Revocable          bool
}

// FlarePermissions are what the connections of flare's packs may do, on whichever
// server of the cluster they connect to.
func FlarePermissions(flare, namespace string) Permissions {
	stream := "BURST_" + flare // comm's stream of a jetstream flare
	return Permissions{
		Publish: []string{
			FlareSubjects(flare),
			"$JS.API.STREAM.INFO." + stream,
			"$JS.API.CONSUMER.CREATE." + stream, "$JS.API.CONSUMER.CREATE." + stream + ".>",
			"$JS.API.CONSUMER.DURABLE.CREATE." + stream + ".>",
			"$JS.API.CONSUMER.INFO." + stream + ".>",
			"$JS.API.CONSUMER.MSG.NEXT." + stream + ".>",
			"$JS.ACK." + stream + ".>",
			"$JS.FC." + stream + ".>",
			// The datasets of the flare's namespace, read by direct gets.
			datasets.ReadPermission(namespace),
		},
		Subscribe: []string{FlareSubjects(flare), FlareInbox(flare) + ".>"},
		Revocable: true, // ended with the flare
	}
}

// A Status is how a flare or one of its workers stands.
type Status string

// Statuses. A flare is queued, running or in one of the four final statuses; a worker
// may also end aborted.
const (
	StatusQueued    Status = "queued"
	StatusRunning   Status = "running"
	StatusSucceeded Status = "succeeded"
	StatusFailed    Status = "failed"
	StatusTimedOut  Status = "timed_out"
	StatusCancelled Status = "cancelled"
	// StatusAborted is a worker that another rank's failure stopped: its error is the
	// echo of that failure, not a cause of its own.
	StatusAborted Status = "aborted"
)

// Final reports whether a flare in status s has ended.
func (s Status) Final() bool {
	switch s {
	case StatusSucceeded, StatusFailed, StatusTimedOut, StatusCancelled:
		return true
	}
	return false
}

// A Backend is the transport between the packs of a flare.
type Backend string

// Backends.
const (
	BackendNATS      Backend = "nats"
	BackendJetStream Backend = "jetstream"
	// BackendMemory runs every pack of the flare on one invoker.
	BackendMemory Backend = "memory"
)

// Backends lists the backends, the default first.
var Backends = []Backend{BackendNATS, BackendJetStream, BackendMemory}

// A Heartbeat tells the gateway that an invoker is alive and what it offers.
type Heartbeat struct {
	// Proto is the sender's Version.
	Proto int    `json:"proto"`
	ID    string `json:"id"`
	Host  string `json:"host"`
	// Slots is how many workers the invoker runs at once; Used and Packs what it runs
	// now, for show: the gateway counts its own placements.
	Slots    int       `json:"slots"`
	Used     int       `json:"used"`
	Packs    int       `json:"packs"`
	Backends []Backend `json:"backends"`
	// Builtins are the names of the functions linked into the invoker's binary, sorted.
	Builtins []string `json:"builtins"`
	// Started is when the invoker's process started: a new value under the same ID is a
	// new process, which runs none of the old one's packs.
	Started time.Time `json:"started"`
	Time    time.Time `json:"time"`
	// Interval is how often the invoker beats, so that the gateway can tell a lost one.
	Interval Duration `json:"interval"`
	// Isolation is where uploaded functions run: IsolationProcess or IsolationNone.
	Isolation Isolation `json:"isolation"`
	// MemoryLimit says how a function's memory limit is enforced: "watchdog" (the
	// invoker measures each function host and kills one over its limit, which also
	// runs with GOMEMLIMIT), or "none" (functions run in the invoker's process).
	MemoryLimit string `json:"memory_limit"`
	// Build names the invoker's binary (Build()), for show.
	Build string `json:"build,omitempty"`
	// Health is empty while the invoker can run packs, else why not (it cannot start
	// function hosts, say): the gateway places nothing on it.
	Health string `json:"health,omitempty"`
}

// Isolation is where an invoker runs uploaded functions.
type Isolation string

const (
	// IsolationProcess runs each pack of an uploaded function in a child process of
	// the invoker, a function host; built-ins stay in the invoker.
	IsolationProcess Isolation = "process"
	// IsolationNone runs uploaded functions in the invoker's own process, as built-ins:
	// for benchmarks and trusted single-user setups.
	IsolationNone Isolation = "none"
)

// Limits bound what the workers of a flare may use. Zero means no bound of the
// assignment's own (the invoker's defaults hold).
type Limits struct {
	// Memory is the bytes each worker may use, on top of the function host's own
	// footprint; enforced only where functions run in hosts.
	Memory int64 `json:"memory,omitempty"`
	// LogBytes bounds the bytes each worker may log.
	LogBytes int `json:"log_bytes,omitempty"`
	// ResultBytes bounds one worker's JSON result.
	ResultBytes int `json:"result_bytes,omitempty"`
}

// An Assignment asks an invoker to run one pack of a flare.
type Assignment struct {
	Proto       int    `json:"proto"`
	Flare       string `json:"flare"`
	Function    string `json:"function"`
	Digest      string `json:"digest,omitempty"` // empty for a built-in
	Size        int    `json:"size"`
	Granularity int    `json:"granularity"`
	// Bounds, for a joined flare, is the first rank of each of its packs as placed
	// (comm.Config.Bounds): packs of Granularity placed together run as one.
	Bounds  []int   `json:"bounds,omitempty"`
	Pack    int     `json:"pack"`
	Backend Backend `json:"backend"`
	// Timeout is what is left of the flare's timeout when the pack is assigned.
	Timeout Duration `json:"timeout"`
	// Input is every worker's input, unless Inputs gives one per rank of the pack.
	Input  json.RawMessage   `json:"input,omitempty"`
	Inputs []json.RawMessage `json:"inputs,omitempty"`
	// Namespace owns the flare: its workers read that namespace's datasets.
	Namespace string `json:"namespace,omitempty"`
	Limits    Limits `json:"limits,omitzero"`
	// Credential is the password of the flare's NATS user (FlareUser), for the
	// connections its packs talk through; empty on a bus open to all.
	Credential string `json:"credential,omitempty"`
	// LaneSecret is the flare's secret by which its packs know each other's direct
	// lanes (comm.Config.LaneSecret); empty: the packs take no lanes.
	LaneSecret string `json:"lane_secret,omitempty"`
}

// CheckBounds checks a joined flare's bounds against its size and its pack: they start
// at 0 and rise below Size, and Pack is one of them.
func (a Assignment) CheckBounds() error {
	if a.Bounds == nil {
		return nil
	}
	for i, b := range a.Bounds {
		if i == 0 && b != 0 || i > 0 && (b <= a.Bounds[i-1] || b >= a.Size) {
			return fmt.Errorf("pack bounds %v of a flare of %d: want 0 first and rising below %d", a.Bounds, a.Size, a.Size)
		}
	}
	if len(a.Bounds) == 0 || a.Pack < 0 || a.Pack >= len(a.Bounds) {
		return fmt.Errorf("pack %d of %d joined packs", a.Pack, len(a.Bounds))
	}
	return nil
}

// Packs is the number of the flare's packs.
func (a Assignment) Packs() int {
	switch {
	case a.Bounds != nil:
		return len(a.Bounds)
	case a.Granularity <= 0:
		return 0
	}
	return (a.Size + a.Granularity - 1) / a.Granularity
}

// Ranks returns the pack's ranks, [first, end).
func (a Assignment) Ranks() (first, end int) {
	if a.Bounds != nil {
		if a.Pack < 0 || a.Pack >= len(a.Bounds) {
			return 0, 0 // no such pack: empty
		}
		if a.Pack+1 < len(a.Bounds) {
			return a.Bounds[a.Pack], a.Bounds[a.Pack+1]
		}
		return a.Bounds[a.Pack], a.Size
	}
	first = a.Pack * a.Granularity
	return first, min(first+a.Granularity, a.Size)
}

// An AssignReply answers an Assignment: the pack listens and its workers start, or it
// could not be set up and Error says why.
type AssignReply struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// A PackRef names one pack of a flare.
type PackRef struct {
	Flare string `json:"flare"`
	Pack  int    `json:"pack"`
}

// A PacksReply lists the packs an invoker runs, or has run and still owes events of.
type PacksReply struct {
	Proto int       `json:"proto"`
	Packs []PackRef `json:"packs"`
}

// A Cancel stops every pack of a flare. Status cancelled or timed_out cancels the
// workers' contexts; failed aborts the packs as a worker's failure does, for the packs
// that missed comm's own abort (one that came before they listened).
type Cancel struct {
	Flare  string `json:"flare"`
	Status Status `json:"status"`
	Reason string `json:"reason"`
}

// An EventKind says what an Event reports.
type EventKind string

// Kinds of Event.
const (
	// EventStarted: every worker of the pack is running; Workers holds their start
	// times.
	EventStarted EventKind = "started"
	// EventWorkers: ended workers with their status, error and result, when they do not
	// all fit in the ended event; several may come, to keep each under the NATS payload
	// limit.
	EventWorkers EventKind = "workers"
	// EventLogs: log lines the workers wrote through w.Logger().
	EventLogs EventKind = "logs"
	// EventEnded: the pack is done and its slots are free. Workers holds the workers'
	// ends that fit; Reports counts the workers events sent before it (their Part).
	EventEnded EventKind = "ended"
)

// An Event is what an invoker tells the gateway about one pack of a flare.
type Event struct {
	Kind    EventKind     `json:"type"`
	Flare   string        `json:"flare"`
	Pack    int           `json:"pack"`
	Invoker string        `json:"invoker"`
	Time    time.Time     `json:"time"`
	Workers []WorkerEvent `json:"workers,omitempty"`
	Lines   []LogLine     `json:"lines,omitempty"`
	Dropped int           `json:"dropped,omitempty"` // log lines over the bound
	Comm    *Counters     `json:"comm,omitempty"`
	// Traffic, on the ended event, is the remote payload bytes the pack sent, by
	// destination group of packs (comm.Pack.Traffic): its row of the flare's matrix.
	Traffic []int64 `json:"traffic,omitempty"`
	Status  Status  `json:"status,omitempty"`
	Error   string  `json:"error,omitempty"`
	// Part numbers a workers event among its pack's, from 1; Reports, on the ended
	// event, is how many there are. Together they let the gateway count each once,
	// whatever the order and however often a retry delivered it.
	Part    int `json:"part,omitempty"`
	Reports int `json:"reports,omitempty"`
}

// A WorkerEvent is one worker's part of an Event.
type WorkerEvent struct {
	Rank   int             `json:"rank"`
	Status Status          `json:"status,omitempty"`
	Start  time.Time       `json:"start,omitzero"`
	End    time.Time       `json:"end,omitzero"`
	Error  string          `json:"error,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
}

// A LogLine is one record a worker logged.
type LogLine struct {
	Rank    int               `json:"rank"`
	Time    time.Time         `json:"time"`
	Level   string            `json:"level"`
	Message string            `json:"msg"`
	Attrs   map[string]string `json:"attrs,omitempty"`
}

// Counters are a pack's or a flare's communication: messages and bytes that stayed in
// a pack's memory, and those that crossed the network between packs, of which
// LaneBytes went over direct lanes rather than NATS.
type Counters struct {
	LocalMessages  int64 `json:"local_messages"`
	LocalBytes     int64 `json:"local_bytes"`
	RemoteMessages int64 `json:"remote_messages"`
	RemoteBytes    int64 `json:"remote_bytes"`
	LaneBytes      int64 `json:"lane_bytes"`
}

// Add returns the sum of c and d.
func (c Counters) Add(d Counters) Counters {
	return Counters{
		LocalMessages:  c.LocalMessages + d.LocalMessages,
		LocalBytes:     c.LocalBytes + d.LocalBytes,
		RemoteMessages: c.RemoteMessages + d.RemoteMessages,
		RemoteBytes:    c.RemoteBytes + d.RemoteBytes,
		LaneBytes:      c.LaneBytes + d.LaneBytes,
	}
}
