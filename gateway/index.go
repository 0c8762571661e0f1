package gateway

import (
	"slices"
	"strings"
	"sync"
	"time"
)

// index holds the headers of the newest flares and of every flare in flight, for
// GET /flares, in a lock of its own so that a listing does not hold up the flares'
// lifecycle. Flare ids are version 7 UUIDs,
// which sort by creation time, so the entries are kept sorted by id and a page starts
// where a cursor (the last id of the page before) would sort. It keeps at most limit
// ended flares; older ones are read from the store by id.
type index struct {
	limit  int
	onDrop func(Record) // called for each entry the index forgets

	mu      sync.RWMutex
	entries []Record // headers, sorted by id, oldest first
}

func newIndex(limit int, onDrop func(Record)) *index {
	if onDrop == nil {
		onDrop = func(Record) {}
	}
	return &index{limit: limit, onDrop: onDrop}
}

func (x *index) find(id string) (int, bool) {
	return slices.BinarySearchFunc(x.entries, id, func(r Record, id string) int { return strings.Compare(r.ID, id) })
}

// put adds a flare's header or replaces the one it had.
func (x *index) put(h Record) {
	x.mu.Lock()
	defer x.mu.Unlock()
	i, ok := x.find(h.ID)
	switch {
	case ok:
		x.entries[i] = h
		return
	case i == len(x.entries):
		x.entries = append(x.entries, h)
	default:
		x.entries = slices.Insert(x.entries, i, h)
	}
	x.trim()
}

// trim forgets the oldest ended flares over the limit. A flare in flight stays, however
// old: it leaves the index only once it has ended.
func (x *index) trim() {
	over := len(x.entries) - x.limit
	if over <= 0 {
		return
	}
	n := 0
	for n < over && x.entries[n].Status.Final() {
		n++
	}
	if n == over {
		x.drop(n)
		return
	}
	out := x.entries[:0]
	for _, r := range x.entries {
		if over > 0 && r.Status.Final() {
			x.onDrop(r)
			over--
			continue
		}
		out = append(out, r)
	}
	clear(x.entries[len(out):])
	x.entries = out
}

// drop forgets the n oldest entries, in a new slice now and then so that the memory of
// the old ones goes back.
func (x *index) drop(n int) {
	for _, r := range x.entries[:n] {
		x.onDrop(r)
	}
	if n >= len(x.entries) || cap(x.entries) > 2*x.limit {
		x.entries = slices.Clone(x.entries[n:])
		return
	}
	clear(x.entries[:n])
	x.entries = x.entries[n:]
}

// get returns the header of flare id.
func (x *index) get(id string) (Record, bool) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if i, ok := x.find(id); ok {
		return x.entries[i], true
	}
	return Record{}, false
}

// expire forgets the flares created before t.
func (x *index) expire(t time.Time) {
	x.mu.Lock()
	defer x.mu.Unlock()
	n := 0
	for n < len(x.entries) && x.entries[n].Created.Before(t) && x.entries[n].Status.Final() {
		n++
	}
	if n > 0 {
		x.drop(n)
	}
}

// page returns up to limit headers that match, newest first, older than the flare
// before (all if before is empty), and the cursor of the next page ("" at the end).
func (x *index) page(before string, limit int, match func(*Record) bool) ([]Record, string) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	i := len(x.entries)
	if before != "" {
		i, _ = x.find(before)
	}
	out := []Record{}
	for i--; i >= 0; i-- {
		r := &x.entries[i]
		if !match(r) {
			continue
		}
		if len(out) == limit {
			return out, out[len(out)-1].ID
		}
		out = append(out, r.header())
	}
	return out, ""
}
