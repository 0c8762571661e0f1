package gateway

import (
	"strings"
	"testing"

	"github.com/burstgo/burst/control"
)

func TestVerdict(t *testing.T) {
	w := func(status control.Status, err string) WorkerRecord { return WorkerRecord{Status: status, Error: err} }
	const ok = control.StatusSucceeded
	tests := []struct {
		name    string
		workers []WorkerRecord
		cause   *endCause
		status  control.Status
		err     string
	}{
		{"all succeeded", []WorkerRecord{w(ok, ""), w(ok, "")}, nil, ok, ""},
		{"the failure, not its echo", []WorkerRecord{w(control.StatusAborted, "echo"), w(control.StatusFailed, "boom")}, nil, control.StatusFailed, "rank 1: boom"},
		{"an echo alone still fails", []WorkerRecord{w(ok, ""), w(control.StatusAborted, "echo")}, nil, control.StatusFailed, "rank 1: echo"},
		{"timed out", []WorkerRecord{w(control.StatusTimedOut, "late"), w(ok, "")}, nil, control.StatusTimedOut, "rank 0: late"},
		{"the echo of a timeout", []WorkerRecord{w(control.StatusAborted, "echo"), w(control.StatusTimedOut, "late")}, nil, control.StatusTimedOut, "rank 1: late"},
		{"no report", []WorkerRecord{w(ok, ""), w(control.StatusRunning, "")}, nil, control.StatusFailed, "rank 1: no report"},
		{"cancel wins", []WorkerRecord{w(control.StatusFailed, "boom")}, &endCause{status: control.StatusCancelled, err: "by request"}, control.StatusCancelled, "by request"},
		{"a worker's failure beats a failed assignment", []WorkerRecord{w(control.StatusFailed, "boom")}, &endCause{status: control.StatusFailed, err: "pack 1 refused"}, control.StatusFailed, "rank 0: boom"},
		{"a failed assignment", []WorkerRecord{w(ok, "")}, &endCause{status: control.StatusFailed, err: "pack 1 refused"}, control.StatusFailed, "pack 1 refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &flare{cause: tt.cause}
			for i, wr := range tt.workers {
				wr.Rank = i
				f.rec.Workers = append(f.rec.Workers, wr)
			}
			status, err := verdict(f)
			if status != tt.status || !strings.HasPrefix(err, tt.err) {
				t.Errorf("verdict %s %q, want %s %q", status, err, tt.status, tt.err)
			}
		})
	}
}

func TestAddLogs(t *testing.T) {
	g := &Gateway{opts: Options{LogLines: 3}}
	f := &flare{}
	line := control.LogLine{Message: "m", Attrs: map[string]string{"k": "v"}}
	g.addLogs(f, []control.LogLine{line, line}, 1)
	kept := g.addLogs(f, []control.LogLine{line, line, line}, 0)
	if len(f.logs.Lines) != 3 || f.logs.Dropped != 3 || len(kept) != 1 {
		t.Errorf("%d lines, %d dropped, %d kept of the second call; want 3, 3 and 1", len(f.logs.Lines), f.logs.Dropped, len(kept))
	}
	big := control.LogLine{Message: strings.Repeat("x", maxLogBytes)}
	g = &Gateway{opts: Options{LogLines: 100}}
	f = &flare{}
	g.addLogs(f, []control.LogLine{line, big, line}, 0)
	if len(f.logs.Lines) != 2 || f.logs.Dropped != 1 {
		t.Errorf("byte bound: %d lines, %d dropped, want 2 and 1", len(f.logs.Lines), f.logs.Dropped)
	}
}
