package bench

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/burstgo/burst/comm"
)

// A Sample is one worker's figure for one repeat: the original tool's CSV row.
type Sample struct {
	Benchmark   string `json:"benchmark"`
	Backend     string `json:"backend"`
	BurstID     string `json:"burst_id"`
	BurstSize   int    `json:"burst_size"`
	Groups      int    `json:"groups"`
	Granularity int    `json:"granularity"`
	Chunking    bool   `json:"chunking"`
	ChunkSize   int    `json:"chunk_size"`
	PayloadSize int    `json:"payload_size"`
	GroupID     int    `json:"group_id"`
	WorkerID    int    `json:"worker_id"`
	Repeat      int    `json:"repeat"`
	// Bytes is what the worker sent or received in the operation: a pair counts its
	// payload at both ends, a gather's root every part.
	Bytes      int64   `json:"bytes"`
	Throughput float64 `json:"throughput"` // MiB/s
	Start      float64 `json:"start"`      // Unix seconds
	End        float64 `json:"end"`
}

func (s Sample) seconds() float64 { return s.End - s.Start }

func newSample(o Options, w *comm.Worker, rep, moved int, start, end time.Time) Sample {
	return sampleOf(o, w.Pack(), w.Rank(), rep, moved, start, end)
}

func sampleOf(o Options, group, rank, rep, moved int, start, end time.Time) Sample {
	s := Sample{
		Benchmark: o.Benchmark, Backend: o.Backend, BurstID: o.BurstID, BurstSize: o.BurstSize,
		Groups: o.Groups, Granularity: o.Granularity(), Chunking: o.PayloadSize > o.ChunkSize,
		ChunkSize: o.ChunkSize, PayloadSize: o.PayloadSize, GroupID: group, WorkerID: rank,
		Repeat: rep, Bytes: int64(moved),
		Start: float64(start.UnixNano()) / 1e9, End: float64(end.UnixNano()) / 1e9,
	}
	if secs := end.Sub(start).Seconds(); secs > 0 {
		s.Throughput = float64(moved) / (1 << 20) / secs
	}
	return s
}

