package gateway

import (
	"fmt"
	"testing"
	"time"

	"github.com/burstgo/burst/control"
)

func TestIndex(t *testing.T) {
	var dropped []string
	x := newIndex(5, func(r Record) { dropped = append(dropped, r.ID) })
	id := func(i int) string { return fmt.Sprintf("01900000-0000-7000-8000-%012d", i) }
	start := time.Now()
	for _, i := range []int{1, 2, 4, 3, 5, 6, 7} { // 3 out of order
		st := control.StatusSucceeded
		if i%2 == 0 {
			st = control.StatusFailed
		}
		x.put(Record{ID: id(i), Status: st, Created: start.Add(time.Duration(i) * time.Second)})
	}
	page := func(before string, limit int, match func(*Record) bool) string {
		recs, next := x.page(before, limit, match)
		out := ""
		for _, r := range recs {
			out += r.ID[len(r.ID)-1:]
		}
		return out + "|" + next
	}
	all := func(*Record) bool { return true }
	failed := func(r *Record) bool { return r.Status == control.StatusFailed }
	tests := []struct {
		name, got, want string
	}{
		{"newest first, bounded to 5", page("", 10, all), "76543|"},
		{"a page", page("", 2, all), "76|" + id(6)},
		{"the next page", page(id(6), 2, all), "54|" + id(4)},
		{"the last page", page(id(4), 2, all), "3|"},
		{"filtered", page("", 10, failed), "64|"},
		{"a cursor forgotten meanwhile", page(id(2), 10, all), "|"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, tt.got, tt.want)
		}
	}
	x.put(Record{ID: id(5), Status: control.StatusRunning})
	if r, ok := x.get(id(5)); !ok || r.Status != control.StatusRunning {
		t.Errorf("replaced entry: %+v %v", r, ok)
	}
	if _, ok := x.get(id(1)); ok || len(dropped) != 2 || dropped[0] != id(1) || dropped[1] != id(2) {
		t.Errorf("over the bound: still there %v, dropped %v", ok, dropped)
	}
	// Past the retention: final flares go, a running one stays, and so do the ones
	// after it.
	x.expire(start.Add(6500 * time.Millisecond))
	if got := page("", 10, all); got != "765|" {
		t.Errorf("after expiry: %s, want 765|", got)
	}
}

// TestIndexKeepsFlaresInFlight: over the limit, the oldest ended flares go, never one in
// flight, and the metric hook hears of each once.
func TestIndexKeepsFlaresInFlight(t *testing.T) {
	var dropped []string
	x := newIndex(2, func(r Record) { dropped = append(dropped, r.ID) })
	x.put(Record{ID: "a", Status: control.StatusRunning})
	x.put(Record{ID: "b", Status: control.StatusSucceeded})
	x.put(Record{ID: "c", Status: control.StatusSucceeded})
	x.put(Record{ID: "d", Status: control.StatusSucceeded})
	if _, ok := x.get("a"); !ok || fmt.Sprint(dropped) != "[b c]" {
		t.Fatalf("kept a: %v; dropped %v, want [b c]", ok, dropped)
	}
	x.put(Record{ID: "a", Status: control.StatusFailed}) // it ends: now it may go
	x.put(Record{ID: "e", Status: control.StatusSucceeded})
	if _, ok := x.get("a"); ok || fmt.Sprint(dropped) != "[b c a]" {
		t.Errorf("after its end: still there %v; dropped %v", ok, dropped)
	}
}
