package main

import (
	"context"
	"io"

	"github.com/spf13/cobra"
)

func newGatewayCmd(cfg *config) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "gateway",
		Short: "Run the HTTP gateway alone, for invokers on other hosts",
		Long: `Gateway runs the HTTP gateway without an invoker. It embeds a NATS server with
JetStream in the data directory (cluster it with --nats-cluster-port and --nats-routes),
or joins an existing NATS cluster with JetStream given by --nats.

When it stops, the flares that run on invokers go on: a gateway started again on the
same store takes them up, with the events their packs sent meanwhile.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runGateway(cmd.Context(), *cfg, cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	cfg.httpFlag(fs)
	cfg.dataFlag(fs, "the embedded NATS server's JetStream store, uploads being checked")
	cfg.natsFlags(fs, true)
	cfg.gatewayFlags(fs)
	cfg.commonFlags(fs)
	return cmd
}

func runGateway(ctx context.Context, cfg config, logOut io.Writer) error {
	return runNode(ctx, cfg, logOut, func(ctx context.Context, n *node) (func(context.Context) error, error) {
		gw, err := n.startGateway(ctx, true)
		if err != nil {
			return nil, err
		}
		n.log.Info("gateway is serving", "http", gw.URL())
		return gw.Shutdown, nil
	})
}
