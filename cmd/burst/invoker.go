package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"
)

func newInvokerCmd(cfg *config) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "invoker",
		Short: "Run an invoker that joins a cluster and runs packs",
		Long: `Invoker joins the NATS cluster given by --nats (--join is the same), heartbeats to the
gateway, and runs the packs assigned to it, with the example apps as its built-in
functions. It embeds no NATS server: the data directory keeps the plugins it fetched
by digest and its id, so that a restarted invoker keeps its name. It serves its own
/livez, /readyz and /metrics on --http, for probes and scrapers.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runInvoker(cmd.Context(), *cfg, cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&cfg.InvokerHTTP, "http", cfg.InvokerHTTP, "where to serve /livez, /readyz and /metrics; empty for nowhere (BURST_INVOKER_HTTP)")
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
		if cfg.InvokerHTTP == "" {
			n.log.Info("invoker is running", "id", inv.ID(), "slots", inv.Slots())
			return inv.Shutdown, nil
		}
		ln, err := net.Listen("tcp", cfg.InvokerHTTP)
		if err != nil {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
			defer cancel()
			return nil, errors.Join(fmt.Errorf("invoker http (--http, BURST_INVOKER_HTTP): %w", err), inv.Shutdown(sctx))
		}
		srv := &http.Server{Handler: inv.Handler(), ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(ln)
		n.log.Info("invoker is running", "id", inv.ID(), "slots", inv.Slots(), "http", ln.Addr().String())
		return func(ctx context.Context) error {
			// The probes answer until the packs have stopped: a scraper sees the end.
			err := inv.Shutdown(ctx)
			return errors.Join(err, srv.Shutdown(ctx))
		}, nil
	})
}
