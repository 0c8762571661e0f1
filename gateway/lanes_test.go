package gateway

import (
	"net/http"
	"testing"

	"github.com/burstgo/burst/control"
)

// Packs on one invoker and on two move their large messages over direct lanes, built-ins
// in the invokers and uploaded functions in function hosts, with the same results as
// invokers whose lanes are off; the jetstream backend keeps to its stream.
func TestLanes(t *testing.T) {
	on := newCluster(t, clusterOptions{slots: []int{4, 4}})
	off := newCluster(t, clusterOptions{slots: []int{4, 4}, lanesOff: true})
	for _, function := range []string{"terasort", "pagerank"} {
		input := map[string]any{"generate": map[string]any{"records": 200000, "seed": 5}}
		if function == "pagerank" {
			input = map[string]any{"generate": map[string]any{"nodes": 100000, "degree": 8, "seed": 5}, "iterations": 5}
		}
		req := map[string]any{"function": function, "size": 8, "granularity": 2, "input": input}
		lanes, nats := on.run(req), off.run(req)
		if lanes.Status != control.StatusSucceeded || nats.Status != control.StatusSucceeded {
			t.Fatalf("%s: %s %q with lanes, %s %q without", function, lanes.Status, lanes.Error, nats.Status, nats.Error)
		}
		if lanes.Packs[0].Invoker == lanes.Packs[3].Invoker {
			t.Errorf("%s: packs %+v, want them on both invokers", function, lanes.Packs)
		}
		if lanes.Comm.LaneBytes == 0 || lanes.Comm.LaneBytes > lanes.Comm.RemoteBytes || nats.Comm.LaneBytes != 0 {
			t.Errorf("%s: comm %+v with lanes, %+v without", function, lanes.Comm, nats.Comm)
		}
		a := call[FlareResults](on, "GET", "/flares/"+lanes.ID+"/results", nil, http.StatusOK)
		b := call[FlareResults](off, "GET", "/flares/"+nats.ID+"/results", nil, http.StatusOK)
		if mustJSON(t, a.Results) != mustJSON(t, b.Results) {
			t.Errorf("%s: with lanes %s, without %s", function, mustJSON(t, a.Results), mustJSON(t, b.Results))
		}
		req["backend"] = control.BackendJetStream
		if durable := on.run(req); durable.Status != control.StatusSucceeded || durable.Comm.LaneBytes != 0 {
			t.Errorf("%s over jetstream: %s %q, comm %+v", function, durable.Status, durable.Error, durable.Comm)
		}
	}

	call[FunctionRecord](on, "PUT", "/functions/pingpong", mustRead(t, plugin(t, "gateway/testdata/pingpong")), http.StatusCreated)
	hosted := on.run(map[string]any{"function": "pingpong", "size": 2, "granularity": 1, "input": map[string]int{"bytes": 1 << 20, "rounds": 3}})
	if hosted.Status != control.StatusSucceeded || hosted.Comm.LaneBytes != 4<<20 {
		t.Errorf("pingpong of 1 MiB in function hosts: %s %q, comm %+v", hosted.Status, hosted.Error, hosted.Comm)
	}
}
