package bench

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func small(benchmark, backend string) Options {
	o := DefaultOptions()
	o.Benchmark, o.Backend = benchmark, backend
	o.BurstSize, o.Groups = 6, 3
	o.PayloadSize, o.ChunkSize = 4096, 1000
	o.Repeat, o.Warmup = 3, 1
	o.Server, o.Embed = "nats://127.0.0.1:-1", true
	o.BurstID = "t-" + strings.ReplaceAll(benchmark, "-", "") + "-" + backend
	o.Timeout = time.Minute
	return o
}

func TestEveryBenchmark(t *testing.T) {
	for _, backend := range []string{"memory", "nats", "jetstream"} {
		for _, b := range Benchmarks {
			t.Run(backend+"/"+b, func(t *testing.T) {
				o := small(b, backend)
				r, err := Run(context.Background(), o)
				if err != nil {
					t.Fatal(err)
				}
				if got, want := len(r.Samples), o.BurstSize*o.Repeat; got != want {
					t.Fatalf("%d samples, want %d", got, want)
				}
				if len(r.Groups) != o.Groups || r.Total.Workers != o.BurstSize {
					t.Fatalf("groups %+v, total %+v", r.Groups, r.Total)
				}
				for _, g := range r.Groups {
					if g.Latency.P50 <= 0 || g.Latency.Min > g.Latency.P50 || g.Latency.P50 > g.Latency.Max {
						t.Errorf("group %d latency %+v", g.GroupID, g.Latency)
					}
				}
				checkCSV(t, r)
				checkJSON(t, r)
				var text bytes.Buffer
				r.WriteText(&text)
				if lines := strings.Count(text.String(), "\n"); lines != 1+o.BurstSize+o.Groups+1 {
					t.Errorf("text output has %d lines:\n%s", lines, text.String())
				}
			})
		}
	}
}

// With lanes every benchmark is right (each receiver checks what it got), and the
// lanes carry the messages between groups; JetStream takes none.
func TestLanes(t *testing.T) {
	for _, lane := range []string{"unix", "tcp"} {
		for _, b := range Benchmarks {
			t.Run(lane+"/"+b, func(t *testing.T) {
				o := small(b, "nats")
				o.Lane, o.PayloadSize, o.ChunkSize = lane, 256<<10, 100<<10
				o.BurstID += lane
				r, err := Run(context.Background(), o)
				if err != nil {
					t.Fatal(err)
				}
				if b != "barrier" && r.LaneBytes == 0 {
					t.Errorf("nothing went over the lanes")
				}
			})
		}
	}
}

// TestBaselines runs raw NATS and the byte streams: every receiver gets the payload
// whole (each checks it), and the sender counts what it moved.
func TestBaselines(t *testing.T) {
	for _, backend := range []string{"raw", "tcp", "unix"} {
		for _, b := range []string{"pair", "broadcast"} {
			t.Run(backend+"/"+b, func(t *testing.T) { baselineRun(t, backend, b) })
		}
	}
}

func baselineRun(t *testing.T, backend, b string) {
	o := small(b, backend)
	o.BurstSize, o.Groups = 3, 3
	if b == "pair" {
		o.BurstSize, o.Groups = 2, 2
	}
	r, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(r.Samples), o.Groups*o.Repeat; got != want {
		t.Fatalf("%s: %d samples, want %d", b, got, want)
	}
	if r.Groups[0].Bytes != int64(o.PayloadSize*(o.Groups-1)) {
		t.Errorf("%s: publisher moved %d bytes", b, r.Groups[0].Bytes)
	}
	checkCSV(t, r)
}

func checkCSV(t *testing.T, r *Report) {
	t.Helper()
	var b bytes.Buffer
	if err := r.WriteCSV(&b, true); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1+len(r.Samples) {
		t.Fatalf("%d CSV rows for %d samples", len(rows), len(r.Samples))
	}
	if strings.Join(rows[0], ",") != "benchmark,backend,burst_id,burst_size,groups,granularity,chunking,chunk_size,payload_size,group_id,worker_id,throughput,start,end" {
		t.Fatalf("CSV header %v", rows[0])
	}
	for _, row := range rows[1:] {
		if len(row) != len(CSVHeader) || row[0] != r.Options.Benchmark || row[1] != r.Options.Backend || row[6] != "true" {
			t.Fatalf("CSV row %v", row)
		}
	}
}

