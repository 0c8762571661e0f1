package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/burstgo/burst/control"
)

// The platform's benchmarks run on the all-in-one server, as `burst serve` builds it: an
// embedded NATS server with JetStream, the gateway and one invoker with the default slots,
// over in-process NATS connections, and HTTP over loopback.
//
//	go test -run '^$' -bench . -benchtime 50x ./gateway

// BenchmarkStartup measures, per flare of hello, POST → every worker running (the latest
// worker start in the record, minus the moment the POST was sent) and POST → results (the
// blocking POST's answer). It reports medians.
func BenchmarkStartup(b *testing.B) {
	for _, bc := range []struct{ size, g int }{{1, 1}, {96, 48}, {960, 48}, {10000, 1000}} {
		b.Run(fmt.Sprintf("N=%d/g=%d", bc.size, bc.g), func(b *testing.B) {
			startup(b, newCluster(b, clusterOptions{}), bc.size, bc.g)
		})
	}
}

// startup runs blocking flares of hello of size workers in packs of g for b's loop and
// reports the medians.
func startup(b *testing.B, c *cluster, size, g int) {
	body := mustJSON(b, map[string]any{"function": "hello", "size": size, "granularity": g})
	client := &http.Client{}
	var running, results []time.Duration
	for b.Loop() {
		t0 := time.Now()
		req, _ := http.NewRequest("POST", c.url+"/flares?wait=true", strings.NewReader(body))
		if c.key != "" {
			req.Header.Set("Authorization", "Bearer "+c.key)
		}
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		var rec Record
		err = json.NewDecoder(resp.Body).Decode(&rec)
		resp.Body.Close()
		t1 := time.Now()
		if err != nil || rec.Status != control.StatusSucceeded || len(rec.Results) != size {
			b.Fatalf("%v: %s %q", err, rec.Status, rec.Error)
		}
		last := rec.Workers[0].Start
		for _, w := range rec.Workers {
			if w.Start.After(last) {
				last = w.Start
			}
		}
		running = append(running, last.Sub(t0))
		results = append(results, t1.Sub(t0))
	}
	b.ReportMetric(median(running).Seconds()*1e3, "ms-running")
	b.ReportMetric(median(results).Seconds()*1e3, "ms-results")
}

