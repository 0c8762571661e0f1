package gateway

import (
	"bufio"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/burstgo/burst/invoker"
)

// readEvents reads a server-sent event stream to its end and returns the event names.
func readEvents(t *testing.T, url string) ([]string, map[string]string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var names []string
	last := map[string]string{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	name := ""
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			name = strings.TrimPrefix(line, "event: ")
			names = append(names, name)
		case strings.HasPrefix(line, "data: "):
			last[name] = strings.TrimPrefix(line, "data: ")
		}
	}
	return names, last
}

func TestEvents(t *testing.T) {
	c := newCluster(t, clusterOptions{})
	rec := call[Record](c, "POST", "/flares", map[string]any{"function": "sleep", "size": 4, "granularity": 2, "input": "300ms"}, http.StatusAccepted)
	names, data := readEvents(t, c.url+"/flares/"+rec.ID+"/events")
	count := map[string]int{}
	for _, n := range names {
		count[n]++
	}
	if names[0] != "record" || names[len(names)-1] != "end" {
		t.Errorf("events %v: want record first and end last", names)
	}
	// Two packs: each reports its start, its workers and its end.
	if count[invoker.EventWorkers] != 2 || count[invoker.EventEnded] != 2 || count[invoker.EventStarted] > 2 {
		t.Errorf("events %v", names)
	}
	if !strings.Contains(data["end"], `"status":"succeeded"`) || strings.Contains(data[invoker.EventWorkers], "slept") {
		t.Errorf("end %s; workers event %s (results belong to /results)", data["end"], data[invoker.EventWorkers])
	}
	// An ended flare's stream is its record and the end.
	names, _ = readEvents(t, c.url+"/flares/"+rec.ID+"/events")
	if strings.Join(names, ",") != "record,end" {
		t.Errorf("events of an ended flare: %v", names)
	}
}

func TestLogs(t *testing.T) {
	c := newCluster(t, clusterOptions{gateway: Options{LogLines: 5}})
	call[FunctionRecord](c, "PUT", "/functions/faulty", mustRead(t, plugin(t, "gateway/testdata/faulty")), http.StatusCreated)
	rec := c.run(map[string]any{"function": "faulty", "size": 8, "granularity": 4, "input": map[string]any{"log": "working", "panic": 6}})
	if rec.Status != invoker.StatusFailed {
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