// Latency summarises durations in seconds.
type Latency struct {
	Min float64 `json:"min"`
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

func latencyOf(d []float64) Latency {
	if len(d) == 0 {
		return Latency{}
	}
	d = slices.Clone(d)
	slices.Sort(d)
	// The nearest rank: the smallest value with at least q of them at or below it.
	at := func(q float64) float64 { return d[max(0, int(math.Ceil(q*float64(len(d))))-1)] }
	return Latency{Min: d[0], P50: at(0.5), P90: at(0.9), P99: at(0.99), Max: d[len(d)-1]}
}

// A GroupSummary aggregates one group's workers: per repeat, the bytes they moved and
// the time from the first start to the last end.
type GroupSummary struct {
	GroupID    int     `json:"group_id"`
	Workers    int     `json:"workers"`
	Bytes      int64   `json:"bytes"`   // per repeat
	Seconds    float64 `json:"seconds"` // median per repeat
	Throughput float64 `json:"throughput"`
	Latency    Latency `json:"latency"`
}

// A Report is what a run measured.
type Report struct {
	Options Options        `json:"options"`
	Samples []Sample       `json:"-"`
	Groups  []GroupSummary `json:"groups"`
	// Total aggregates every group this process ran.
	Total GroupSummary `json:"total"`
	// LaneBytes is what this process's groups sent over lanes (--lane), frame
	// headers included: how much of the traffic between groups they carried.
	LaneBytes int64 `json:"lane_bytes,omitempty"`
}

func summarise(samples []Sample, id int) GroupSummary {
	g := GroupSummary{GroupID: id}
	byRep := map[int][]Sample{}
	workers := map[int]bool{}
	for _, s := range samples {
		byRep[s.Repeat] = append(byRep[s.Repeat], s)
		workers[s.WorkerID] = true
	}
	g.Workers = len(workers)
	var durations []float64
	var bytes int64
	for _, ss := range byRep {
		first, last := ss[0].Start, ss[0].End
		for _, s := range ss {
			first, last = min(first, s.Start), max(last, s.End)
			bytes += s.Bytes
		}
		durations = append(durations, last-first)
	}
	if len(byRep) > 0 {
		g.Bytes = bytes / int64(len(byRep))
	}
	g.Latency = latencyOf(durations)
	g.Seconds = g.Latency.P50
	if g.Seconds > 0 {
		g.Throughput = float64(g.Bytes) / (1 << 20) / g.Seconds
	}
	return g
}

func (r *Report) summarise(groups []int) {
	r.Groups = nil
	for _, id := range groups {
		var mine []Sample
		for _, s := range r.Samples {
			if s.GroupID == id {
				mine = append(mine, s)
			}
		}
		r.Groups = append(r.Groups, summarise(mine, id))
	}
	r.Total = summarise(r.Samples, -1)
}

// WriteText writes the original's human output: a line per worker (the median of the
// repeats), one per group, and the latency percentiles.
func (r *Report) WriteText(w io.Writer) error {
	o := r.Options
	fmt.Fprintf(w, "%s over %s: burst %s, %d workers in %d groups of %d, payload %d B, chunk %d B, %d repeats\n",
		o.Benchmark, o.Backend, o.BurstID, o.BurstSize, o.Groups, o.Granularity(), o.PayloadSize, o.ChunkSize, o.Repeat)
	byWorker := map[int][]Sample{}
	var ranks []int
	for _, s := range r.Samples {
		if byWorker[s.WorkerID] == nil {
			ranks = append(ranks, s.WorkerID)
		}
		byWorker[s.WorkerID] = append(byWorker[s.WorkerID], s)
	}
	slices.Sort(ranks)
	for _, rank := range ranks {
		ss := byWorker[rank]
		secs := make([]float64, len(ss))
		for i, s := range ss {
			secs[i] = s.seconds()
		}
		med := latencyOf(secs).P50
		var tput float64
		if med > 0 {
			tput = float64(ss[0].Bytes) / (1 << 20) / med
		}
		fmt.Fprintf(w, "worker %d (group %d): %d bytes in %.6f s: %.1f MiB/s\n", rank, ss[0].GroupID, ss[0].Bytes, med, tput)
	}
	for _, g := range append(slices.Clone(r.Groups), r.Total) {
		name := fmt.Sprintf("group %d", g.GroupID)
		if g.GroupID < 0 {
			name = "all groups"
		}
		fmt.Fprintf(w, "%s: %d workers, %d bytes in %.6f s: %.1f MiB/s; latency p50 %.6f s, p90 %.6f s, p99 %.6f s, min %.6f s, max %.6f s\n",
			name, g.Workers, g.Bytes, g.Seconds, g.Throughput, g.Latency.P50, g.Latency.P90, g.Latency.P99, g.Latency.Min, g.Latency.Max)
	}
	return nil
}

// CSVHeader is the original tool's columns.
var CSVHeader = []string{"benchmark", "backend", "burst_id", "burst_size", "groups", "granularity", "chunking",
	"chunk_size", "payload_size", "group_id", "worker_id", "throughput", "start", "end"}

// WriteCSV writes a row per worker and repeat.
func (r *Report) WriteCSV(w io.Writer, header bool) error {
	cw := csv.NewWriter(w)
	if header {
		cw.Write(CSVHeader)
	}
	itoa := strconv.Itoa
	ftoa := func(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
	for _, s := range r.Samples {
		cw.Write([]string{s.Benchmark, s.Backend, s.BurstID, itoa(s.BurstSize), itoa(s.Groups), itoa(s.Granularity),
			strconv.FormatBool(s.Chunking), itoa(s.ChunkSize), itoa(s.PayloadSize), itoa(s.GroupID), itoa(s.WorkerID),
			ftoa(s.Throughput), ftoa(s.Start), ftoa(s.End)})
	}
	cw.Flush()
	return cw.Error()
}

// WriteJSON writes the summary as one JSON object.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
