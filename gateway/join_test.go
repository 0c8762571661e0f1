package gateway

import (
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/burstgo/burst/control"
)

// TestJoin runs the five apps with "join" on and off: packs placed on one invoker run
// as one pack, the record shows which requested packs it holds and the traffic between
// them stays local, and the answers do not change: exactly, but for the last bits of
// floating-point sums, which a reduction adds up in the order of its packs (as between
// any two granularities; the collectives themselves are compared exactly in comm's
// TestUnevenPacks).
func TestJoin(t *testing.T) {
	c := newCluster(t, clusterOptions{slots: []int{64}})
	apps := []struct {
		function string
		input    map[string]any
	}{
		{"kmeans", map[string]any{"k": 4, "generate": map[string]any{"points": 4000, "seed": 1}, "iterations": 10}},
		{"kmeans-balanced", map[string]any{"k": 4, "generate": map[string]any{"points": 2000, "seed": 2}, "iterations": 3}},
		{"pagerank", map[string]any{"generate": map[string]any{"nodes": 3000, "seed": 3}, "iterations": 20}},
		{"terasort", map[string]any{"generate": map[string]any{"records": 20000, "seed": 4}, "samples": 16}},
		{"gridsearch", map[string]any{"generate": map[string]any{"samples": 200, "seed": 5}, "degrees": []int{1, 2}, "folds": 3}},
	}
	results := func(rec Record) any {
		t.Helper()
		res := call[struct{ Results []any }](c, "GET", "/flares/"+rec.ID+"/results", nil, http.StatusOK).Results
		for _, r := range res {
			delete(r.(map[string]any), "comm") // pagerank's own counters differ by where its packs are
		}
		return res
	}
	for _, app := range apps {
		for _, backend := range []control.Backend{control.BackendNATS, control.BackendJetStream} {
			req := map[string]any{"function": app.function, "size": 8, "granularity": 2, "backend": backend, "input": app.input}
			apart := c.run(req)
			req["join"] = true
			joined := c.run(req)
			for _, rec := range []Record{apart, joined} {
				if rec.Status != control.StatusSucceeded {
					t.Fatalf("%s over %s, join %v: %s %q", app.function, backend, rec.Join, rec.Status, rec.Error)
				}
			}
			if got, want := results(joined), results(apart); !sameJSON(got, want) {
				t.Errorf("%s over %s: joined\n%.300s\napart\n%.300s", app.function, backend, mustJSON(t, got), mustJSON(t, want))
			}
			if len(apart.Packs) != 4 || apart.Join || apart.Comm.RemoteMessages == 0 {
				t.Errorf("%s apart: %d packs, join %v, %d remote messages", app.function, len(apart.Packs), apart.Join, apart.Comm.RemoteMessages)
			}
			if !joined.Join || len(joined.Packs) != 1 || !slices.Equal(joined.Packs[0].Joined, []int{0, 1, 2, 3}) ||
				joined.Packs[0].Ranks != [2]int{0, 7} || joined.Comm.RemoteMessages != 0 || joined.Comm.LocalMessages == 0 {
				t.Errorf("%s joined: join %v, packs %+v, comm %+v", app.function, joined.Join, joined.Packs, joined.Comm)
			}
			for _, w := range joined.Workers {
				if w.Pack != 0 {
					t.Errorf("%s joined: rank %d in pack %d", app.function, w.Rank, w.Pack)
				}
			}
		}
	}
}

// A joined flare spread over two invokers of 2 and 6 slots runs as one pack of 2 on the
// first and one of 6 on the second (uneven packs: bounds [0 2]), with the traffic
// between them remote, and gives the same answer as apart, over NATS and JetStream.
func TestJoinAcrossInvokers(t *testing.T) {
	c := newCluster(t, clusterOptions{slots: []int{2, 6}})
	for _, backend := range []control.Backend{control.BackendNATS, control.BackendJetStream} {
		req := map[string]any{"function": "terasort", "size": 8, "granularity": 2, "join": true, "backend": backend,
			"input": map[string]any{"generate": map[string]any{"records": 20000, "seed": 4}}}
		joined := c.run(req)
		if joined.Status != control.StatusSucceeded || len(joined.Packs) != 2 || joined.Packs[0].Invoker == joined.Packs[1].Invoker ||
			!slices.Equal(joined.Packs[0].Joined, []int{0}) || !slices.Equal(joined.Packs[1].Joined, []int{1, 2, 3}) ||
			joined.Packs[1].Ranks != [2]int{2, 7} || joined.Comm.RemoteMessages == 0 {
			t.Fatalf("joined over two invokers: %s %q, packs %+v, comm %+v", joined.Status, joined.Error, joined.Packs, joined.Comm)
		}
		for _, w := range joined.Workers {
			if want := min(w.Rank/2, 1); w.Pack != want {
				t.Errorf("rank %d ran in pack %d, want %d", w.Rank, w.Pack, want)
			}
		}
		req["join"] = false
		apart := c.run(req)
		if apart.Status != control.StatusSucceeded || len(apart.Packs) != 4 {
			t.Fatalf("apart: %s %q, packs %+v", apart.Status, apart.Error, apart.Packs)
		}
		a := call[FlareResults](c, "GET", "/flares/"+joined.ID+"/results", nil, http.StatusOK)
		b := call[FlareResults](c, "GET", "/flares/"+apart.ID+"/results", nil, http.StatusOK)
		if mustJSON(t, a.Results) != mustJSON(t, b.Results) {
			t.Errorf("over %s: joined %s, apart %s", backend, mustJSON(t, a.Results), mustJSON(t, b.Results))
		}
	}

	// An uploaded function, in a function host: its two packs of one are one.
	call[FunctionRecord](c, "PUT", "/functions/pingpong", mustRead(t, plugin(t, "gateway/testdata/pingpong")), http.StatusCreated)
	hosted := c.run(map[string]any{"function": "pingpong", "size": 2, "granularity": 1, "join": true, "input": map[string]int{"bytes": 1 << 16, "rounds": 3}})
	if hosted.Status != control.StatusSucceeded || len(hosted.Packs) != 1 || hosted.Comm.RemoteMessages != 0 || hosted.Comm.LocalMessages == 0 {
		t.Errorf("hosted and joined: %s %q, packs %+v, comm %+v", hosted.Status, hosted.Error, hosted.Packs, hosted.Comm)
	}
}

