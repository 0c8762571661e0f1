package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/burstgo/burst/client"
	"github.com/burstgo/burst/control"
	"github.com/burstgo/burst/gateway"
)

// TestFlareCommands drives the CLI against a real server, as a script would (stdout and
// stderr are not terminals): run with progress lines, run detached, watch, get, ls,
// results as JSON and YAML, logs -f until the flare ends, cancel; and what fails says so
// with exit 1.
func TestFlareCommands(t *testing.T) {
	url, _ := serve(t, t.TempDir())
	api := "--api=" + url

	// The issue's own line: 4 results as JSON.
	code, out, errOut := burstCmd([]string{"flare", "run", "hello", "--size", "4", "--granularity", "2", "-o", "json", api})
	var res gateway.FlareResults
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || len(res.Results) != 4 || res.Status != control.StatusSucceeded {
		t.Fatalf("flare run hello: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	if !strings.Contains(errOut, "succeeded") {
		t.Errorf("the end on a non-terminal: %q", errOut)
	}
	// A flare long enough to be followed as it runs: a line per pack event.
	code, _, errOut = burstCmd([]string{"flare", "run", "sleep", "--size", "4", "--granularity", "2", "--input", `"300ms"`, api})
	if code != 0 || !strings.Contains(errOut, "pack 1 on ") || !strings.Contains(errOut, "ended succeeded") {
		t.Errorf("progress lines on a non-terminal: exit %d, %q", code, errOut)
	}

	// Input from a file, and one input per rank.
	in := filepath.Join(t.TempDir(), "in.json")
	os.WriteFile(in, []byte(`{"x":7}`), 0o644)
	code, out, _ = burstCmd([]string{"flare", "run", "hello", "--input", "@" + in, "-o", "json", api})
	if code != 0 || !strings.Contains(out, `"x": 7`) {
		t.Errorf("--input @file: exit %d, %s", code, out)
	}
	per := filepath.Join(t.TempDir(), "inputs")
	os.WriteFile(per, []byte("{\"r\":0}\n{\"r\":1}\n"), 0o644)
	code, out, errOut = burstCmd([]string{"flare", "run", "hello", "--size", "2", "--inputs", per, "-o", "yaml", api})
	if code != 0 || !strings.Contains(out, "r: 1") || !strings.Contains(out, "results:") {
		t.Errorf("--inputs, -o yaml: exit %d\n%s%s", code, out, errOut)
	}

	// Detached, then watched, read and listed.
	code, id, _ := burstCmd([]string{"flare", "run", "sleep", "--size", "2", "--input", `"300ms"`, "--detach", api})
	id = strings.TrimSpace(id)
	if code != 0 || len(id) != 36 {
		t.Fatalf("--detach: exit %d, %q", code, id)
	}
	var logs string
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, logs, _ = burstCmd([]string{"flare", "logs", id, "-f", api})
	}()
	if code, out, _ := burstCmd([]string{"flare", "watch", id, api}); code != 0 || !strings.Contains(out, "succeeded") {
		t.Errorf("watch: exit %d, %q", code, out)
	}
	<-done
	if strings.Count(logs, "sleep: woke") != 2 || strings.Count(logs, "sleep: sleeping") != 2 {
		t.Errorf("logs -f: want both ranks' lines, got\n%s", logs)
	}
	code, out, _ = burstCmd([]string{"flare", "get", id, "-o", "json", api})
	var rec gateway.Record
	if code != 0 || json.Unmarshal([]byte(out), &rec) != nil || rec.ID != id || rec.Status != control.StatusSucceeded {
		t.Errorf("get: exit %d, %s", code, out)
	}
	if code, out, _ := burstCmd([]string{"flare", "get", id, api}); code != 0 || !strings.Contains(out, "STATUS") || !strings.Contains(out, "succeeded") {
		t.Errorf("get as a table: exit %d\n%s", code, out)
	}
	if code, out, _ := burstCmd([]string{"flare", "ls", "--function", "sleep", api}); code != 0 || !strings.Contains(out, id) {
		t.Errorf("ls: exit %d\n%s", code, out)
	}
	if code, out, _ := burstCmd([]string{"flare", "results", id, "-o", "json", api}); code != 0 || !strings.Contains(out, `"slept": "300ms"`) {
		t.Errorf("results: exit %d\n%s", code, out)
	}

	// Cancelled.
	_, id, _ = burstCmd([]string{"flare", "run", "sleep", "--input", `"1m"`, "--detach", api})
	id = strings.TrimSpace(id)
	if code, out, _ := burstCmd([]string{"flare", "cancel", id, "-o", "json", api}); code != 0 || !strings.Contains(out, `"cancelled"`) {
		t.Errorf("cancel: exit %d\n%s", code, out)
	}

	// What fails says so, with exit 1.
	for _, tc := range []struct {
		args []string
		says string
	}{
		{[]string{"flare", "get", "01900000-0000-7000-8000-000000000001"}, "no flare"},
		{[]string{"flare", "run", "hello", "--input", "{bad"}, "--input is not JSON"},
		{[]string{"flare", "run", "hello", "--size", "2", "--granularity", "3"}, "granularity"},
		{[]string{"flare", "run", "nope"}, "no function"},
		{[]string{"flare", "run", "sleep", "--input", `"forever"`}, "failed"},
		{[]string{"flare", "ls", "-o", "xml"}, "-o"},
		{[]string{"fn", "push", "junk", in}, "not a Go plugin"},
		{[]string{"fn", "get", "nope"}, "no function"},
	} {
		if code, _, errOut := burstCmd(append(tc.args, api)); code != 1 || !strings.Contains(errOut, tc.says) {
			t.Errorf("%s: exit %d, stderr %q; want 1, saying %q", strings.Join(tc.args, " "), code, errOut, tc.says)
		}
	}
	if code, out, _ := burstCmd([]string{"invokers", api}); code != 0 || !strings.Contains(out, "ready") {
		t.Errorf("invokers: exit %d\n%s", code, out)
	}
	if code, out, _ := burstCmd([]string{"fn", "ls", api}); code != 0 || !strings.Contains(out, "built-in") {
		t.Errorf("fn ls: exit %d\n%s", code, out)
	}
	if code, out, _ := burstCmd([]string{"completion", "bash"}); code != 0 || !strings.Contains(out, "__start_burst") {
		t.Errorf("completion: exit %d, %d bytes", code, len(out))
	}
	if code, out, _ := burstCmd([]string{"version"}); code != 0 || !strings.Contains(out, "protocol level") {
		t.Errorf("version: exit %d\n%s", code, out)
	}
}

