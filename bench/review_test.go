package bench

// Tests from an adversarial review of `burst bench`: each pins a defect that was found,
// and fixed, so that it stays fixed.

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/burstgo/burst/cluster"
)

// TestReviewJetStreamGroupsInSeparateProcesses runs the four groups of a jetstream
// broadcast as the multi-terminal workflow does (one Run per group, each with its own
// connection to one server). Group 0 deletes the flare's stream (Run's deferred
// EndFlare) as soon as its own workers are done, while the other groups may still need
// it: the final Barrier ends with a broadcast down a binomial tree over the packs, so
// group 2 still has to forward to group 3 when group 0 returns, and any group may still
// owe credit for the frames it got. Group 3 then times out (or, before comm bounded
// control frames, group k's Close hung for good in a publish retried forever).
func TestReviewJetStreamGroupsInSeparateProcesses(t *testing.T) {
	srv, err := cluster.RunServer(cluster.ServerOptions{Port: -1, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	const groups = 4
	for i := range 3 {
		o := small("broadcast", "jetstream")
		o.Embed, o.Server = false, srv.ClientURL()
		o.BurstSize, o.Groups = groups, groups
		o.PayloadSize, o.ChunkSize = 3<<20, 1<<20
		o.Repeat, o.Warmup = 2, 1
		o.BurstID = fmt.Sprintf("review-js-%d", i)
		o.Timeout = 5 * time.Second
		var wg sync.WaitGroup
		errs := make([]error, groups)
		for g := range groups {
			og := o
			og.GroupID = g
			wg.Go(func() { _, errs[g] = Run(context.Background(), og) })
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(3 * o.Timeout):
			t.Fatalf("run %d: a group's Run has not returned 3× its %v timeout later", i, o.Timeout)
		}
		for g, err := range errs {
			if err != nil {
				t.Fatalf("run %d, group %d: %v", i, g, err)
			}
		}
	}
}

// TestReviewChunkSizeReported: comm lowers the chunk size to what the transport carries
// (8 MiB less the header on NATS), but the samples report --chunk-size as given, and
// "chunking" from it, so a 9 MiB pair with --chunk-size 16 MiB says it was not chunked
// although it crossed in two frames.
func TestReviewChunkSizeReported(t *testing.T) {
	o := small("pair", "nats")
	o.BurstSize, o.Groups = 2, 2
	o.PayloadSize, o.ChunkSize = 9<<20, 16<<20
	o.Repeat, o.Warmup = 1, 0
	r, err := Run(context.Background(), o)
	if err != nil {
		if strings.Contains(err.Error(), "--chunk-size") {
			return // refusing a chunk size the transport cannot carry is a fix too
		}
		t.Fatal(err)
	}
	for _, s := range r.Samples {
		if !s.Chunking || s.ChunkSize > 8<<20 {
			t.Fatalf("sample says chunking=%v, chunk_size=%d for 9 MiB over NATS (8 MiB frames)", s.Chunking, s.ChunkSize)
		}
	}
}

// TestReviewLatencyPercentiles: latencyOf picks d[int(q·n)], one past the nearest rank
// (d[ceil(q·n)−1]) whenever q·n is whole: the "median" of 1, 2, 3, 4 comes out as 3 and
// the p90 of 1..10 as the maximum. GroupSummary.Seconds, the figure compare.sh tabulates,
// is that median.
func TestReviewLatencyPercentiles(t *testing.T) {
	tests := []struct {
		name string
		d    []float64
		p50  []float64 // any of these is right (nearest rank or interpolated)
		p90  []float64
	}{
		{"four", []float64{4, 1, 3, 2}, []float64{2, 2.5}, []float64{4}},
		{"ten", []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, []float64{5, 5.5}, []float64{9, 9.1}},
		{"two", []float64{1, 2}, []float64{1, 1.5}, []float64{2}},
	}
	in := func(x float64, set []float64) bool {
		for _, y := range set {
			if x == y {
				return true
			}
		}
		return false
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := latencyOf(tt.d)
			if !in(l.P50, tt.p50) || !in(l.P90, tt.p90) {
				t.Fatalf("p50 %v (want one of %v), p90 %v (want one of %v)", l.P50, tt.p50, l.P90, tt.p90)
			}
		})
	}
}

// TestReviewValidateNamesTheFlag: a negative --warmup is refused in --repeat's words,
// and a --timeout of zero is taken as a deadline already past: Run fails at once with
// "context deadline exceeded (do all 3 groups run …?)", which blames the peers. Zero
// should either be refused, naming --timeout, or mean no bound.
func TestReviewValidateNamesTheFlag(t *testing.T) {
	t.Run("negative warmup", func(t *testing.T) {
		o := small("broadcast", "memory")
		o.Warmup = -1
		if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "--warmup") {
			t.Fatalf("Validate = %v, want an error naming --warmup", err)
		}
	})
	t.Run("zero timeout", func(t *testing.T) {
		o := small("broadcast", "memory")
		o.Timeout = 0
		if _, err := Run(context.Background(), o); err != nil && !strings.Contains(err.Error(), "--timeout") {
			t.Fatalf("Run = %v, want success (no bound) or an error naming --timeout", err)
		}
	})
}
