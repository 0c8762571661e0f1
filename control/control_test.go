package control

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestAssignmentRanks(t *testing.T) {
	tests := []struct {
		size, g, pack int
		first, end    int
	}{
		{8, 4, 0, 0, 4},
		{8, 4, 1, 4, 8},
		{10, 4, 2, 8, 10},
		{1, 1, 0, 0, 1},
		{5, 3, 2, 6, 5}, // past the last pack: empty
	}
	for _, tt := range tests {
		first, end := Assignment{Size: tt.size, Granularity: tt.g, Pack: tt.pack}.Ranks()
		if first != tt.first || end != tt.end {
			t.Errorf("N=%d g=%d pack %d: [%d, %d), want [%d, %d)", tt.size, tt.g, tt.pack, first, end, tt.first, tt.end)
		}
	}
}

// TestWireShape pins the JSON of the messages: a renamed key is a new protocol level.
func TestWireShape(t *testing.T) {
	a := Assignment{Proto: Version, Flare: "f", Function: "hello", Size: 2, Granularity: 1, Pack: 1, Backend: BackendMemory,
		Timeout: Duration(1500 * time.Millisecond), Inputs: []json.RawMessage{json.RawMessage(`{"a":1}`)}}
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"proto":5,"flare":"f","function":"hello","size":2,"granularity":1,"pack":1,"backend":"memory","timeout":"1.5s","inputs":[{"a":1}]}`
	if string(b) != want {
		t.Errorf("assignment\n got %s\nwant %s", b, want)
	}
	var back Assignment
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Timeout != a.Timeout || string(back.Inputs[0]) != `{"a":1}` || back.Backend != BackendMemory {
		t.Errorf("round trip %s → %+v", b, back)
	}
	hb, _ := json.Marshal(Heartbeat{Proto: Version, ID: "i", Interval: Duration(time.Second), Builtins: []string{"hello"}})
	for _, key := range []string{`"proto":5`, `"interval":"1s"`, `"builtins":["hello"]`} {
		if !strings.Contains(string(hb), key) {
			t.Errorf("heartbeat %s has no %s", hb, key)
		}
	}
	ev, _ := json.Marshal(Event{Kind: EventEnded, Flare: "f", Status: StatusSucceeded, Reports: 2})
	for _, key := range []string{`"type":"ended"`, `"status":"succeeded"`, `"reports":2`} {
		if !strings.Contains(string(ev), key) {
			t.Errorf("event %s has no %s", ev, key)
		}
	}
	if AssignSubject("x") != "burst.ctl.assign.x" || PacksSubject("x") != "burst.ctl.packs.x" || EventSubject("f", "x") != "burst.evt.f.x" ||
		HeartbeatSubject("x") != "burst.ctl.heartbeat.x" || ByeSubject("x") != "burst.ctl.bye.x" || FlareSubjects("f") != "burst.f.>" {
		t.Error("subjects moved")
	}
}

func TestDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{`"30s"`, 30 * time.Second, true},
		{`"1m30s"`, 90 * time.Second, true},
		{`90`, 90 * time.Second, true},
		{`0.5`, 500 * time.Millisecond, true},
		{`"soon"`, 0, false},
		{`true`, 0, false},
		{`1e300`, 0, false},
		{`-1e300`, 0, false},
	}
	for _, tt := range tests {
		var d Duration
		err := json.Unmarshal([]byte(tt.in), &d)
		if (err == nil) != tt.ok || tt.ok && time.Duration(d) != tt.want {
			t.Errorf("%s: %v %v, want %v ok=%v", tt.in, time.Duration(d), err, tt.want, tt.ok)
		}
	}
	if b, _ := json.Marshal(Duration(90 * time.Second)); string(b) != `"1m30s"` {
		t.Errorf("marshal: %s", b)
	}
}

func TestFinal(t *testing.T) {
	for s, want := range map[Status]bool{
		StatusQueued: false, StatusRunning: false, StatusAborted: false,
		StatusSucceeded: true, StatusFailed: true, StatusTimedOut: true, StatusCancelled: true,
	} {
		if s.Final() != want {
			t.Errorf("%s.Final() = %v", s, !want)
		}
	}
}

func TestAssignmentBounds(t *testing.T) {
	a := Assignment{Size: 10, Granularity: 2, Bounds: []int{0, 3, 7}}
	for pack, want := range [][2]int{{0, 3}, {3, 7}, {7, 10}} {
		a.Pack = pack
		if first, end := a.Ranks(); first != want[0] || end != want[1] || a.CheckBounds() != nil {
			t.Errorf("pack %d: ranks %d-%d, %v; want %v", pack, first, end, a.CheckBounds(), want)
		}
	}
	if a.Packs() != 3 {
		t.Errorf("%d packs, want 3", a.Packs())
	}
	a.Pack = 3
	if first, end := a.Ranks(); first != end || a.CheckBounds() == nil {
		t.Errorf("a pack past the bounds: ranks %d-%d, check %v", first, end, a.CheckBounds())
	}
	for _, bounds := range [][]int{{}, {1, 4}, {0, 4, 4}, {0, 5, 3}, {0, 10}} {
		b := Assignment{Size: 10, Granularity: 2, Bounds: bounds}
		if b.CheckBounds() == nil {
			t.Errorf("bounds %v taken", bounds)
		}
	}
	if even := (Assignment{Size: 10, Granularity: 4, Pack: 2}); even.Packs() != 3 || even.CheckBounds() != nil {
		t.Errorf("even packs: %d, %v", even.Packs(), even.CheckBounds())
	}
}
