package cluster

import (
	"fmt"
	"net/url"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// ServerOptions configures an embedded NATS server.
type ServerOptions struct {
	// Name names the server in a cluster; empty picks one.
	Name string
	// Host and Port are the client listener; Port -1 picks a free port.
	Host string
	Port int
	// StoreDir enables JetStream with its file store there; empty means no JetStream.
	StoreDir string
	// ClusterName, ClusterHost/ClusterPort and Routes join a NATS cluster by routes.
	ClusterName string
	ClusterHost string
	ClusterPort int
	Routes      []string
	// MaxPayload is the largest message; zero means 8 MiB, enough for the default
	// chunk size with room to spare.
	MaxPayload int32
	// Debug turns the server's own logging on.
	Debug bool
}

// RunServer starts an embedded NATS server and waits until it takes connections. The
// caller shuts it down with Shutdown.
func RunServer(o ServerOptions) (*server.Server, error) {
	opts := &server.Options{
		ServerName: o.Name,
		Host:       o.Host,
		Port:       o.Port,
		NoSigs:     true,
		NoLog:      !o.Debug,
		MaxPayload: o.MaxPayload,
		// Large transfers are flow-controlled per pair of packs, but many pairs may
		// share a connection: let a busy subscriber fall behind by more than the
		// default 64 MiB before the server calls it slow.
		MaxPending:    1 << 30,
		WriteDeadline: 30 * time.Second,
	}
	if opts.Host == "" {
		opts.Host = "127.0.0.1"
	}
	if opts.MaxPayload == 0 {
		opts.MaxPayload = 8 << 20
	}
	if o.StoreDir != "" {
		opts.JetStream = true
		opts.StoreDir = o.StoreDir
	}
	if o.ClusterPort != 0 {
		opts.Cluster = server.ClusterOpts{Name: o.ClusterName, Host: o.ClusterHost, Port: o.ClusterPort}
		for _, r := range o.Routes {
			u, err := url.Parse(r)
			if err != nil {
				return nil, fmt.Errorf("cluster: route %q: %w", r, err)
			}
			opts.Routes = append(opts.Routes, u)
		}
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("cluster: nats server: %w", err)
	}
	if o.Debug {
		s.ConfigureLogger()
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("cluster: nats server on %s:%d not ready after 10s", opts.Host, opts.Port)
	}
	return s, nil
}

// ConnectInProcess connects to an embedded server without a socket.
func ConnectInProcess(s *server.Server, opts ...nats.Option) (*nats.Conn, error) {
	opts = append([]nats.Option{nats.InProcessServer(s), nats.Name("burst"), nats.MaxReconnects(-1)}, opts...)
	return nats.Connect("", opts...)
}
