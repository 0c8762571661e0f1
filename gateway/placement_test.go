package gateway

import (
	"fmt"
	"slices"
	"testing"

	"github.com/burstgo/burst/comm"
	"github.com/burstgo/burst/control"
)

func TestPlace(t *testing.T) {
	tests := []struct {
		name    string
		free    map[string]int // slots of idle invokers
		size, g int
		backend control.Backend
		builtin bool   // of a built-in that only b advertises
		want    string // invoker of each pack, or "none"
	}{
		{"one pack", map[string]int{"a": 10}, 8, 8, "nats", false, "[a]"},
		{"best fit", map[string]int{"a": 10, "b": 4}, 4, 4, "nats", false, "[b]"},
		{"spill over", map[string]int{"a": 10, "b": 4}, 12, 4, "nats", false, "[b a a]"},
		{"whole on one host when one holds it", map[string]int{"a": 10, "b": 100}, 16, 8, "nats", false, "[b b]"},
		{"whole, best fit", map[string]int{"a": 40, "b": 20, "c": 100}, 16, 8, "nats", false, "[b b]"},
		{"last pack smaller", map[string]int{"a": 5, "b": 8}, 10, 4, "nats", false, "[a b b]"},
		{"gang: all or none", map[string]int{"a": 4, "b": 4}, 9, 4, "nats", false, "none"},
		{"memory on one invoker", map[string]int{"a": 8, "b": 16}, 8, 2, "memory", false, "[a a a a]"},
		{"memory too large for any", map[string]int{"a": 8, "b": 8}, 12, 4, "memory", false, "none"},
		{"a built-in where it is", map[string]int{"a": 4, "b": 16}, 8, 4, "nats", true, "[b b]"},
		{"a built-in too large for where it is", map[string]int{"a": 16, "b": 4}, 8, 4, "nats", true, "none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &Gateway{invokers: map[string]*invokerState{}}
			for id, n := range tt.free {
				g.invokers[id] = &invokerState{hb: control.Heartbeat{ID: id, Slots: n}, joined: true}
			}
			if b := g.invokers["b"]; b != nil {
				b.hb.Builtins = []string{"fn"}
			}
			f := &flare{spec: flareSpec{function: "fn", size: tt.size, granularity: tt.g, backend: tt.backend, builtin: tt.builtin}}
			ps := g.place(f)
			got := "none"
			if ps != nil {
				var ids []string
				used := map[string]int{}
				for i, p := range ps {
					ids = append(ids, p.invoker)
					used[p.invoker] += p.end - p.first
					if p.pack != i || p.first != i*tt.g || p.end != min((i+1)*tt.g, tt.size) {
						t.Errorf("placement %d = %+v", i, p)
					}
				}
				got = fmt.Sprint(ids)
				for id, n := range used {
					if g.invokers[id].used != n {
						t.Errorf("%s: %d slots reserved, want %d", id, g.invokers[id].used, n)
					}
				}
			} else {
				for id, st := range g.invokers {
					if st.used != 0 {
						t.Errorf("%s: %d slots reserved by a failed placement", id, st.used)
					}
				}
			}
			if got != tt.want {
				t.Errorf("placed %s, want %s", got, tt.want)
			}
		})
	}
}

func TestCapacityError(t *testing.T) {
	g := &Gateway{invokers: map[string]*invokerState{}}
	if err := g.capacityError(flareSpec{size: 1, granularity: 1}); err == nil {
		t.Error("no invokers, no error")
	}
	g.invokers["a"] = &invokerState{hb: control.Heartbeat{Slots: 8}, used: 8, joined: true}
	g.invokers["b"] = &invokerState{hb: control.Heartbeat{Slots: 4}, joined: true}
	// An invoker awaited after a restart counts for nothing.
	g.invokers["c"] = &invokerState{hb: control.Heartbeat{Slots: 100}}
	tests := []struct {
		size, g int
		backend control.Backend
		ok      bool
	}{
		{12, 4, "nats", true}, // busy slots only make it wait
		{13, 4, "nats", false},
		{9, 9, "nats", false},
		{12, 3, "nats", false}, // the totals allow it, but packs 3,3,3,3 on 8 and 4 slots never fit
		{8, 1, "memory", true},
		{9, 1, "memory", false},
	}
	for _, tt := range tests {
		err := g.capacityError(flareSpec{size: tt.size, granularity: tt.g, backend: tt.backend})
		if (err == nil) != tt.ok {
			t.Errorf("N=%d g=%d %s: %v, want ok=%v", tt.size, tt.g, tt.backend, err, tt.ok)
		}
	}
}

