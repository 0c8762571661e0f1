package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
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
			c := newCluster(b, clusterOptions{})
			body := mustJSON(b, map[string]any{"function": "hello", "size": bc.size, "granularity": bc.g})
			client := &http.Client{}
			var running, results []time.Duration
			for b.Loop() {
				t0 := time.Now()
				resp, err := client.Post(c.url+"/flares?wait=true", "application/json", bytes.NewReader([]byte(body)))
				if err != nil {
					b.Fatal(err)
				}
				var rec Record
				err = json.NewDecoder(resp.Body).Decode(&rec)
				resp.Body.Close()
				t1 := time.Now()
				if err != nil || rec.Status != control.StatusSucceeded || len(rec.Results) != bc.size {
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
	const clients = 64
	tr := &http.Transport{MaxIdleConns: clients, MaxIdleConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	body := []byte(`{"function":"hello"}`)
	var failed atomic.Int64
	post := func() {
		resp, err := client.Post(c.url+"/flares?wait=true", "application/json", bytes.NewReader(body))
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
	for range clients { // warm the connections
		post()
	}
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
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "flares/s")
}
