package invoker

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

func TestRunPacks(t *testing.T) {
	e := newEnv(t, Options{})
	ch := e.events("f1")
	for p := range 2 {
		a := Assignment{Flare: "f1", Function: "hello", Size: 5, Granularity: 3, Pack: p, Backend: BackendNATS,
			Timeout: time.Minute, Input: json.RawMessage(`{"x":1}`)}
		if r := e.assign(a); !r.OK {
			t.Fatalf("pack %d refused: %s", p, r.Error)
		}
	}
	packs := collect(t, ch, 2)
	for p, want := range [][]int{{0, 1, 2}, {3, 4}} {
		pe := packs[p]
		if pe.started == nil || len(pe.started.Workers) != len(want) {
			t.Fatalf("pack %d: started event %+v", p, pe.started)
		}
		if pe.ended.Status != StatusSucceeded || pe.ended.Comm == nil || pe.ended.Invoker != "inv" {
			t.Errorf("pack %d ended %+v", p, pe.ended)
		}
		for i, w := range pe.workers {
			var r struct{ Rank, Size, Pack int }
			json.Unmarshal(w.Result, &r)
			if w.Rank != want[i] || w.Status != StatusSucceeded || r.Rank != want[i] || r.Size != 5 || r.Pack != p || w.End.Before(w.Start) {
				t.Errorf("pack %d worker %d: %+v %s", p, i, w, w.Result)
			}
		}
	}
	eventually(t, func() bool { hb := e.inv.Heartbeat(); return hb.Used == 0 && hb.Packs == 0 }, "slots to come back")
}

func TestAssignRefused(t *testing.T) {
	e := newEnv(t, Options{})
	ok := Assignment{Flare: "f", Function: "hello", Size: 2, Granularity: 2, Backend: BackendNATS, Timeout: time.Minute}
	tests := []struct {
		name string
		edit func(a *Assignment)
		says string
	}{
		{"empty pack", func(a *Assignment) { a.Pack = 1 }, "empty"},
		{"no size", func(a *Assignment) { a.Size = 0 }, "empty"},
		{"inputs do not match", func(a *Assignment) { a.Inputs = []json.RawMessage{json.RawMessage("1")} }, "inputs"},
		{"no time left", func(a *Assignment) { a.Timeout = 0 }, "no time left"},
		{"unknown built-in", func(a *Assignment) { a.Function = "nope" }, "unknown function"},
		{"bad digest", func(a *Assignment) { a.Digest = "xyz" }, "not a hex SHA-256"},
		{"unknown backend", func(a *Assignment) { a.Backend = "smoke" }, "unknown backend"},
		{"bad flare id", func(a *Assignment) { a.Flare = "a.b" }, "flare id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := ok
			tt.edit(&a)
			r := e.assign(a)
			if r.OK || !strings.Contains(r.Error, tt.says) {
				t.Errorf("reply %+v, want an error saying %q", r, tt.says)
			}
		})
	}
	// Nothing stays reserved after a refusal.
	if hb := e.inv.Heartbeat(); hb.Used != 0 || hb.Packs != 0 {
		t.Errorf("after refusals: %+v", hb)
	}
	m, err := e.nc.Request(AssignSubject("inv"), []byte("{"), time.Second)
	if err != nil || !strings.Contains(string(m.Data), "bad assignment") {
		t.Errorf("bad JSON: %v %s", err, m.Data)
	}
}

