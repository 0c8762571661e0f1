package functions

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"
)

// DefaultCheckTimeout bounds a plugin check in a child process: a plugin whose init code
// hangs is refused rather than waited for.
const DefaultCheckTimeout = 30 * time.Second

// checkTimeout is DefaultCheckTimeout, shorter in tests.
var checkTimeout = DefaultCheckTimeout

// CheckReport is the one JSON line `burst fn check` prints:
// {"ok":true,"info":{...}} or {"ok":false,"code":"mismatch","message":"..."}.
type CheckReport struct {
	OK      bool   `json:"ok"`
	Info    *Info  `json:"info,omitempty"`
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
}

// NewCheckReport builds the report of a check that gave info and err.
func NewCheckReport(info Info, err error) CheckReport {
	if err != nil {
		r := CheckReport{Code: ErrorCode(err), Message: err.Error()}
		if info.Digest != "" {
			r.Info = &info
		}
		return r
	}
	return CheckReport{OK: true, Info: &info}
}

// Err turns a failed report back into an error wrapping the sentinel error of its code
// (a plain error for "internal" or an unknown code), or nil for a report that is OK.
func (r CheckReport) Err() error {
	if r.OK {
		return nil
	}
	msg := r.Message
	if msg == "" {
		msg = "plugin check failed"
	}
	if sentinel := codeError(r.Code); sentinel != nil {
		// The message already holds the sentinel's text, as err.Error() gave it.
		return &checkError{msg: msg, sentinel: sentinel}
	}
	return errors.New(msg)
}

// checkError is an error that came back from a child process: its text as the child
// wrote it, and the sentinel error it wrapped there.
type checkError struct {
	msg      string
	sentinel error
}

func (e *checkError) Error() string { return e.msg }
func (e *checkError) Unwrap() error { return e.sentinel }

// WriteCheck checks the plugin at path, as Check does, writes the report to w as one
// JSON line and returns the check's error: the body of `burst fn check PATH`, which
// then exits 1 on error.
func WriteCheck(w io.Writer, path string) error {
	info, err := Check(path)
	line, jerr := json.Marshal(NewCheckReport(info, err))
	if jerr != nil {
		return errors.Join(err, jerr)
	}
	if _, werr := fmt.Fprintf(w, "%s\n", line); werr != nil {
		return errors.Join(err, werr)
	}
	return err
}

// CheckInChild checks the plugin at path in a child process, `exe fn check path`, where
// exe is normally os.Executable(), so that the plugin's init code runs there and not in
// the caller. It reads the child's JSON report back into Info or an error wrapping the
// same sentinel errors as Check. A child that crashes (a panic in the plugin's init, say)
// or outlives DefaultCheckTimeout gives an error wrapping ErrLoad; an error that wraps
// none of the sentinels means the check itself could not run.
func CheckInChild(ctx context.Context, exe, path string) (Info, error) {
	cctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	cmd := exec.CommandContext(cctx, exe, "fn", "check", path)
	// A plugin may print anything from its init code; keep the end, where the report is.
	stdout := &tailBuffer{max: 1 << 20}
	stderr := &headBuffer{max: 4 << 10}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	// Grandchildren holding the pipes open must not keep us waiting.
	cmd.WaitDelay = time.Second
	runErr := cmd.Run()
	if r, ok := lastReport(stdout.Bytes()); ok {
		if err := r.Err(); err != nil {
			if r.Info != nil {
				return *r.Info, err
			}
			return Info{}, err
		}
		if r.Info == nil {
			return Info{}, fmt.Errorf("%w: the check reported success without info", ErrLoad)
		}
		return *r.Info, nil
	}
	var exitErr *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return Info{}, fmt.Errorf("functions: check plugin %s: %w", path, ctx.Err())
	case cctx.Err() != nil:
		return Info{}, fmt.Errorf("%w: the check did not finish within %s (does the plugin's init code block?)", ErrLoad, checkTimeout)
	case errors.As(runErr, &exitErr):
		return Info{}, fmt.Errorf("%w: the check ended with %v and no report: %s", ErrLoad, exitErr, firstLines(stderr.Bytes(), 5))
	case runErr != nil:
		return Info{}, fmt.Errorf("functions: check plugin %s: %w", path, runErr)
	}
	return Info{}, fmt.Errorf("functions: check plugin %s: `%s fn check` printed no report", path, exe)
}

// lastReport finds the last line of out that is a check report.
func lastReport(out []byte) (CheckReport, bool) {
	lines := bytes.Split(bytes.TrimSpace(out), []byte("\n"))
	for i := len(lines) - 1; i >= 0; i-- {
		line := bytes.TrimSpace(lines[i])
		if len(line) == 0 || line[0] != '{' {
			continue
		}
		var probe map[string]json.RawMessage
		if json.Unmarshal(line, &probe) != nil {
			continue
		}
		if _, ok := probe["ok"]; !ok {
			continue
		}
		var r CheckReport
		if json.Unmarshal(line, &r) == nil {
			return r, true
		}
	}
	return CheckReport{}, false
}

// firstLines returns the first n lines of b that are not blank, trimmed, on one line: where a panic or a
// fatal error of the runtime says what happened.
func firstLines(b []byte, n int) string {
	var lines []string
	for line := range strings.Lines(string(b)) {
		if line = strings.TrimSpace(line); line != "" {
			lines = append(lines, line)
		}
	}
	if len(lines) > n {
		lines = append(lines[:n], "...")
	}
	s := strings.Join(lines, " | ")
	if s == "" {
		return "(no output)"
	}
	return s
}

// headBuffer keeps the first max bytes written to it and drops the rest.
type headBuffer struct {
	max int
	buf []byte
}

func (h *headBuffer) Write(p []byte) (int, error) {
	if room := h.max - len(h.buf); room > 0 {
		h.buf = append(h.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (h *headBuffer) Bytes() []byte { return h.buf }

// tailBuffer keeps the last max bytes written to it, so a chatty child cannot fill the
// parent's memory.
type tailBuffer struct {
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	n := len(p)
	if len(p) >= t.max {
		t.buf = append(t.buf[:0], p[len(p)-t.max:]...)
		return n, nil
	}
	if over := len(t.buf) + len(p) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	t.buf = append(t.buf, p...)
	return n, nil
}

func (t *tailBuffer) Bytes() []byte { return t.buf }
