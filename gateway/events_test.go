package gateway

import (
	"bufio"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/burstgo/burst/control"
)

// sse is one server-sent event.
type sse struct{ id, name, data string }

// stream opens a flare's event stream, with Last-Event-ID if last is not empty.
func stream(t *testing.T, url, last string) (*bufio.Scanner, func()) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if last != "" {
		req.Header.Set("Last-Event-ID", last)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		resp.Body.Close()
		t.Fatalf("status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	return sc, func() { resp.Body.Close() }
}

// next reads the next event of a stream; ok is false at its end.
func next(sc *bufio.Scanner) (ev sse, ok bool) {
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "" && ev.name != "":
			return ev, true
		case strings.HasPrefix(line, "id: "):
			ev.id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "event: "):
			ev.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			ev.data = strings.TrimPrefix(line, "data: ")
		}
	}
	return ev, false
}

// readAll reads a stream to its end.
func readAll(sc *bufio.Scanner) []sse {
	var out []sse
	for ev, ok := next(sc); ok; ev, ok = next(sc) {
		out = append(out, ev)
	}
	return out
}

func names(evs []sse) string {
	var n []string
	for _, ev := range evs {
		n = append(n, ev.name)
	}
	return strings.Join(n, ",")
}

// TestEvents watches a flare from before its workers may end: they wait at a gate that
// the test opens once the stream is connected.
func TestEvents(t *testing.T) {
	c := newCluster(t, clusterOptions{})
	gateName := newGate(t)
	rec := call[Record](c, "POST", "/flares", map[string]any{"function": "gate", "size": 4, "granularity": 2, "input": gateName, "timeout": "1m"}, http.StatusAccepted)
	sc, closeStream := stream(t, c.url+"/flares/"+rec.ID+"/events", "")
	defer closeStream()
	first, ok := next(sc)
	if !ok || first.name != "record" || !strings.Contains(first.data, rec.ID) {
		t.Fatalf("first event %+v, want the record", first)
	}
	openGate(gateName)
	evs := append([]sse{first}, readAll(sc)...)
	count := map[string]int{}
	for _, ev := range evs {
		count[ev.name]++
	}
	// Two packs: each reports its end (with its workers), and its start if that came
	// after the stream connected; the stream ends with the final record.
	if count[string(control.EventEnded)] != 2 || count[string(control.EventStarted)] > 2 || evs[len(evs)-1].name != "end" {
		t.Errorf("events %s", names(evs))
	}
	for _, ev := range evs {
		if ev.name == string(control.EventEnded) && (!strings.Contains(ev.data, `"status":"succeeded"`) || strings.Contains(ev.data, `"result"`)) {
			t.Errorf("ended event %s: want succeeded workers, and no results (they belong to /results)", ev.data)
		}
	}
	// The record stands for every event before it; the live ones follow it.
	checkIDs(t, evs)
	if end := evs[len(evs)-1].data; !strings.Contains(end, `"status":"succeeded"`) {
		t.Errorf("end %s", end)
	}
	// An ended flare's stream is its record and the end.
	sc, closeEnded := stream(t, c.url+"/flares/"+rec.ID+"/events", "")
	defer closeEnded()
	if got := names(readAll(sc)); got != "record,end" {
		t.Errorf("events of an ended flare: %s", got)
	}
}