func TestScheduleWhileClosing(t *testing.T) {
	for _, closing := range []bool{false, true} {
		t.Run(fmt.Sprintf("closing=%v", closing), func(t *testing.T) {
			g := &Gateway{invokers: map[string]*invokerState{"a": {hb: control.Heartbeat{Slots: 4}, joined: true}}, closing: closing, index: newIndex(10, nil)}
			g.metrics = newMetrics(g)
			f := &flare{spec: flareSpec{size: 2, granularity: 2, backend: "nats"}, queued: true}
			g.queue = []*flare{f}
			placed := g.scheduleLocked()
			if got := len(placed) == 1; got == closing {
				t.Errorf("placed %d flares; a closing gateway must place none, an open one the flare", len(placed))
			}
			if f.queued == (len(placed) == 1) || g.invokers["a"].used != 2*len(placed) {
				t.Errorf("queued %v, %d slots used after placing %d flares", f.queued, g.invokers["a"].used, len(placed))
			}
		})
	}
}

func TestTrafficGroups(t *testing.T) {
	for _, packs := range []int{1, 5, comm.MaxTrafficGroups, comm.MaxTrafficGroups + 1, 1000} {
		tr := newTraffic(packs)
		if len(tr.Groups) != min(packs, comm.MaxTrafficGroups) {
			t.Fatalf("%d packs: %d groups", packs, len(tr.Groups))
		}
		next := 0 // the groups cover the packs in order, each once
		for i, g := range tr.Groups {
			if g[0] != next || g[1] < g[0] {
				t.Fatalf("%d packs: group %d is %v after pack %d", packs, i, g, next-1)
			}
			next = g[1] + 1
		}
		if next != packs {
			t.Errorf("%d packs: the groups end at pack %d", packs, next-1)
		}
		tr.add(packs-1, packs, make([]int64, len(tr.Bytes)+1)) // a row of another shape: ignored
		tr.add(packs-1, packs, slices.Repeat([]int64{2}, len(tr.Bytes)))
		if got := tr.Bytes[len(tr.Bytes)-1][0]; got != 2 {
			t.Errorf("%d packs: last row %v", packs, tr.Bytes[len(tr.Bytes)-1])
		}
	}
}

// BenchmarkPlace places a flare of 960 workers in packs of 48 on a cluster of 100
// invokers of 64 slots (so the flare spreads) and of 2,000 slots (so one holds it), and
// gives the slots back.
func BenchmarkPlace(b *testing.B) {
	for _, slots := range []int{64, 2000} {
		b.Run(fmt.Sprintf("invokers=100/slots=%d", slots), func(b *testing.B) {
			g := &Gateway{invokers: map[string]*invokerState{}}
			for i := range 100 {
				id := fmt.Sprintf("inv%03d", i)
				g.invokers[id] = &invokerState{hb: control.Heartbeat{ID: id, Slots: slots}, joined: true}
			}
			f := &flare{spec: flareSpec{function: "fn", size: 960, granularity: 48, backend: control.BackendNATS}}
			for b.Loop() {
				ps := g.place(f)
				if ps == nil {
					b.Fatal("no placement")
				}
				for _, p := range ps {
					p.st.used -= p.end - p.first
					p.st.packs--
				}
			}
		})
	}
}
