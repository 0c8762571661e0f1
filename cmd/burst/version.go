package main

import (
	"fmt"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/burstgo/burst/control"
)

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the build: module version, commit, Go, protocol level",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			bi, ok := debug.ReadBuildInfo()
			if !ok {
				return fmt.Errorf("no build info in this binary")
			}
			settings := map[string]string{}
			for _, s := range bi.Settings {
				settings[s.Key] = s.Value
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "burst %s\n", bi.Main.Version)
			if rev := settings["vcs.revision"]; rev != "" {
				dirty := ""
				if settings["vcs.modified"] == "true" {
					dirty = " (modified)"
				}
				fmt.Fprintf(w, "commit %s%s %s\n", rev, dirty, settings["vcs.time"])
			}
			fmt.Fprintf(w, "go %s %s/%s cgo=%s\n", strings.TrimPrefix(bi.GoVersion, "go"), settings["GOOS"], settings["GOARCH"], settings["CGO_ENABLED"])
			fmt.Fprintf(w, "protocol level %d\n", control.Version)
			return nil
		},
	}
}