// TestWriteYAML: -o yaml keeps what JSON says: a string that would read as another type
// stays quoted.
func TestWriteYAML(t *testing.T) {
	var b strings.Builder
	if err := writeYAML(&b, map[string]any{"a": "true", "b": 1, "c": "x: y", "d": nil, "e": []int{1, 2}, "f": "01"}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`a: "true"`, "b: 1", `c: 'x: y'`, "d: null", "e:\n  - 1\n  - 2", `f: "01"`} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("YAML has no %q:\n%s", want, b.String())
		}
	}
}

// TestProgressBar: on a terminal, the bar counts the workers as the events come.
func TestProgressBar(t *testing.T) {
	var b strings.Builder
	p := progress{size: 4, w: &b, tty: true}
	p.apply(client.Event{Name: "record", Data: []byte(`{"id":"f","size":4,"workers":[]}`)})
	p.apply(client.Event{Name: "started", Data: []byte(`{"type":"started","pack":0,"workers":[{"rank":0},{"rank":1}]}`)})
	if !strings.HasSuffix(b.String(), "queued 2  running 2  succeeded 0  failed 0 ") {
		t.Errorf("after a pack started: %q", b.String())
	}
	p.apply(client.Event{Name: "ended", Data: []byte(`{"type":"ended","pack":0,"status":"failed","workers":[{"rank":0,"status":"succeeded"},{"rank":1,"status":"failed"}]}`)})
	if !strings.Contains(b.String(), "\r[###############...............] queued 2  running 0  succeeded 1  failed 1 ") {
		t.Errorf("after a pack ended: %q", b.String())
	}
}

// burst flare run --join runs the packs placed together as one, and flare get says so;
// --join=false keeps them apart.
func TestFlareJoin(t *testing.T) {
	url, _ := serve(t, t.TempDir())
	api := "--api=" + url
	for _, tc := range []struct {
		flag  string
		packs string
	}{{"--join", "PACK 0\tinvoker"}, {"--join=false", "PACK 3"}} {
		code, id, errOut := burstCmd([]string{"flare", "run", "hello", "--size", "4", "--granularity", "1", tc.flag, "--detach", api})
		id = strings.TrimSpace(id)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", tc.flag, code, errOut)
		}
		burstCmd([]string{"flare", "watch", id, api})
		code, out, _ := burstCmd([]string{"flare", "get", id, api})
		joined := strings.Contains(out, "joined from packs [0 1 2 3]")
		if code != 0 || joined != (tc.flag == "--join") || !strings.Contains(out, "PACK ") {
			t.Errorf("%s: exit %d\n%s", tc.flag, code, out)
		}
		if tc.flag == "--join=false" && !strings.Contains(out, tc.packs) {
			t.Errorf("%s: want four packs\n%s", tc.flag, out)
		}
	}
}

// A flare whose packs trade large messages on one `burst serve` sends them over lanes,
// and `burst flare get` says how much.
func TestFlareLanes(t *testing.T) {
	url, _ := serve(t, t.TempDir())
	api := "--api=" + url
	code, id, errOut := burstCmd([]string{"flare", "run", "terasort", "--size", "4", "--granularity", "1",
		"--input", `{"generate":{"records":100000,"seed":3}}`, "--detach", api})
	id = strings.TrimSpace(id)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	burstCmd([]string{"flare", "watch", id, api})
	rec := getJSON[gateway.Record](t, url+"/flares/"+id)
	_, out, _ := burstCmd([]string{"flare", "get", id, api})
	if rec.Status != control.StatusSucceeded || rec.Comm.LaneBytes == 0 || !strings.Contains(out, fmt.Sprintf("(%d B over lanes)", rec.Comm.LaneBytes)) {
		t.Errorf("%d bytes over lanes; burst flare get says\n%s", rec.Comm.LaneBytes, out)
	}
}