// BenchmarkKeys runs the startup and throughput benchmarks with keys enforced, a
// runner's key on every request, beside the same on loopback with no key, in one run:
//
//	go test -run '^$' -bench Keys -benchtime 50x ./gateway   # Throughput: -benchtime 20000x
func BenchmarkKeys(b *testing.B) {
	for _, auth := range []string{"open", "enforced"} {
		b.Run("auth="+auth, func(b *testing.B) {
			// Both make the same requests before the benchmark, which warm the
			// connections: two keys, or two reads of them.
			cluster := func(b *testing.B) *cluster {
				c := newCluster(b, clusterOptions{})
				if auth == "enforced" {
					c.key = call[NewKey](c, "POST", "/keys", map[string]any{"role": "admin"}, http.StatusCreated).Secret
					c.key = call[NewKey](c, "POST", "/keys", map[string]any{"role": "runner"}, http.StatusCreated).Secret
				} else {
					call[map[string]any](c, "GET", "/keys", nil, http.StatusOK)
					call[map[string]any](c, "GET", "/keys", nil, http.StatusOK)
				}
				return c
			}
			b.Run("Startup/N=1", func(b *testing.B) { startup(b, cluster(b), 1, 1) })
			b.Run("Startup/N=960/g=48", func(b *testing.B) { startup(b, cluster(b), 960, 48) })
			b.Run("Throughput", func(b *testing.B) {
				b.ReportMetric(throughput(b, cluster(b), []byte(`{"function":"hello"}`)), "flares/s")
			})
		})
	}
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// BenchmarkThroughput measures blocking single-worker flares of hello per second over HTTP,
// with a Go load generator of 64 concurrent clients.
func BenchmarkThroughput(b *testing.B) {
	c := newCluster(b, clusterOptions{})
	b.ReportMetric(throughput(b, c, []byte(`{"function":"hello"}`)), "flares/s")
}

// throughput posts b.N blocking flares of body from 64 clients and returns flares/s.
func throughput(b *testing.B, c *cluster, body []byte) float64 {
	const clients = 64
	tr := &http.Transport{MaxIdleConns: clients, MaxIdleConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	var failed atomic.Int64
	post := func() {
		req, _ := http.NewRequest("POST", c.url+"/flares?wait=true", bytes.NewReader(body))
		if c.key != "" {
			req.Header.Set("Authorization", "Bearer "+c.key)
		}
		resp, err := client.Do(req)
		if err != nil {
			failed.Add(1)
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			failed.Add(1)
		}
	}
	// Warm the connections, and as many function hosts as there are clients.
	var warm sync.WaitGroup
	for range clients {
		warm.Go(post)
	}
	warm.Wait()
	b.ResetTimer()
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				post()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d flares failed", n)
	}
	return float64(b.N) / elapsed.Seconds()
}

// The function hosts against uploaded functions run in the invoker (isolation none),
// in one run:
//
//	go test -run '^$' -bench Hosted -benchtime 20x ./gateway
//
// Startup: 960 workers of the hello plugin in packs of 48 (20 hosts), warm: the hosts of
// a first flare are there for the next. Cold: the first flare of a new version of a
// function, of one worker: its plugin fetched, a host started, the plugin opened (each
// round uploads the plugin with a byte more, a new digest). Throughput: blocking
// single-worker flares of the hello plugin, 64 clients. Pair: 64 MiB from one pack to
// another, and a round trip of 8 bytes, timed inside the flare by the pingpong plugin.

func BenchmarkHosted(b *testing.B) {
	for _, iso := range []control.Isolation{control.IsolationProcess, control.IsolationNone} {
		b.Run("isolation="+string(iso), func(b *testing.B) {
			b.Run("Startup/N=1", func(b *testing.B) { benchHostedStartup(b, iso, 1, 1) })
			b.Run("Startup/N=960/g=48", func(b *testing.B) { benchHostedStartup(b, iso, 960, 48) })
			if iso == control.IsolationProcess {
				b.Run("Cold/N=1", func(b *testing.B) { benchHostedCold(b) })
			}
			b.Run("Throughput", func(b *testing.B) { benchHostedThroughput(b, iso) })
			b.Run("Pair/64MiB", func(b *testing.B) { benchHostedPair(b, iso, 64<<20, 1) })
			b.Run("RoundTrip/8B", func(b *testing.B) { benchHostedPair(b, iso, 8, 2000) })
		})
	}
}

// hostedCluster is a cluster whose invoker runs uploaded functions with iso, and the
// hello and pingpong plugins registered.
func hostedCluster(b *testing.B, iso control.Isolation) *cluster {
	c := newCluster(b, clusterOptions{isolation: iso})
	call[FunctionRecord](c, "PUT", "/functions/greet", mustRead(b, plugin(b, "functions/examples/hello/plugin")), http.StatusCreated)
	call[FunctionRecord](c, "PUT", "/functions/pingpong", mustRead(b, plugin(b, "gateway/testdata/pingpong")), http.StatusCreated)
	return c
}

// timeFlare posts body with ?wait=true and returns POST → every worker running.
func timeFlare(b *testing.B, c *cluster, client *http.Client, body string) time.Duration {
	t0 := time.Now()
	resp, err := client.Post(c.url+"/flares?wait=true", "application/json", strings.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	var rec Record
	err = json.NewDecoder(resp.Body).Decode(&rec)
	resp.Body.Close()
	if err != nil || rec.Status != control.StatusSucceeded {
		b.Fatalf("%v: %s %q", err, rec.Status, rec.Error)
	}
	last := rec.Workers[0].Start
	for _, w := range rec.Workers {
		if w.Start.After(last) {
			last = w.Start
		}
	}
	return last.Sub(t0)
}

func benchHostedStartup(b *testing.B, iso control.Isolation, size, g int) {
	c := hostedCluster(b, iso)
	client := &http.Client{}
	body := fmt.Sprintf(`{"function":"greet","size":%d,"granularity":%d}`, size, g)
	timeFlare(b, c, client, body) // the hosts start
	var running []time.Duration
	for b.Loop() {
		running = append(running, timeFlare(b, c, client, body))
	}
	b.ReportMetric(median(running).Seconds()*1e3, "ms-running")
}

func benchHostedCold(b *testing.B) {
	c := hostedCluster(b, control.IsolationProcess)
	so := mustRead(b, plugin(b, "functions/examples/hello/plugin"))
	client := &http.Client{}
	var running []time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		// A byte more after the ELF image: a new digest, a new version, which no
		// host has open.
		so = append(so, 0)
		call[FunctionRecord](c, "PUT", "/functions/cold", so, map[bool]int{true: http.StatusCreated, false: http.StatusOK}[i == 0])
		b.StartTimer()
		running = append(running, timeFlare(b, c, client, `{"function":"cold"}`))
	}
	b.ReportMetric(median(running).Seconds()*1e3, "ms-running")
}

func benchHostedThroughput(b *testing.B, iso control.Isolation) {
	c := hostedCluster(b, iso)
	b.ReportMetric(throughput(b, c, []byte(`{"function":"greet"}`)), "flares/s")
}

func benchHostedPair(b *testing.B, iso control.Isolation, size, rounds int) {
	c := hostedCluster(b, iso)
	flare := map[string]any{"function": "pingpong", "size": 2, "granularity": 1, "input": map[string]int{"bytes": size, "rounds": rounds}}
	var per []time.Duration
	for b.Loop() {
		rec := c.run(flare)
		var r struct {
			NS int64 `json:"ns_per_round"`
		}
		if err := json.Unmarshal(rec.Results[1], &r); err != nil {
			b.Fatalf("%s %q: %s", rec.Status, rec.Error, rec.Results)
		}
		per = append(per, time.Duration(r.NS))
	}
	m := median(per)
	b.ReportMetric(float64(m.Nanoseconds())/1e3, "µs/round")
	if size >= 1<<20 {
		b.ReportMetric(float64(size)/m.Seconds()/(1<<30), "GiB/s")
	}
}

// BenchmarkJoin runs TeraSort and PageRank of 4 workers on one invoker in 4 packs
// apart, in 4 packs joined, and in one pack (the goal of joining):
//
//	go test -run '^$' -bench Join -benchtime 5x -count 3 ./gateway
//
// A run is POST /flares?wait=true to the answer, as a client sees it.
func BenchmarkJoin(b *testing.B) {
	c := newCluster(b, clusterOptions{slots: []int{64}})
	apps := []struct{ name, input string }{
		{"terasort", `{"generate":{"records":1000000,"seed":1}}`},
		{"pagerank", `{"generate":{"nodes":300000,"seed":7},"iterations":20}`},
	}
	layouts := []struct {
		name        string
		granularity int
		join        bool
	}{{"4-packs", 1, false}, {"4-packs-joined", 1, true}, {"1-pack", 4, false}}
	for _, app := range apps {
		for _, l := range layouts {
			body := fmt.Appendf(nil, `{"function":%q,"size":4,"granularity":%d,"join":%v,"input":%s}`, app.name, l.granularity, l.join, app.input)
			b.Run(app.name+"/"+l.name, func(b *testing.B) {
				// The garbage of the layout before is not this one's to collect.
				runtime.GC()
				for b.Loop() {
					if rec := call[Record](c, "POST", "/flares?wait=true", body, http.StatusOK); rec.Status != control.StatusSucceeded {
						b.Fatalf("%s: %s %q", body, rec.Status, rec.Error)
					}
				}
			})
		}
	}
}
