package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/burstgo/burst/functions"
)

func newFnCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "fn",
		Short: "Build and check function plugins",
	}
	cmd.AddCommand(newFnBuildCmd(), newFnCheckCmd())
	return cmd
}

func newFnBuildCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "build DIR",
		Short: "Build the function in DIR as a plugin this binary can load",
		Long: `Build compiles DIR, a package main that exports
func Burst(ctx context.Context, w *comm.Worker, input json.RawMessage) (any, error),
as a Go plugin with this binary's own toolchain and build settings, so that a server of
this binary can load it. Register it with
curl -X PUT --data-binary @f.so localhost:8080/functions/NAME.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			if out == "" {
				abs, err := filepath.Abs(dir)
				if err != nil {
					return err
				}
				out = filepath.Base(abs) + ".so"
			}
			if err := functions.Build(cmd.Context(), dir, out); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), out)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "the plugin to write; default DIR's name with .so")
	return cmd
}

func newFnCheckCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "check PLUGIN",
		Short: "Check that this binary can load a plugin; print one JSON line",
		Long: `Check reads the plugin's build info, compares it with this binary's, opens it and
looks up Burst. It prints one JSON line, {"ok":true,"info":{...}} or
{"ok":false,"code":"not_plugin|mismatch|no_burst|bad_signature|load_failed","message":"..."},
and exits 1 when the plugin cannot be used. The gateway runs it in a child process, so
that a plugin's init code never runs in the gateway.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(args[0]) == "" {
				return fmt.Errorf("no plugin path")
			}
			if err := functions.WriteCheck(cmd.OutOrStdout(), args[0]); err != nil {
				return exitCode(1)
			}
			return nil
		},
	}
}
