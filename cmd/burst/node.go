package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/burstgo/burst/cluster"
	"github.com/burstgo/burst/control"
	"github.com/burstgo/burst/functions/examples"
	"github.com/burstgo/burst/gateway"
	"github.com/burstgo/burst/invoker"
)

// node is this process's way into NATS: an embedded server, with JetStream in the data
// directory, or a connection to an existing cluster (--nats).
type node struct {
	cfg   config
	log   *slog.Logger
	srv   *server.Server
	auth  *cluster.Auth // the embedded server's: it takes no anonymous connection
	conns []*nats.Conn
}

// runNode starts a node and, on it, what start starts; it waits for ctx to end and then
// calls the shutdown that start returned, bounded by the shutdown timeout.
func runNode(ctx context.Context, cfg config, logOut io.Writer, start func(context.Context, *node) (shutdown func(context.Context) error, err error)) error {
	if err := cfg.check(); err != nil {
		return err
	}
	log, err := cfg.logger(logOut)
	if err != nil {
		return err
	}
	n, err := startNode(cfg, log)
	if err != nil {
		return err
	}
	defer n.close()
	shutdown, err := start(ctx, n)
	if err != nil {
		return err
	}
	<-ctx.Done()
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	return shutdown(sctx)
}

func startNode(cfg config, log *slog.Logger) (*node, error) {
	n := &node{cfg: cfg, log: log}
	if cfg.NATSURL != "" {
		log.Info("joining NATS", "url", cfg.NATSURL)
		return n, nil
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	n.auth = cluster.NewAuth()
	name := cfg.NATSName
	if name == "" && cfg.ClusterPort != 0 {
		// JetStream's cluster knows its servers by name: keep it across restarts.
		name, _ = os.Hostname()
	}
	srv, err := cluster.RunServer(cluster.ServerOptions{
		Auth:        n.auth,
		Name:        name,
		Host:        cfg.NATSHost,
		Port:        cfg.NATSPort,
		StoreDir:    filepath.Join(cfg.DataDir, "nats"),
		ClusterName: cfg.ClusterName,
		ClusterHost: cfg.ClusterHost,
		ClusterPort: cfg.ClusterPort,
		Routes:      cfg.Routes,
		NoAdvertise: cfg.localNATS,
		CertFile:    cfg.NATSTLSCert,
		KeyFile:     cfg.NATSTLSKey,
		CAFile:      cfg.NATSCA,
	})
	if err != nil {
		return nil, err
	}
	n.srv = srv
	log.Info("NATS server started", "url", srv.ClientURL(), "store", filepath.Join(cfg.DataDir, "nats"))
	return n, nil
}

// connect opens a connection; one per component, so that the gateway's events and the
// invoker's traffic do not queue behind each other. In process, it is the node's own
// user; else the given options (an invoker's join key) say who it is.
func (n *node) connect(name string, opts ...nats.Option) (*nats.Conn, error) {
	var nc *nats.Conn
	var err error
	if n.srv != nil {
		nc, err = cluster.ConnectInProcess(n.srv, nats.Name(name), n.auth.Internal())
	} else {
		opts = append([]nats.Option{nats.Name(name), nats.MaxReconnects(-1)}, opts...)
		if n.cfg.NATSCA != "" {
			opts = append(opts, nats.RootCAs(n.cfg.NATSCA))
		}
		nc, err = nats.Connect(n.cfg.NATSURL, opts...)
	}
	if errors.Is(err, nats.ErrAuthorization) {
		if n.cfg.Credentials == "" {
			return nil, fmt.Errorf("connect to NATS at %s: %w: a Burst bus is closed; an invoker joins with a join key "+
				"(burst key create --role invoker --invoker ID, saved to a file given as --credentials)", n.cfg.NATSURL, err)
		}
		return nil, fmt.Errorf("connect to NATS at %s: %w: the key in %s is not a live invoker key for this invoker's id "+
			"(burst key create --role invoker --invoker ID, with the id given as --invoker-id)", n.cfg.NATSURL, err, n.cfg.Credentials)
	}
	if err != nil {
		return nil, fmt.Errorf("connect to NATS: %w", err)
	}
	n.conns = append(n.conns, nc)
	return nc, nil
}

// natsURL is where other processes of this node (function hosts) reach NATS.
func (n *node) natsURL() string {
	if n.srv != nil {
		return n.srv.ClientURL()
	}
	return n.cfg.NATSURL
}

// close closes the connections and then the embedded server, which syncs JetStream's
// store to disk.
func (n *node) close() {
	for _, nc := range n.conns {
		// The components unsubscribed already: send what is buffered, then close.
		nc.FlushTimeout(5 * time.Second)
		nc.Close()
	}
	if n.srv != nil {
		n.srv.Shutdown()
		n.srv.WaitForShutdown()
	}
}

// startGateway starts the gateway; leaveRunning leaves the flares on invokers running
// when it stops, for the next gateway to take up.
func (n *node) startGateway(ctx context.Context, leaveRunning bool) (*gateway.Gateway, error) {
	nc, err := n.connect("burst-gateway")
	if err != nil {
		return nil, err
	}
	if n.srv != nil && n.cfg.ClusterPort != 0 {
		if err := n.waitJetStream(ctx, nc); err != nil {
			return nil, err
		}
	}
	tmp := filepath.Join(n.cfg.DataDir, "tmp")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	var revoked func(string)
	if n.auth != nil {
		revoked = n.auth.Disconnect // a revoked join key ends its invoker's connection
	}
	gw, err := gateway.New(gateway.Options{
		Revoked:        revoked,
		Addr:           n.cfg.HTTPAddr,
		Conn:           nc,
		TempDir:        tmp,
		Logger:         n.log.With("component", "gateway"),
		DefaultTimeout: n.cfg.FlareTimeout,
		Retention:      n.cfg.Retention,
		MaxDataset:     n.cfg.MaxDataset,
		Join:           n.cfg.JoinPacks,
		LeaveRunning:   leaveRunning,
		Auth:           n.cfg.Auth,
		KeyFile:        filepath.Join(n.cfg.DataDir, "admin.key"),
		TLSCert:        n.cfg.TLSCert,
		TLSKey:         n.cfg.TLSKey,
		Replicas:       n.cfg.replicas(),
	})
	if err != nil {
		return nil, err
	}
	if err := gw.Start(ctx); err != nil {
		return nil, err
	}
	if n.auth != nil {
		// Invokers that join with a key, and the flares' own connections, are the
		// gateway's to let in.
		n.auth.SetAuthorizer(gw.AuthorizeNATS)
	}
	return gw, nil
}

// jetStreamWait bounds how long a clustered node waits for JetStream's cluster: the
// other servers may start later, in any order.
const jetStreamWait = 5 * time.Minute

// waitJetStream waits until the cluster's JetStream answers and this server is routed
// to enough others to place the gateway's replicas: a leader needs a majority of the
// servers, and a bucket of three replicas three servers that are up. So the node that
// starts first waits for the others.
func (n *node) waitJetStream(ctx context.Context, nc *nats.Conn) error {
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	want := n.cfg.replicas() - 1
	deadline := time.Now().Add(jetStreamWait)
	for said := false; ; {
		try, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := js.AccountInfo(try)
		peers := n.routedServers()
		if err == nil && peers >= want && want > 0 {
			// Routed is not yet placeable: JetStream's meta group learns of the other
			// servers a moment later, and a bucket of several replicas made before
			// then is refused ("no suitable peers for placement"). A stream of as many
			// replicas, made and dropped, says when it is.
			err = probePlacement(try, js, n.srv.Name(), want+1)
		}
		cancel()
		switch {
		case err == nil && peers >= want:
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case time.Now().After(deadline):
			return fmt.Errorf("the NATS cluster's JetStream is not ready within %s (routed to %d servers, want %d for %d replicas): %v",
				jetStreamWait, peers, want, want+1, err)
		case !said:
			n.log.Info("waiting for the NATS cluster: a majority of its servers must be up, and as many as the records' replicas",
				"routes", n.cfg.Routes, "routed", peers, "replicas", want+1, "err", err)
			said = true
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// probePlacement makes and drops a stream of replicas copies in memory.
func probePlacement(ctx context.Context, js jetstream.JetStream, node string, replicas int) error {
	name := "BURST_PLACEMENT_" + strings.Map(func(r rune) rune {
		if r == '.' || r == '*' || r == '>' || r == ' ' {
			return '_'
		}
		return r
	}, node)
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: name, Subjects: []string{"burst.probe." + name}, Storage: jetstream.MemoryStorage, Replicas: replicas,
	}); err != nil {
		return fmt.Errorf("a stream of %d replicas: %w", replicas, err)
	}
	return js.DeleteStream(ctx, name)
}

// routedServers counts the other servers this node's server has routes to.
func (n *node) routedServers() int {
	rz, err := n.srv.Routez(nil)
	if err != nil {
		return 0
	}
	names := make(map[string]bool)
	for _, r := range rz.Routes {
		names[r.RemoteName] = true
	}
	return len(names)
}

// startInvoker starts the invoker; alone on an embedded server (`burst invoker` with a
// server of its own), it also lets its flares' connections into that server.
func (n *node) startInvoker(ctx context.Context, alone bool) (*invoker.Invoker, error) {
	id, err := invokerID(n.cfg)
	if err != nil {
		return nil, err
	}
	var natsOpts []nats.Option
	if n.srv == nil && n.cfg.Credentials != "" {
		key, err := os.ReadFile(n.cfg.Credentials)
		if err != nil {
			return nil, fmt.Errorf("join key: %w", err)
		}
		natsOpts = append(natsOpts, nats.UserInfo(control.InvokerUser(id), strings.TrimSpace(string(key))),
			nats.CustomInboxPrefix(control.InvokerInbox(id)))
	}
	nc, err := n.connect("burst-invoker", natsOpts...)
	if err != nil {
		return nil, err
	}
	opts := invoker.Options{
		Lanes:      n.cfg.lanes(),
		ID:         id,
		Conn:       nc,
		Functions:  examples.Builtins(),
		Isolation:  control.Isolation(n.cfg.Isolation),
		MaxHosts:   n.cfg.MaxHosts,
		HostNATS:   n.natsURL(),
		HostNATSCA: n.cfg.NATSCA,
		// Joined with a key, its own connection may not reach the flares' subjects.
		FlareConns: n.srv == nil && n.cfg.Credentials != "",
		Slots:      n.cfg.Slots,
		CacheDir:   filepath.Join(n.cfg.DataDir, "plugins"),
		Logger:     n.log.With("component", "invoker"),
	}
	own := alone && n.srv != nil
	if own {
		opts.Revoked = n.auth.Disconnect
	}
	inv, err := invoker.New(opts)
	if err != nil {
		return nil, err
	}
	if own {
		n.auth.SetAuthorizer(inv.AuthorizeNATS)
	}
	if err := inv.Start(ctx); err != nil {
		return nil, err
	}
	return inv, nil
}

// invokerID is the id the configuration gives, or the one kept in the data directory,
// made the first time: a restarted invoker keeps its name, so that a gateway that took
// up its flares asks it, rather than waiting for an invoker that never comes back.
func invokerID(cfg config) (string, error) {
	if cfg.InvokerID != "" {
		return cfg.InvokerID, nil
	}
	path := filepath.Join(cfg.DataDir, "invoker-id")
	b, err := os.ReadFile(path)
	if err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("invoker id: %w", err)
	}
	host, _ := os.Hostname()
	id := invoker.DefaultID(host)
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return "", fmt.Errorf("data directory: %w", err)
	}
	if err := os.WriteFile(path, []byte(id+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("invoker id: %w", err)
	}
	return id, nil
}
