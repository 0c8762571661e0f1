package control

import (
	"runtime/debug"
	"strings"
	"sync"
)

// Build names the running binary in one line: its module version, the commit it was
// built from when known (a "+" when the tree was modified) and the Go release, such as
// "(devel) 4f96398a1b2c+ go1.26.8".
var Build = sync.OnceValue(func() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	parts := []string{bi.Main.Version}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev != "" {
		rev = rev[:min(len(rev), 12)]
		if modified == "true" {
			rev += "+"
		}
		parts = append(parts, rev)
	}
	return strings.Join(append(parts, bi.GoVersion), " ")
})
