package gateway

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/burstgo/burst/control"
)

// Limits of a registered function, set with its upload (PUT /functions/{name}?memory=…)
// within the gateway's maxima, its defaults where the upload says nothing. The record of
// the function shows them; every flare of it carries them to the invokers.

// Limits bound the workers of a function's flares.
type Limits struct {
	// Memory is the bytes each worker may use, on top of its function host's own
	// footprint; a host over it is killed (where uploaded functions run in hosts).
	Memory int64 `json:"memory"`
	// Timeout is the longest, and the default, timeout of a flare of the function.
	Timeout control.Duration `json:"timeout"`
	// LogBytes bounds the bytes each worker may log; more lines are dropped and counted.
	LogBytes int `json:"log_bytes"`
	// ResultBytes bounds one worker's JSON result; a larger one fails the worker.
	ResultBytes int `json:"result_bytes"`
}

// Defaults and maxima of Limits.
var (
	DefaultLimits = Limits{Memory: 256 << 20, Timeout: control.Duration(DefaultTimeout), LogBytes: 1 << 20, ResultBytes: 1 << 20}
	MaxLimits     = Limits{Memory: 4 << 30, Timeout: control.Duration(DefaultMaxTimeout), LogBytes: 16 << 20, ResultBytes: 4 << 20}
	// minMemory is the least Memory a function may ask for.
	minMemory int64 = 1 << 20
)

// or fills the limits that l does not set with d's.
func (l Limits) or(d Limits) Limits {
	setDefault(&l.Memory, d.Memory)
	setDefault(&l.Timeout, d.Timeout)
	setDefault(&l.LogBytes, d.LogBytes)
	setDefault(&l.ResultBytes, d.ResultBytes)
	return l
}

// within bounds each limit of l by m's: a function registered under larger maxima
// runs within the gateway's maxima of now.
func (l Limits) within(m Limits) Limits {
	l.Memory = min(l.Memory, m.Memory)
	l.Timeout = min(l.Timeout, m.Timeout)
	l.LogBytes = min(l.LogBytes, m.LogBytes)
	l.ResultBytes = min(l.ResultBytes, m.ResultBytes)
	return l
}

// wire is the part of the limits that an assignment carries.
func (l Limits) wire() control.Limits {
	return control.Limits{Memory: l.Memory, LogBytes: l.LogBytes, ResultBytes: l.ResultBytes}
}

// parseLimits reads the limits of an upload from its query, over the defaults d, and
// checks them against the maxima m.
func parseLimits(q url.Values, d, m Limits) (Limits, error) {
	l := d
	bad := func(format string, args ...any) (Limits, error) {
		return Limits{}, errorf(http.StatusBadRequest, CodeBadRequest, format, args...)
	}
	for key, vs := range q {
		v := vs[len(vs)-1]
		switch key {
		case "memory":
			n, err := parseBytes(v)
			if err != nil || n < minMemory || n > m.Memory {
				return bad("memory=%q: want a size from 1MiB to %s, such as 256MiB", v, formatBytes(m.Memory))
			}
			l.Memory = n
		case "timeout":
			t, err := time.ParseDuration(v)
			if err != nil || t <= 0 || t > time.Duration(m.Timeout) {
				return bad("timeout=%q: want a duration up to %s, such as 5m", v, time.Duration(m.Timeout))
			}
			l.Timeout = control.Duration(t)
		case "log_bytes", "result_bytes":
			n, err := parseBytes(v)
			max := int64(m.LogBytes)
			if key == "result_bytes" {
				max = int64(m.ResultBytes)
			}
			if err != nil || n < 1 || n > max {
				return bad("%s=%q: want a size up to %s", key, v, formatBytes(max))
			}
			if key == "log_bytes" {
				l.LogBytes = int(n)
			} else {
				l.ResultBytes = int(n)
			}
		default:
			return bad("unknown parameter %q: want memory, timeout, log_bytes or result_bytes", key)
		}
	}
	return l, nil
}

// parseBytes reads a size: a number of bytes, or with a unit, B, KiB, MiB or GiB (K, M
// and G are the same).
func parseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := s, ""
	if i >= 0 {
		num, unit = s[:i], strings.TrimSpace(s[i:])
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, err
	}
	mult := map[string]float64{"": 1, "B": 1, "K": 1 << 10, "KiB": 1 << 10, "M": 1 << 20, "MiB": 1 << 20, "G": 1 << 30, "GiB": 1 << 30}[unit]
	if mult == 0 {
		return 0, fmt.Errorf("unit %q", unit)
	}
	if f*mult > 1<<62 {
		return 0, fmt.Errorf("too large")
	}
	return int64(f * mult), nil
}

// formatBytes writes a size in the largest binary unit that divides it.
func formatBytes(n int64) string {
	for _, u := range []struct {
		size int64
		name string
	}{{1 << 30, "GiB"}, {1 << 20, "MiB"}, {1 << 10, "KiB"}} {
		if n >= u.size && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10) + "B"
}
