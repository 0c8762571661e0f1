package gateway

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/burstgo/burst/comm"
	"github.com/burstgo/burst/control"
)

// A Record is a flare as the API shows it: what was asked, where its packs run, how each
// worker did and, on the blocking POST and GET /flares/{id}/results, the results.
type Record struct {
	ID string `json:"id"`
	// Namespace owns the flare: only its keys see it.
	Namespace   string `json:"namespace"`
	Function    string `json:"function"`
	Version     int    `json:"version,omitempty"` // of a registered function; 0 for a built-in
	Size        int    `json:"size"`
	Granularity int    `json:"granularity"`
	// Join says that packs placed together run as one (Packs shows which).
	Join    bool             `json:"join,omitempty"`
	Backend control.Backend  `json:"backend"`
	Timeout control.Duration `json:"timeout"`
	// Input is the request's input, when it was one value of at most maxRecordedInput
	// bytes, so that the flare can be run again; GET /flares/{id} has it, listings not.
	Input   json.RawMessage  `json:"input,omitempty"`
	Status  control.Status   `json:"status"`
	Created time.Time        `json:"created"`
	Started time.Time        `json:"started,omitzero"`
	Ended   time.Time        `json:"ended,omitzero"`
	Error   string           `json:"error"`
	Packs   []PackRecord     `json:"packs"`
	Workers []WorkerRecord   `json:"workers,omitempty"`
	Comm    control.Counters `json:"comm"`
	// Traffic is where the remote bytes went; GET /flares/{id} has it once a pack with
	// traffic has ended, listings do not.
	Traffic *Traffic `json:"traffic,omitempty"`
	// Results holds one entry per rank, in rank order: the worker's JSON result, or
	// null for a worker that did not succeed.
	Results []json.RawMessage `json:"results,omitempty"`
}

// A PackRecord is where one pack runs: its invoker and that invoker's host; Ranks is
// its first and last rank.
type PackRecord struct {
	Pack    int    `json:"pack"`
	Invoker string `json:"invoker"`
	Host    string `json:"host,omitempty"`
	Ranks   [2]int `json:"ranks"`
	// Joined, in a joined flare, are the requested packs (of Granularity ranks each)
	// that run as this one.
	Joined []int `json:"joined,omitempty"`
}

// A WorkerRecord is how one rank did. Status is a flare status, or aborted for a worker
// that another rank's failure stopped.
type WorkerRecord struct {
	Rank   int            `json:"rank"`
	Pack   int            `json:"pack"`
	Status control.Status `json:"status"`
	Start  time.Time      `json:"start,omitzero"`
	End    time.Time      `json:"end,omitzero"`
	Error  string         `json:"error"`
}

// Traffic is a flare's pack × pack matrix of remote payload bytes: Bytes[i][j] went from
// the packs of group i to those of group j, where Groups[i] is group i's first and last
// pack. A flare of up to comm.MaxTrafficGroups packs has a group per pack; a larger one
// groups consecutive packs, so that the matrix stays small.
type Traffic struct {
	Groups [][2]int  `json:"groups"`
	Bytes  [][]int64 `json:"bytes"`
}

func newTraffic(packs int) *Traffic {
	n := comm.TrafficGroups(packs)
	t := &Traffic{Groups: make([][2]int, n), Bytes: make([][]int64, n)}
	for i := range n {
		t.Groups[i] = [2]int{packs, -1}
		t.Bytes[i] = make([]int64, n)
	}
	for p := range packs {
		g := &t.Groups[comm.TrafficGroup(p, packs)]
		g[0], g[1] = min(g[0], p), max(g[1], p)
	}
	return t
}

// add counts the row an invoker reported for pack, if it has the flare's shape.
func (t *Traffic) add(pack, packs int, row []int64) {
	if len(row) != len(t.Bytes) {
		return
	}
	dst := t.Bytes[comm.TrafficGroup(pack, packs)]
	for i, v := range row {
		dst[i] += max(v, 0)
	}
}

func (t *Traffic) clone() *Traffic {
	if t == nil {
		return nil
	}
	c := &Traffic{Groups: t.Groups, Bytes: make([][]int64, len(t.Bytes))}
	for i, row := range t.Bytes {
		c.Bytes[i] = slices.Clone(row)
	}
	return c
}

// maxRecordedInput bounds the input a record keeps.
const maxRecordedInput = 4 << 10

// header returns a copy of the record without its input, workers, results and traffic:
// what listings show.
func (r *Record) header() Record {
	h := *r
	h.Packs = slices.Clone(r.Packs)
	h.Input, h.Workers, h.Results, h.Traffic = nil, nil, nil, nil
	return h
}

// clone returns a deep enough copy of the record to marshal while the original changes.
func (r *Record) clone() Record {
	c := r.header()
	c.Workers = slices.Clone(r.Workers)
	c.Results = slices.Clone(r.Results)
	c.Traffic = r.Traffic.clone()
	c.Input = r.Input // never changed once set
	return c
}

// A FunctionRecord is a function of the registry.
type FunctionRecord struct {
	Name string `json:"name"`
	// Namespace owns a registered function; built-ins are every namespace's.
	Namespace string `json:"namespace,omitempty"`
	// Builtin is true for the functions linked into the binary; they have no version
	// or digest.
	Builtin bool `json:"builtin"`
	// Version counts the registrations of the name: 1 for the first plugin, and one
	// more for each that replaced it.
	Version   int    `json:"version,omitempty"`
	Digest    string `json:"digest,omitempty"` // hex SHA-256 of the plugin
	GoVersion string `json:"go_version,omitempty"`
	// Settings are the plugin's build settings (-buildmode, -trimpath, CGO_ENABLED,
	// GOOS, GOARCH and the like), as the Go toolchain recorded them.
	Settings map[string]string `json:"settings,omitempty"`
	Bytes    int64             `json:"bytes,omitempty"`
	Created  time.Time         `json:"created,omitzero"`
	// Limits bound its workers; a built-in has none of its own.
	Limits Limits `json:"limits,omitzero"`
}
