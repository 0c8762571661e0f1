package gateway

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/burstgo/burst/control"
)

// A Record is a flare as the API shows it: what was asked, where its packs run, how each
// worker did and, on the blocking POST and GET /flares/{id}/results, the results.
type Record struct {
	ID string `json:"id"`
	// Namespace owns the flare: only its keys see it.
	Namespace   string           `json:"namespace"`
	Function    string           `json:"function"`
	Version     int              `json:"version,omitempty"` // of a registered function; 0 for a built-in
	Size        int              `json:"size"`
	Granularity int              `json:"granularity"`
	Backend     control.Backend  `json:"backend"`
	Timeout     control.Duration `json:"timeout"`
	Status      control.Status   `json:"status"`
	Created     time.Time        `json:"created"`
	Started     time.Time        `json:"started,omitzero"`
	Ended       time.Time        `json:"ended,omitzero"`
	Error       string           `json:"error"`
	Packs       []PackRecord     `json:"packs"`
	Workers     []WorkerRecord   `json:"workers,omitempty"`
	Comm        control.Counters `json:"comm"`
	// Results holds one entry per rank, in rank order: the worker's JSON result, or
	// null for a worker that did not succeed.
	Results []json.RawMessage `json:"results,omitempty"`
}

// A PackRecord is where one pack runs; Ranks is its first and last rank.
type PackRecord struct {
	Pack    int    `json:"pack"`
	Invoker string `json:"invoker"`
	Ranks   [2]int `json:"ranks"`
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

// header returns a copy of the record without its workers and results: what listings
// show and what the flares bucket keeps.
func (r *Record) header() Record {
	h := *r
	h.Packs = slices.Clone(r.Packs)
	h.Workers, h.Results = nil, nil
	return h
}

// clone returns a deep enough copy of the record to marshal while the original changes.
func (r *Record) clone() Record {
	c := r.header()
	c.Workers = slices.Clone(r.Workers)
	c.Results = slices.Clone(r.Results)
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
	Version   int       `json:"version,omitempty"`
	Digest    string    `json:"digest,omitempty"` // hex SHA-256 of the plugin
	GoVersion string    `json:"go_version,omitempty"`
	Bytes     int64     `json:"bytes,omitempty"`
	Created   time.Time `json:"created,omitzero"`
	// Limits bound its workers; a built-in has none of its own.
	Limits Limits `json:"limits,omitzero"`
}
