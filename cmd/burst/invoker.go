package main

import (
	"context"
	"errors"
	"io"

	"github.com/spf13/cobra"
)

func newInvokerCmd(cfg *config) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "invoker",
		Short: "Run an invoker that joins a cluster and runs packs",
		Long: `Invoker joins the NATS cluster given by --nats (--join is the same), heartbeats to the
gateway, and runs the packs assigned to it, with the example apps as its built-in
functions. It embeds no NATS server: the data directory keeps the plugins it fetched
by digest and its id, so that a restarted invoker keeps its name.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runInvoker(cmd.Context(), *cfg, cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	cfg.dataFlag(fs, "fetched plugins and the invoker's id")
	cfg.natsFlags(fs, false)
	cfg.invokerFlags(fs)
	cfg.commonFlags(fs)
	return cmd
}

func runInvoker(ctx context.Context, cfg config, logOut io.Writer) error {
	if cfg.NATSURL == "" {
		return errors.New("an invoker joins a cluster: give --nats nats://host:4222 (or BURST_NATS_URL)")
	}
	return runNode(ctx, cfg, logOut, func(ctx context.Context, n *node) (func(context.Context) error, error) {
		inv, err := n.startInvoker(ctx)
		if err != nil {
			return nil, err
		}
		n.log.Info("invoker is running", "id", inv.ID(), "slots", inv.Slots())
		return inv.Shutdown, nil
	})
}
