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
		Long: `Invoker runs the packs the gateway assigns to it, with the example apps as its
built-in functions, and heartbeats to the gateway. It reaches the cluster one of two ways:

  --nats nats://host:4222 (--join is the same) joins a NATS server of another node, with
    a join key (--credentials) on a closed bus;
  --nats-cluster-port P --nats-routes nats://other:6222,... embeds a NATS server of its
    own, with JetStream, routed to the others' over TLS (--nats-tls-cert, --nats-tls-key,
    --nats-ca): its packs talk through the server on their host, and its store holds
    replicas of the cluster's records. A route is a server's trust: give route
    certificates only to hosts you trust as much as the gateway's.

The data directory keeps the plugins it fetched by digest, its id (so that a restarted
invoker keeps its name) and its server's store. It serves its own /livez, /readyz and
/metrics on --http, for probes and scrapers.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runInvoker(cmd.Context(), *cfg, cmd.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&cfg.InvokerHTTP, "http", cfg.InvokerHTTP, "where to serve /livez, /readyz and /metrics; empty for nowhere (BURST_INVOKER_HTTP)")
	cfg.dataFlag(fs, "fetched plugins, the invoker's id, an embedded server's JetStream store")
	cfg.natsFlags(fs, false)
	cfg.clusterFlags(fs)
	cfg.invokerFlags(fs)
	cfg.commonFlags(fs)
	return cmd
}

func runInvoker(ctx context.Context, cfg config, logOut io.Writer) error {
	switch {
	case cfg.NATSURL != "" && cfg.ClusterPort != 0:
		return errors.New("an invoker joins a server (--nats) or embeds one routed to the cluster (--nats-cluster-port), not both")
	case cfg.NATSURL == "" && cfg.ClusterPort == 0:
		return errors.New("an invoker joins a cluster: give --nats nats://host:4222 (or BURST_NATS_URL), " +
			"or embed a server routed to it with --nats-cluster-port and --nats-routes")
	case cfg.ClusterPort != 0 && len(cfg.Routes) == 0:
		return errors.New("an invoker's embedded server joins the cluster through its routes: give --nats-routes nats://host:6222")
	case cfg.ClusterPort != 0:
		// Only this invoker's function hosts use the client port.
		cfg.NATSHost, cfg.NATSPort, cfg.localNATS = "127.0.0.1", -1, true
	}
	return runNode(ctx, cfg, logOut, func(ctx context.Context, n *node) (func(context.Context) error, error) {
		inv, err := n.startInvoker(ctx, true)
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
