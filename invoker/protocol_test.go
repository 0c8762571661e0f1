package invoker

import (
	"encoding/json"
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

func TestProtocolJSON(t *testing.T) {
	a := Assignment{Flare: "f", Function: "hello", Size: 2, Granularity: 1, Pack: 1, Backend: BackendMemory,
		Timeout: 1500 * time.Millisecond, Inputs: []json.RawMessage{json.RawMessage(`{"a":1}`)}}
	b, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	var back Assignment
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Timeout != a.Timeout || string(back.Inputs[0]) != `{"a":1}` || back.Backend != BackendMemory {
		t.Errorf("round trip %s → %+v", b, back)
	}
	if AssignSubject("x") != "burst.ctl.assign.x" || EventSubject("f") != "burst.evt.f" {
		t.Error("subjects moved")
	}
}