func checkJSON(t *testing.T, r *Report) {
	t.Helper()
	var b bytes.Buffer
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Options map[string]any `json:"options"`
		Groups  []struct {
			GroupID int                `json:"group_id"`
			Workers int                `json:"workers"`
			Latency map[string]float64 `json:"latency"`
		} `json:"groups"`
		Total map[string]any `json:"total"`
	}
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Options["benchmark"] != r.Options.Benchmark || len(got.Groups) != r.Options.Groups || got.Total["throughput"] == nil {
		t.Fatalf("JSON summary %s", b.String())
	}
	for _, k := range []string{"min", "p50", "p90", "p99", "max"} {
		if _, ok := got.Groups[0].Latency[k]; !ok {
			t.Fatalf("JSON latency lacks %s: %s", k, b.String())
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Options)
		want string
	}{
		{"unknown benchmark", func(o *Options) { o.Benchmark = "sort" }, "--benchmark"},
		{"unknown backend", func(o *Options) { o.Backend = "redis" }, "backend"},
		{"too many groups", func(o *Options) { o.Groups = 7 }, "--groups"},
		{"uneven groups", func(o *Options) { o.BurstSize, o.Groups = 4, 3 }, "does not split"},
		{"group id", func(o *Options) { o.GroupID = 3 }, "--group-id"},
		{"odd pair", func(o *Options) { o.Benchmark, o.BurstSize = "pair", 5 }, "even"},
		{"memory in one group", func(o *Options) { o.Backend, o.GroupID = "memory", 1 }, "memory"},
		{"raw scatter", func(o *Options) { o.Backend, o.Benchmark = "raw", "scatter" }, "raw"},
		{"tcp gather", func(o *Options) { o.Backend, o.Benchmark = "tcp", "gather" }, "tcp backend does pair and broadcast only"},
		{"unix in packs", func(o *Options) { o.Backend, o.Benchmark, o.BurstSize, o.Groups = "unix", "pair", 4, 2 }, "one worker per group"},
		{"reduce payload", func(o *Options) { o.Benchmark, o.PayloadSize = "reduce", 7 }, "multiple of 8"},
		{"bad burst id", func(o *Options) { o.BurstID = "a.b" }, "flare id"},
		{"unknown lane", func(o *Options) { o.Lane = "pipe" }, "--lane"},
		{"lane on jetstream", func(o *Options) { o.Backend, o.Lane = "jetstream", "unix" }, "takes no lanes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := small("broadcast", "nats")
			tt.edit(&o)
			if err := o.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

// TestPeerGroupNeverComes runs group 0 alone: it must end with a clear timeout.
func TestPeerGroupNeverComes(t *testing.T) {
	o := small("broadcast", "nats")
	o.GroupID, o.Timeout = 0, 300*time.Millisecond
	_, err := Run(context.Background(), o)
	if err == nil || !strings.Contains(err.Error(), "do all 3 groups run") {
		t.Fatalf("err = %v", err)
	}
}

// TestCheckCatchesWrongData makes sure a figure is never reported for wrong data.
func TestCheckCatchesWrongData(t *testing.T) {
	o := small("broadcast", "memory")
	e := newExpectation(o)
	good := pattern(o.PayloadSize, 2)
	if err := e.check("broadcast", 0, good, o.PayloadSize, 2); err != nil {
		t.Fatalf("right data: %v", err)
	}
	bad := pattern(o.PayloadSize, 2)
	bad[100] ^= 1
	if err := e.check("broadcast", 0, bad, o.PayloadSize, 2); err == nil {
		t.Fatal("a flipped bit passed the check")
	}
	if err := e.check("broadcast", 0, good, o.PayloadSize, 3); err == nil {
		t.Fatal("another rank's data passed the check")
	}
	if err := e.check("broadcast", 0, good[1:], o.PayloadSize, 2); err == nil {
		t.Fatal("a short payload passed the check")
	}
	if err := checkSum("allreduce", []float64{3, 3, 2}, 3, 3); err == nil {
		t.Fatal("a wrong sum passed the check")
	}
}
