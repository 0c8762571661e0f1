package invoker

import (
	"context"
	"log/slog"
	"sync"
	"unicode/utf8"

	"github.com/burstgo/burst/control"
)

// Bounds of what a worker may log, so that a chatty function cannot flood the gateway.
const (
	maxLogMessage = 4 << 10
	maxLogValue   = 1 << 10
)

// logSink collects the lines a pack's workers log through w.Logger(), at most perRank
// lines and perRankBytes bytes a rank, until the pack runner takes them to publish.
type logSink struct {
	first        int          // the pack's first rank
	perRank      int          // bound of lines per rank
	perRankBytes int          // bound of bytes per rank; 0: none
	level        slog.Level   // least level kept
	forward      slog.Handler // the process's own log, for lines that name no rank

	mu      sync.Mutex
	lines   []control.LogLine
	counts  []int // lines kept per rank of the pack
	bytes   []int // bytes kept per rank of the pack
	kept    int   // lines kept in all
	dropped int
}

// maxPackLines bounds the lines of one pack, whatever its size: the gateway keeps fewer
// per flare anyway.
const maxPackLines = 10000

func newLogSink(first, ranks, perRank, perRankBytes int, level slog.Level, forward slog.Handler) *logSink {
	return &logSink{first: first, perRank: perRank, perRankBytes: perRankBytes, level: level, forward: forward,
		counts: make([]int, ranks), bytes: make([]int, ranks)}
}

// take returns the lines logged since the last call and how many were dropped.
func (s *logSink) take() ([]control.LogLine, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	lines, dropped := s.lines, s.dropped
	s.lines, s.dropped = nil, 0
	return lines, dropped
}

func (s *logSink) add(l control.LogLine) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.kept >= maxPackLines {
		s.dropped++
		return
	}
	if i := l.Rank - s.first; i >= 0 && i < len(s.counts) {
		size := lineSize(l)
		if s.counts[i] >= s.perRank || s.perRankBytes > 0 && s.bytes[i]+size > s.perRankBytes {
			s.dropped++
			return
		}
		s.counts[i]++
		s.bytes[i] += size
	}
	s.kept++
	s.lines = append(s.lines, l)
}

// handler returns the slog.Handler to give comm as the flare's logger.
func (s *logSink) handler() slog.Handler { return &logHandler{sink: s, rank: -1} }

// logHandler turns records into control.LogLines. comm adds flare, pack and rank attributes to
// each worker's logger; rank tells whose line it is, and the three are not repeated in
// the line's attributes.
type logHandler struct {
	sink   *logSink
	rank   int
	meta   []slog.Attr // flare and pack, for lines forwarded to the invoker's log
	attrs  []slog.Attr
	prefix string // open groups, "a.b."
}

var _ slog.Handler = (*logHandler)(nil)

func (h *logHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.sink.level }

func (h *logHandler) Handle(ctx context.Context, r slog.Record) error {
	if h.rank < 0 {
		// comm's own messages about the flare: they belong in the invoker's log.
		if h.sink.forward != nil && h.sink.forward.Enabled(ctx, r.Level) {
			return h.sink.forward.WithAttrs(append(h.meta, h.attrs...)).Handle(ctx, r)
		}
		return nil
	}
	l := control.LogLine{Rank: h.rank, Time: r.Time, Level: r.Level.String(), Message: clip(r.Message, maxLogMessage)}
	if len(h.attrs) > 0 || r.NumAttrs() > 0 {
		l.Attrs = make(map[string]string, len(h.attrs)+r.NumAttrs())
		for _, a := range h.attrs {
			addAttr(l.Attrs, "", a)
		}
		r.Attrs(func(a slog.Attr) bool {
			addAttr(l.Attrs, h.prefix, a)
			return true
		})
	}
	h.sink.add(l)
	return nil
}

func (h *logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append([]slog.Attr(nil), h.attrs...)
	c.meta = append([]slog.Attr(nil), h.meta...)
	for _, a := range attrs {
		if h.prefix == "" {
			switch a.Key {
			case "rank":
				if v := a.Value.Resolve(); v.Kind() == slog.KindInt64 {
					c.rank = int(v.Int64())
				}
				continue
			case "flare", "pack":
				c.meta = append(c.meta, a)
				continue
			}
		}
		c.attrs = append(c.attrs, slog.Attr{Key: h.prefix + a.Key, Value: a.Value})
	}
	return &c
}

func (h *logHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.prefix = h.prefix + name + "."
	return &c
}

func addAttr(m map[string]string, prefix string, a slog.Attr) {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		for _, g := range v.Group() {
			addAttr(m, prefix+a.Key+".", g)
		}
		return
	}
	if a.Key == "" {
		return
	}
	m[prefix+a.Key] = clip(v.String(), maxLogValue)
}

// clip shortens s to at most n bytes without splitting a character.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