func TestCancelAndTimeout(t *testing.T) {
	e := newEnv(t, Options{})
	tests := []struct {
		name    string
		flare   string
		timeout time.Duration
		cancel  *Cancel
		status  string
		says    string
	}{
		{"cancel", "c1", time.Minute, &Cancel{Flare: "c1", Status: StatusCancelled, Reason: "by request"}, StatusCancelled, "by request"},
		{"gateway timeout", "c2", time.Minute, &Cancel{Flare: "c2", Status: StatusTimedOut}, StatusTimedOut, "timed out"},
		{"own timeout", "c3", 100 * time.Millisecond, nil, StatusTimedOut, "timed out"},
		{"relayed failure", "c4", time.Minute, &Cancel{Flare: "c4", Status: StatusFailed, Reason: "rank 9: boom"}, StatusAborted, "rank 9: boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ch := e.events(tt.flare)
			a := Assignment{Flare: tt.flare, Function: "sleep", Size: 3, Granularity: 3, Timeout: tt.timeout, Input: json.RawMessage(`"1m"`)}
			if r := e.assign(a); !r.OK {
				t.Fatal(r.Error)
			}
			if tt.cancel != nil {
				b, _ := json.Marshal(tt.cancel)
				e.nc.Publish(SubjectCancel, b)
			}
			pe := collect(t, ch, 1)[0]
			for _, w := range pe.workers {
				if w.Status != tt.status || !strings.Contains(w.Error, tt.says) {
					t.Errorf("worker %+v, want %s saying %q", w, tt.status, tt.says)
				}
			}
			if tt.cancel != nil {
				// A late assignment of a cancelled flare is refused.
				a.Pack = 0
				if r := e.assign(a); r.OK || !strings.Contains(r.Error, "cancelled") {
					t.Errorf("late assignment: %+v", r)
				}
			}
		})
	}
}

func TestWorkerFailure(t *testing.T) {
	e := newEnv(t, Options{})
	ch := e.events("w1")
	inputs := []json.RawMessage{json.RawMessage(`"1m"`), json.RawMessage(`"nonsense"`), json.RawMessage(`"1m"`)}
	if r := e.assign(Assignment{Flare: "w1", Function: "sleep", Size: 3, Granularity: 3, Timeout: time.Minute, Inputs: inputs}); !r.OK {
		t.Fatal(r.Error)
	}
	pe := collect(t, ch, 1)[0]
	want := []string{StatusAborted, StatusFailed, StatusAborted}
	for i, w := range pe.workers {
		if w.Status != want[i] {
			t.Errorf("rank %d: %s %q, want %s", i, w.Status, w.Error, want[i])
		}
	}
	if pe.ended.Status != StatusFailed || !strings.HasPrefix(pe.ended.Error, "rank 1: sleep:") {
		t.Errorf("pack ended %s %q", pe.ended.Status, pe.ended.Error)
	}
}

func TestHeartbeats(t *testing.T) {
	e := newEnv(t, Options{Slots: 7, Heartbeat: time.Hour})
	ch := make(chan *nats.Msg, 16)
	sub, _ := e.nc.ChanSubscribe(SubjectHeartbeat, ch)
	defer sub.Unsubscribe()
	bye, _ := e.nc.ChanSubscribe(SubjectBye, ch)
	defer bye.Unsubscribe()
	e.nc.Flush()
	// An hour between beats: only discovery makes one now.
	e.nc.Publish(SubjectDiscover, nil)
	var hb Heartbeat
	select {
	case m := <-ch:
		json.Unmarshal(m.Data, &hb)
	case <-time.After(10 * time.Second):
		t.Fatal("no heartbeat after discover")
	}
	if hb.ID != "inv" || hb.Slots != 7 || hb.Interval != time.Hour || len(hb.Backends) != 3 {
		t.Errorf("heartbeat %+v", hb)
	}
	e.inv.Shutdown(t.Context())
	for bye := false; !bye; {
		select {
		case m := <-ch:
			// Heartbeats sent before may still come first.
			bye = m.Subject == SubjectBye
		case <-time.After(10 * time.Second):
			t.Fatal("no bye at shutdown")
		}
	}
	if r := e.assignNoReply(); r == nil {
		t.Error("a stopped invoker still takes assignments")
	}
}

// assignNoReply sends an assignment that nobody should answer and returns the error.
func (e *env) assignNoReply() error {
	_, err := e.nc.Request(AssignSubject(e.inv.ID()), []byte("{}"), 200*time.Millisecond)
	return err
}

func TestNewOptions(t *testing.T) {
	if _, err := New(Options{}); err == nil {
		t.Error("no connection accepted")
	}
	e := newEnv(t, Options{})
	if _, err := New(Options{Conn: e.nc, ID: "a.b"}); err == nil {
		t.Error("an id with a dot accepted")
	}
	inv, err := New(Options{Conn: e.nc})
	if err != nil || inv.Slots() != DefaultSlots || !strings.Contains(inv.ID(), "-") {
		t.Errorf("defaults: %v slots %d id %q", err, inv.Slots(), inv.ID())
	}
}

func eventually(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
