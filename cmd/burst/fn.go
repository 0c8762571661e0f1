package main

import (
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/burstgo/burst/client"
	"github.com/burstgo/burst/functions"
	"github.com/burstgo/burst/gateway"
)

func newFnCmd(cfg *config) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "fn",
		Short: "Build, check, push and manage functions",
	}
	cmd.AddCommand(newFnBuildCmd(), newFnCheckCmd())
	newFnClientCmds(cmd, cfg)
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

// newFnClientCmds are the fn commands that talk to the API: push, ls, get, rm.
func newFnClientCmds(cmd *cobra.Command, cfg *config) {
	api := func() (*client.Client, error) { return newClient(*cfg) }
	var out output
	printFn := func(w io.Writer, f gateway.FunctionRecord) error {
		return out.print(w, f, func(tw *tabwriter.Writer) {
			fmt.Fprintf(tw, "NAME\t%s\nNAMESPACE\t%s\nBUILTIN\t%v\n", f.Name, f.Namespace, f.Builtin)
			if !f.Builtin {
				fmt.Fprintf(tw, "VERSION\t%d\nDIGEST\t%s\nGO\t%s\nBYTES\t%d\nCREATED\t%s\n", f.Version, f.Digest, f.GoVersion, f.Bytes, f.Created.Format(time.RFC3339))
				fmt.Fprintf(tw, "LIMITS\tmemory %d B, timeout %s, logs %d B, result %d B\n", f.Limits.Memory, time.Duration(f.Limits.Timeout), f.Limits.LogBytes, f.Limits.ResultBytes)
			}
		})
	}
	limits := map[string]*string{"memory": new(string), "timeout": new(string), "log_bytes": new(string), "result_bytes": new(string)}
	push := &cobra.Command{
		Use:   "push NAME PLUGIN|DIR",
		Short: "Register a plugin under NAME (a directory is built first, as fn build does)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := api()
			if err != nil {
				return err
			}
			path := args[1]
			if fi, err := os.Stat(path); err == nil && fi.IsDir() {
				tmp, err := os.MkdirTemp("", "burst-fn-push-")
				if err != nil {
					return err
				}
				defer os.RemoveAll(tmp)
				so := filepath.Join(tmp, args[0]+".so")
				if err := functions.Build(cmd.Context(), path, so); err != nil {
					return err
				}
				path = so
			}
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			q := url.Values{}
			for k, v := range limits {
				if *v != "" {
					q.Set(k, *v)
				}
			}
			rec, err := c.PushFunction(cmd.Context(), args[0], f, q)
			if err != nil {
				return err
			}
			return printFn(cmd.OutOrStdout(), rec)
		},
	}
	push.Flags().StringVar(limits["memory"], "memory", "", "memory per worker, e.g. 512MiB")
	push.Flags().StringVar(limits["timeout"], "timeout", "", "the function's flare timeout, e.g. 10m")
	push.Flags().StringVar(limits["log_bytes"], "log-bytes", "", "log bytes per worker")
	push.Flags().StringVar(limits["result_bytes"], "result-bytes", "", "result bytes per worker")
	ls := &cobra.Command{
		Use:   "ls",
		Short: "List the functions: the namespace's and the built-ins",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := api()
			if err != nil {
				return err
			}
			fns, err := c.Functions(cmd.Context())
			if err != nil {
				return err
			}
			return out.print(cmd.OutOrStdout(), fns, func(tw *tabwriter.Writer) {
				fmt.Fprintln(tw, "NAME\tVERSION\tDIGEST\tCREATED")
				for _, f := range fns {
					if f.Builtin {
						fmt.Fprintf(tw, "%s\tbuilt-in\t-\t-\n", f.Name)
						continue
					}
					fmt.Fprintf(tw, "%s\t%d\t%.12s\t%s\n", f.Name, f.Version, f.Digest, f.Created.Format(time.RFC3339))
				}
			})
		},
	}
	get := oneCmd("get NAME", "Print a function's record", api, (*client.Client).Function, printFn)
	rm := &cobra.Command{
		Use:   "rm NAME",
		Short: "Delete a registered function",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := api()
			if err != nil {
				return err
			}
			f, err := c.DeleteFunction(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "deleted %s version %d\n", f.Name, f.Version)
			return nil
		},
	}
	for _, c := range []*cobra.Command{push, ls, get, rm} {
		clientFlags(c, cfg)
		out.flag(c)
		cmd.AddCommand(c)
	}
}
