package main

import (
	"context"
	"errors"
	"io"
	"os"

	"github.com/spf13/cobra"
)

func newInvokerCmd(cfg *config) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "invoker",
		Short: "Run an invoker that joins a cluster and runs packs",
		Long: `Invoker joins the NATS cluster given by --nats (or --join), heartbeats to the gateway,
and runs the packs assigned to it, fetching plugins by digest into the data directory.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runInvoker(cmd.Context(), *cfg, os.Stderr)
		},
	}
	fs := cmd.Flags()
	cfg.dataFlag(fs)
	cfg.natsFlags(fs, false)
	fs.StringVar(&cfg.NATSURL, "join", cfg.NATSURL, "the same as --nats")
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
