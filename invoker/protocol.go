package invoker

import (
	"encoding/json"
	"time"

	"github.com/burstgo/burst/comm"
)

// Subjects of the control plane. Every one lives under burst.ctl.> or burst.evt.>, beside
// comm's burst.<flare>.<pack> data subjects; flare ids are UUIDs, so they never collide.
const (
	// SubjectHeartbeat carries every invoker's Heartbeat.
	SubjectHeartbeat = "burst.ctl.heartbeat"
	// SubjectDiscover asks every invoker for a Heartbeat now, so that a gateway that
	// starts after its invokers knows them at once.
	SubjectDiscover = "burst.ctl.discover"
	// SubjectBye carries the Heartbeat of an invoker that shuts down.
	SubjectBye = "burst.ctl.bye"
	// SubjectCancel carries a Cancel to every invoker.
	SubjectCancel = "burst.ctl.cancel"
	// SubjectEvents is the wildcard of every flare's events.
	SubjectEvents = "burst.evt.>"
)

// AssignSubject is where invoker id takes its Assignments, by request and reply.
func AssignSubject(id string) string { return "burst.ctl.assign." + id }

// EventSubject is where the invokers running flare publish its Events.
func EventSubject(flare string) string { return "burst.evt." + flare }

// PluginBucket is the NATS Object Store bucket that holds plugins, named by the
// hex SHA-256 digest of their bytes.
const PluginBucket = "burst-plugins"

// Backends are the transports a flare may ask for.
const (
	BackendNATS      = "nats"
	BackendJetStream = "jetstream"
	BackendMemory    = "memory"
)

// Statuses of a worker; a flare's status is one of the last four or queued/running.
const (
	StatusQueued    = "queued"
	StatusRunning   = "running"
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
	StatusTimedOut  = "timed_out"
	StatusCancelled = "cancelled"
	// StatusAborted is a worker that another rank's failure stopped: its error is the
	// echo of that failure, not a cause of its own.
	StatusAborted = "aborted"
)

// A Heartbeat tells the gateway that an invoker is alive and what it holds.
type Heartbeat struct {
	ID       string    `json:"id"`
	Host     string    `json:"host"`
	Slots    int       `json:"slots"`
	Used     int       `json:"used"`
	Packs    int       `json:"packs"`
	Backends []string  `json:"backends"`
	Started  time.Time `json:"started"`
	Time     time.Time `json:"time"`
	// Interval is how often the invoker beats, so the gateway can tell a lost one.
	Interval time.Duration `json:"interval"`
}

// An Assignment asks an invoker to run one pack of a flare.
type Assignment struct {
	Flare       string `json:"flare"`
	Function    string `json:"function"`
	Digest      string `json:"digest,omitempty"` // empty for a built-in
	Size        int    `json:"size"`
	Granularity int    `json:"granularity"`
	Pack        int    `json:"pack"`
	Backend     string `json:"backend"`
	// Timeout is what is left of the flare's timeout when the pack is assigned.
	Timeout time.Duration `json:"timeout"`
	// Input is every worker's input, unless Inputs gives one per rank of the pack.
	Input  json.RawMessage   `json:"input,omitempty"`
	Inputs []json.RawMessage `json:"inputs,omitempty"`
}

// Ranks returns the pack's ranks, [first, end).
func (a Assignment) Ranks() (first, end int) {
	first = a.Pack * a.Granularity
	return first, min(first+a.Granularity, a.Size)
}

// An AssignReply answers an Assignment: the pack listens and its workers start, or it
// could not be set up and Error says why.
type AssignReply struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// A Cancel stops every pack of a flare. Status cancelled or timed_out cancels the
// workers' contexts; failed aborts the packs as a worker's failure does, for the packs
// that missed comm's own abort (one that came before they listened).
type Cancel struct {
	Flare  string `json:"flare"`
	Status string `json:"status"`
	Reason string `json:"reason"`
}

// Kinds of Event.
const (
	// EventStarted: every worker of the pack is running; Workers holds their start
	// times.
	EventStarted = "started"
	// EventWorkers: ended workers with their status, error and result; a pack's ends
	// may come in several events, to keep each under the NATS payload limit.
	EventWorkers = "workers"
	// EventLogs: log lines the workers wrote through w.Logger().
	EventLogs = "logs"
	// EventEnded: the pack is done and its slots are free; it follows every workers
	// event of the pack.
	EventEnded = "ended"
)

// An Event is what an invoker tells the gateway about one pack of a flare.
type Event struct {
	Type    string         `json:"type"`
	Flare   string         `json:"flare"`
	Pack    int            `json:"pack"`
	Invoker string         `json:"invoker"`
	Time    time.Time      `json:"time"`
	Workers []WorkerEvent  `json:"workers,omitempty"`
	Lines   []LogLine      `json:"lines,omitempty"`
	Dropped int            `json:"dropped,omitempty"` // log lines over the bound
	Comm    *comm.Counters `json:"comm,omitempty"`
	Status  string         `json:"status,omitempty"`
	Error   string         `json:"error,omitempty"`
}

// A WorkerEvent is one worker's part of an Event.
type WorkerEvent struct {
	Rank   int             `json:"rank"`
	Status string          `json:"status,omitempty"`
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