// TestEventsResume reconnects with Last-Event-ID, as EventSource does, and gets exactly
// the events it missed. The flare's two ranks wait at gates of their own, so that one
// pack ends while the client is away and the other after it is back.
func TestEventsResume(t *testing.T) {
	c := newCluster(t, clusterOptions{})
	a, b := newGate(t), newGate(t)
	rec := call[Record](c, "POST", "/flares", map[string]any{"function": "gate", "size": 2, "granularity": 1, "inputs": []string{a, b}, "timeout": "1m"}, http.StatusAccepted)
	url := c.url + "/flares/" + rec.ID + "/events"
	sc, closeFirst := stream(t, url, "")
	record, _ := next(sc)
	closeFirst()
	if record.name != "record" {
		t.Fatalf("first event %+v, want the record", record)
	}
	openGate(a)
	eventually(t, func() bool {
		return call[Record](c, "GET", "/flares/"+rec.ID, nil, http.StatusOK).Workers[0].Status == control.StatusSucceeded
	}, "pack 0 to end")
	// Back: the events after the record come, pack 0's end among them, and no record.
	sc, closeSecond := stream(t, url, record.id)
	var missed []sse
	for {
		ev, ok := next(sc)
		if !ok {
			t.Fatalf("stream ended after %s", names(missed))
		}
		missed = append(missed, ev)
		if ev.name == string(control.EventEnded) {
			break
		}
	}
	closeSecond()
	checkIDs(t, append([]sse{record}, missed...))
	if strings.Contains(names(missed), "record") || !strings.Contains(missed[len(missed)-1].data, `"pack":0`) {
		t.Fatalf("resumed with %s, want pack 0's events", names(missed))
	}
	// Back again with nothing missed: only the live events, to the end.
	last := missed[len(missed)-1]
	sc, closeThird := stream(t, url, last.id)
	defer closeThird()
	openGate(b)
	rest := readAll(sc)
	checkIDs(t, append([]sse{last}, rest...))
	if len(rest) == 0 || rest[len(rest)-1].name != "end" || strings.Contains(names(rest), "record") {
		t.Errorf("after the resume: %s, want the live events to the end", names(rest))
	}
}

// checkIDs checks that a stream's events have ids of one gateway, counting up.
func checkIDs(t *testing.T, evs []sse) {
	t.Helper()
	prev, epoch := int64(-1), ""
	for _, ev := range evs {
		e, count, ok := strings.Cut(ev.id, "-")
		n, err := strconv.ParseInt(count, 10, 64)
		if !ok || err != nil || n <= prev || epoch != "" && e != epoch {
			t.Fatalf("event ids of %s: %q after %s-%d, want <gateway>-<count>, counting up", names(evs), ev.id, epoch, prev)
		}
		prev, epoch = n, e
	}
}

// TestEventsFreshRecord resumes a running flare from an id the gateway cannot resume
// from: the stream starts again from a new record.
func TestEventsFreshRecord(t *testing.T) {
	c := newCluster(t, clusterOptions{})
	gateName := newGate(t)
	rec := call[Record](c, "POST", "/flares", map[string]any{"function": "gate", "size": 1, "input": gateName, "timeout": "1m"}, http.StatusAccepted)
	sc, closeStream := stream(t, c.url+"/flares/"+rec.ID+"/events", "another-7")
	defer closeStream()
	first, _ := next(sc)
	openGate(gateName)
	if first.name != "record" || !strings.HasSuffix(names(readAll(sc)), "end") {
		t.Errorf("first event %+v, want a record", first)
	}
}

func TestLogs(t *testing.T) {
	c := newCluster(t, clusterOptions{gateway: Options{LogLines: 5}})
	call[FunctionRecord](c, "PUT", "/functions/faulty", mustRead(t, plugin(t, "gateway/testdata/faulty")), http.StatusCreated)
	// One pack: with two, the failing one may end the flare before the other, in a
	// function host of its own, has set up and logged anything.
	rec := c.run(map[string]any{"function": "faulty", "size": 8, "granularity": 8, "input": map[string]any{"log": "working", "panic": 6}})
	if rec.Status != control.StatusFailed {
		t.Fatalf("%s %q", rec.Status, rec.Error)
	}
	l := call[FlareLogs](c, "GET", "/flares/"+rec.ID+"/logs", nil, http.StatusOK)
	// Eight "working" lines and a panic line, bounded to five.
	if len(l.Lines) != 5 || l.Dropped != 4 {
		t.Fatalf("%d lines, %d dropped, want 5 and 4: %+v", len(l.Lines), l.Dropped, l.Lines)
	}
	for _, line := range l.Lines {
		if line.Message == "working" && (line.Attrs["rank_seen"] == "" || line.Level != "INFO") {
			t.Errorf("line %+v", line)
		}
	}
	one := call[FlareLogs](c, "GET", "/flares/"+rec.ID+"/logs?rank="+strconv.Itoa(l.Lines[0].Rank), nil, http.StatusOK)
	if len(one.Lines) == 0 {
		t.Fatalf("no line for rank %d", l.Lines[0].Rank)
	}
	for _, line := range one.Lines {
		if line.Rank != l.Lines[0].Rank {
			t.Errorf("rank filter let through %+v", line)
		}
	}
	c.apiError("GET", "/flares/"+rec.ID+"/logs?rank=x", nil, http.StatusBadRequest, CodeBadRequest)
}
