package terasort

import (
	"context"
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/burstgo/burst/comm"
	"github.com/burstgo/burst/functions/examples/dataset"
	"github.com/burstgo/burst/functions/examples/flaretest"
)

// benchRecords is 1 GiB of records.
const benchRecords = (1<<30 + dataset.RecordSize - 1) / dataset.RecordSize

// BenchmarkTeraSort sorts 1 GiB of generated records with the sequential program (make
// the records, fingerprint them, sort, fingerprint and check the output) and with the
// flare over NATS through an embedded server. The heap is held to 7 GiB, for a machine
// shared with others; a run peaks around 4 GiB:
//
//	go test -run '^$' -bench . -benchtime 1x -timeout 30m ./functions/examples/terasort
func BenchmarkTeraSort(b *testing.B) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(7 << 30))
	gen := dataset.Records{N: benchRecords, Seed: 1}
	b.Run("reference", func(b *testing.B) {
		b.SetBytes(benchRecords * dataset.RecordSize)
		for b.Loop() {
			records := gen.Generate(0, gen.N)
			in := Fingerprint(records)
			sorted := sortParts([][]byte{records})
			records = nil
			if Fingerprint(sorted) != in {
				b.Fatal("the sort lost records")
			}
			for i := dataset.RecordSize; i < len(sorted); i += dataset.RecordSize {
				if keyOf(sorted[i-dataset.RecordSize:]).compare(keyOf(sorted[i:])) > 0 {
					b.Fatal("not sorted")
				}
			}
		}
		runtime.GC()
	})
	nats := flaretest.NATS(b)
	in := Input{Generate: &gen, Samples: DefaultSamples}
	for _, l := range []flaretest.Layout{{Size: 1, Granularity: 1}, {Size: 2, Granularity: 1}, {Size: 2, Granularity: 2}} {
		b.Run(l.String(), func(b *testing.B) {
			b.SetBytes(benchRecords * dataset.RecordSize)
			for b.Loop() {
				results, c, err := flaretest.Run(b, l, nats, func(ctx context.Context, w *comm.Worker) (Result, error) {
					res, _, err := run(ctx, w, in)
					return res, err
				})
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(c.RemoteBytes), "remote-bytes")
				b.ReportMetric(results[0].Total.Skew, "skew")
			}
			runtime.GC()
		})
	}
}
