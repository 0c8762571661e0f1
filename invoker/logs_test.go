package invoker

import (
	"context"
	"log/slog"
	"strings"
	"testing"
)

func TestLogHandler(t *testing.T) {
	var forwarded strings.Builder
	sink := newLogSink(10, 3, 2, 0, slog.LevelInfo, slog.NewTextHandler(&forwarded, nil))
	// As comm builds a worker's logger.
	pack := slog.New(sink.handler()).With("flare", "f", "pack", 3)
	w := pack.With("rank", 11)
	w.Info("hello", "k", 1, slog.Group("g", "a", "b"))
	w.WithGroup("grp").Info("grouped", "x", true)
	w.Debug("below the level")
	w.Info("third")                                                    // over the bound of 2 per rank
	slog.New(sink.handler()).With("rank", 99).Info("not of this pack") // kept, but not bounded
	pack.Warn("comm says", "err", "oops")                              // no rank: the invoker's log

	lines, dropped := sink.take()
	if dropped != 1 || len(lines) != 3 {
		t.Fatalf("%d lines, %d dropped: %+v", len(lines), dropped, lines)
	}
	tests := []struct {
		i     int
		rank  int
		msg   string
		attrs map[string]string
	}{
		{0, 11, "hello", map[string]string{"k": "1", "g.a": "b"}},
		{1, 11, "grouped", map[string]string{"grp.x": "true"}},
		{2, 99, "not of this pack", nil},
	}
	for _, tt := range tests {
		l := lines[tt.i]
		if l.Rank != tt.rank || l.Message != tt.msg || len(l.Attrs) != len(tt.attrs) || l.Level != "INFO" {
			t.Errorf("line %d = %+v", tt.i, l)
		}
		for k, v := range tt.attrs {
			if l.Attrs[k] != v {
				t.Errorf("line %d: %s=%q, want %q", tt.i, k, l.Attrs[k], v)
			}
		}
	}
	if out := forwarded.String(); !strings.Contains(out, "comm says") || !strings.Contains(out, "flare=f") || strings.Contains(out, "hello") {
		t.Errorf("forwarded %q", out)
	}
	if lines, dropped := sink.take(); lines != nil || dropped != 0 {
		t.Errorf("second take: %v %d", lines, dropped)
	}
	if !sink.handler().Enabled(context.Background(), slog.LevelWarn) || sink.handler().Enabled(context.Background(), slog.LevelDebug) {
		t.Error("Enabled does not follow the level")
	}
}

func TestClip(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"abcdef", 3, "abc…"},
		{"héllo", 2, "h…"}, // é is two bytes: not split
	}
	for _, tt := range tests {
		if got := clip(tt.in, tt.n); got != tt.want {
			t.Errorf("clip(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

// TestLogBytes bounds a worker's lines by bytes as well as by count.
func TestLogBytes(t *testing.T) {
	sink := newLogSink(0, 2, 100, 1000, slog.LevelInfo, nil)
	w := slog.New(sink.handler()).With("rank", 1)
	for range 20 {
		w.Info(strings.Repeat("m", 200))
	}
	slog.New(sink.handler()).With("rank", 0).Info("the other rank has room")
	lines, dropped := sink.take()
	kept := 0
	for _, l := range lines {
		if l.Rank == 1 {
			kept++
		}
	}
	if kept != 3 || dropped != 17 || len(lines) != 4 {
		t.Errorf("rank 1 kept %d lines, %d dropped, %d in all; want 3, 17 and 4", kept, dropped, len(lines))
	}
}
