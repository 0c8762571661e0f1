package main

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/burstgo/burst/cluster/clustertest"
	"github.com/burstgo/burst/control"
	"github.com/burstgo/burst/gateway"
)

// BenchmarkScale runs a gateway and n invokers as separate processes of the real binary
// on this host, the invokers joined over the gateway's NATS server with keys, 100,000
// slots among them, and measures flares of 100,000 workers of hello in packs of 1,000:
// from the flare's creation to its last worker running (ms/all-running) and to its end
// (ms/done), for 1, 2, 5 and 10 invokers.
func BenchmarkScale(b *testing.B) {
	const workers, granularity = 100_000, 1_000
	for _, n := range []int{1, 2, 5, 10} {
		b.Run(fmt.Sprintf("invokers=%d", n), func(b *testing.B) {
			natsPort := clustertest.FreePort(b)
			api := "http://127.0.0.1:" + strconv.Itoa(clustertest.FreePort(b))
			start(b, "gateway", "--http", api[len("http://"):], "--data", filepath.Join(b.TempDir(), "gateway"),
				"--nats-port", strconv.Itoa(natsPort), "--log-level", "warn")
			waitHTTP(b, api+"/livez")
			adminKey(b, api)
			for i := range n {
				id := fmt.Sprintf("inv%d", i)
				start(b, "invoker", "--nats", "nats://127.0.0.1:"+strconv.Itoa(natsPort), "--credentials", joinKeyFile(b, api, id),
					"--invoker-id", id, "--slots", strconv.Itoa(workers/n), "--http", "", "--data", filepath.Join(b.TempDir(), id),
					"--log-level", "warn")
			}
			for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
				l := request[struct{ Invokers []gateway.InvokerInfo }](b, "GET", api+"/invokers", nil, http.StatusOK)
				if len(l.Invokers) == n {
					break
				}
				if time.Now().After(deadline) {
					b.Fatalf("%d of %d invokers joined", len(l.Invokers), n)
				}
			}
			body := fmt.Appendf(nil, `{"function":"hello","size":%d,"granularity":%d}`, workers, granularity)
			var running, done time.Duration
			for b.Loop() {
				rec := request[gateway.Record](b, "POST", api+"/flares?wait=true", body, http.StatusOK)
				if rec.Status != control.StatusSucceeded {
					b.Fatalf("%s %q", rec.Status, rec.Error)
				}
				var last time.Time
				for _, w := range rec.Workers {
					if w.Start.After(last) {
						last = w.Start
					}
				}
				running += last.Sub(rec.Created)
				done += rec.Ended.Sub(rec.Created)
			}
			b.ReportMetric(float64(running.Milliseconds())/float64(b.N), "ms/all-running")
			b.ReportMetric(float64(done.Milliseconds())/float64(b.N), "ms/done")
		})
	}
}
