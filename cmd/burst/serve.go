package main

import (
	"context"
	"errors"
	"io"

	"github.com/spf13/cobra"

	"github.com/burstgo/burst/gateway"
)

func newServeCmd(cfg *config) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run everything in one process: embedded NATS with JetStream, the gateway and an invoker",
		Long: `Serve runs the all-in-one server: an embedded NATS server whose JetStream store is in
the data directory, the HTTP gateway, and one invoker with the built-in functions.
A restart on the same data directory keeps functions and flare records.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd.Context(), *cfg, cmd.ErrOrStderr(), nil)
		},
	}
	fs := cmd.Flags()
	cfg.httpFlag(fs)
	cfg.dataFlag(fs, "the embedded NATS server's JetStream store, plugins, the invoker's id")
	cfg.natsFlags(fs, true)
	cfg.invokerFlags(fs)
	cfg.gatewayFlags(fs)
	cfg.commonFlags(fs)
	return cmd
}

// runServe serves until ctx ends, then shuts down gracefully. ready, if not nil, is
// called once the gateway serves.
func runServe(ctx context.Context, cfg config, logOut io.Writer, ready func(*gateway.Gateway)) error {
	return runNode(ctx, cfg, logOut, func(ctx context.Context, n *node) (func(context.Context) error, error) {
		inv, err := n.startInvoker(ctx, false)
		if err != nil {
			return nil, err
		}
		// The invoker stops with the gateway: flares in flight are cancelled, not left.
		gw, err := n.startGateway(ctx, false)
		if err != nil {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
			defer cancel()
			return nil, errors.Join(err, inv.Shutdown(sctx))
		}
		n.log.Info("burst is serving", "http", gw.URL(), "data", cfg.DataDir, "slots", cfg.Slots)
		if ready != nil {
			ready(gw)
		}
		return func(ctx context.Context) error {
			// The gateway first: it cancels the flares in flight and records them while
			// the invoker is still there to report their workers.
			return errors.Join(gw.Shutdown(ctx), inv.Shutdown(ctx))
		}, nil
	})
}
