package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/burstgo/burst/invoker"
)

func main() {
	if invoker.IsHost(os.Args[1:]) {
		// A function host of an invoker of this binary (invoker/hostmain.go): not a
		// command for people, and not one cobra parses.
		os.Exit(invoker.HostMain(os.Args[1:]))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal, a second one ends the process at once.
		<-ctx.Done()
		stop()
	}()
	os.Exit(run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

// exitCode is an error that only sets the exit status: its message was printed already.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// run runs the command line args and returns the exit status.
func run(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	cfg, envErr := loadConfig(environ)
	if envErr != nil {
		// Help still works, with the defaults and a word on the bad variable; every
		// command that runs fails on it.
		cfg, _ = loadConfig(nil)
	}
	root := newRootCmd(&cfg)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if envErr != nil {
		help := root.HelpFunc()
		root.SetHelpFunc(func(cmd *cobra.Command, args []string) {
			fmt.Fprintln(cmd.ErrOrStderr(), "burst: warning:", envErr)
			help(cmd, args)
		})
		root.PersistentPreRunE = func(*cobra.Command, []string) error {
			fmt.Fprintln(stderr, "burst:", envErr)
			return exitCode(2)
		}
	}
	if err := root.ExecuteContext(ctx); err != nil {
		var code exitCode
		if errors.As(err, &code) {
			return int(code)
		}
		fmt.Fprintln(stderr, "burst:", err)
		return 1
	}
	return 0
}

// newRootCmd builds the command tree. A new command is a file with a newXCmd function
// and one line here.
func newRootCmd(cfg *config) *cobra.Command {
	root := &cobra.Command{
		Use:           "burst",
		Short:         "Burst runs burst-parallel serverless jobs: one request starts N cooperating workers",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newServeCmd(cfg),
		newGatewayCmd(cfg),
		newInvokerCmd(cfg),
		newFnCmd(cfg),
		newBenchCmd(),
		newDataCmd(cfg),
		newKeyCmd(cfg),
		newCertCmd(),
		newFlareCmd(cfg),
		newInvokersCmd(cfg),
		newVersionCmd(),
	)
	return root
}