// sameJSON reports whether two decoded JSON values are equal, numbers within a relative
// 1e-12.
func sameJSON(a, b any) bool {
	switch a := a.(type) {
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k, v := range a {
			if !sameJSON(v, b[k]) {
				return false
			}
		}
		return true
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !sameJSON(a[i], b[i]) {
				return false
			}
		}
		return true
	case float64:
		b, ok := b.(float64)
		return ok && math.Abs(a-b) <= 1e-12*max(1, math.Abs(a))
	}
	return a == b
}

// A gateway that restarts takes a joined flare up as it was placed: the packs it holds
// and their hosts stay in the record.
func TestJoinTakenUp(t *testing.T) {
	c := newCluster(t, clusterOptions{gateway: Options{LeaveRunning: true}})
	gateName := newGate(t)
	rec := call[Record](c, "POST", "/flares", map[string]any{"function": "gate", "size": 4, "granularity": 1, "join": true, "input": gateName}, http.StatusAccepted)
	eventually(t, func() bool {
		return call[Record](c, "GET", "/flares/"+rec.ID, nil, http.StatusOK).Workers[3].Status == control.StatusRunning
	}, "every worker to run")
	before := call[Record](c, "GET", "/flares/"+rec.ID, nil, http.StatusOK)
	if err := c.gw.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	c.startGateway(Options{LeaveRunning: true})
	after := call[Record](c, "GET", "/flares/"+rec.ID, nil, http.StatusOK)
	if !after.Join || mustJSON(t, after.Packs) != mustJSON(t, before.Packs) || len(after.Packs) != 1 || after.Packs[0].Host == "" {
		t.Errorf("taken up: join %v packs %+v, want %+v", after.Join, after.Packs, before.Packs)
	}
	openGate(gateName)
	if got := c.waitFlare(rec.ID); got.Status != control.StatusSucceeded || mustJSON(t, got.Packs) != mustJSON(t, before.Packs) {
		t.Errorf("ended %s %q with packs %+v", got.Status, got.Error, got.Packs)
	}
}

func TestJoinPlacements(t *testing.T) {
	pl := func(pack, first, end int, inv string) placement {
		return placement{pack: pack, first: first, end: end, invoker: inv}
	}
	tests := []struct {
		name   string
		in     []placement
		want   string // pack:first-end@invoker joined
		bounds []int
	}{
		{"one invoker", []placement{pl(0, 0, 2, "a"), pl(1, 2, 4, "a"), pl(2, 4, 5, "a")}, "0:0-5@a[0 1 2]", []int{0}},
		{"two runs", []placement{pl(0, 0, 2, "a"), pl(1, 2, 4, "a"), pl(2, 4, 6, "b")}, "0:0-4@a[0 1] 1:4-6@b[2]", []int{0, 4}},
		{"interleaved", []placement{pl(0, 0, 2, "a"), pl(1, 2, 4, "b"), pl(2, 4, 6, "a")}, "0:0-2@a[0] 1:2-4@b[1] 2:4-6@a[2]", nil},
		{"a short last pack", []placement{pl(0, 0, 3, "a"), pl(1, 3, 6, "b"), pl(2, 6, 7, "b")}, "0:0-3@a[0] 1:3-7@b[1 2]", []int{0, 3}},
	}
	for _, tt := range tests {
		out := join(tt.in)
		var got []string
		for _, p := range out {
			got = append(got, fmt.Sprintf("%d:%d-%d@%s%v", p.pack, p.first, p.end, p.invoker, p.joined))
		}
		if strings.Join(got, " ") != tt.want {
			t.Errorf("%s: %v, want %s", tt.name, got, tt.want)
		}
		if b := bounds(out, len(tt.in)); !slices.Equal(b, tt.bounds) {
			t.Errorf("%s: bounds %v, want %v", tt.name, b, tt.bounds)
		}
	}
}
