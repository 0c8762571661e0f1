package pagerank

import (
	"context"
	"testing"

	"github.com/burstgo/burst/comm"
	"github.com/burstgo/burst/functions/examples/flaretest"
)

// benchInput is 20 iterations (the tolerance is out of reach) on a 1 Mi-node power-law
// graph of about 8 Mi edges.
const benchInput = `{"generate": {"nodes": 1048576, "degree": 8, "seed": 1}, "iterations": 20, "tolerance": 1e-15}`

// BenchmarkPageRank puts the flare beside the sequential reference on the same graph
// (both generate it), over NATS through an embedded server, each pack on its own
// connection:
//
//	go test -run '^$' -bench PageRank -benchtime 1x ./functions/examples/pagerank
func BenchmarkPageRank(b *testing.B) {
	in, err := ParseInput([]byte(benchInput))
	if err != nil {
		b.Fatal(err)
	}
	g := in.Generate
	b.Run("reference", func(b *testing.B) {
		for b.Loop() {
			offsets, targets := g.Generate(0, g.Nodes)
			reference(g.Nodes, offsets, targets, in.Damping, in.Tolerance, in.Iterations)
		}
	})
	nats := flaretest.NATS(b)
	for _, l := range []flaretest.Layout{{Size: 1, Granularity: 1}, {Size: 2, Granularity: 1}, {Size: 2, Granularity: 2}} {
		b.Run(l.String(), func(b *testing.B) { benchFlare(b, l, nats, in) })
	}
}

// BenchmarkPageRankGranularity runs 16 workers on the same graph with one worker a
// pack, two packs of 8 and one pack of 16, to show remote traffic fall as packs grow:
//
//	go test -run '^$' -bench PageRankGranularity -benchtime 1x ./functions/examples/pagerank
func BenchmarkPageRankGranularity(b *testing.B) {
	in, err := ParseInput([]byte(benchInput))
	if err != nil {
		b.Fatal(err)
	}
	nats := flaretest.NATS(b)
	for _, g := range []int{1, 8, 16} {
		b.Run(flaretest.Layout{Size: 16, Granularity: g}.String(), func(b *testing.B) {
			benchFlare(b, flaretest.Layout{Size: 16, Granularity: g}, nats, in)
		})
	}
}

func benchFlare(b *testing.B, l flaretest.Layout, be flaretest.Backend, in Input) {
	for b.Loop() {
		_, c, err := flaretest.Run(b, l, be, func(ctx context.Context, w *comm.Worker) (Result, error) {
			res, _, err := run(ctx, w, in)
			return res, err
		})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(c.RemoteBytes), "remote-bytes")
		b.ReportMetric(float64(c.RemoteMessages), "remote-msgs")
		b.ReportMetric(float64(c.LocalBytes), "local-bytes")
	}
}
