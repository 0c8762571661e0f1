package cluster

import (
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// A route that answers none of RouteMaxPingsOut pings, sent every RoutePingInterval,
// is closed.
const (
	RoutePingInterval = time.Second
	RouteMaxPingsOut  = 3
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
	// NoAdvertise keeps the server's client URL from the cluster's clients: an
	// invoker's server takes only its own function hosts, on loopback.
	NoAdvertise bool
	// MaxPayload is the largest message; zero means 8 MiB, enough for the default
	// chunk size with room to spare.
	MaxPayload int32
	// Debug turns the server's own logging on.
	Debug bool
	// Auth closes the server: only its users connect. Nil takes anonymous
	// connections, for tests of other packages and for tools.
	Auth *Auth
	// TLS: CertFile and KeyFile make the client port and the routes TLS only (clients
	// over TCP must trust the certificate; in-process ones need not); CAFile, with
	// them, is what a route's peer must present a certificate of.
	CertFile, KeyFile, CAFile string
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
	if o.Auth != nil {
		opts.CustomClientAuthentication = o.Auth
	}
	if o.CertFile != "" || o.KeyFile != "" {
		tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: o.CertFile, KeyFile: o.KeyFile})
		if err != nil {
			return nil, fmt.Errorf("cluster: TLS of the client port: %w", err)
		}
		opts.TLS, opts.TLSConfig, opts.TLSTimeout = true, tc, 2
	}
	if o.StoreDir != "" {
		opts.JetStream = true
		opts.StoreDir = o.StoreDir
	}
	if o.ClusterPort != 0 {
		if o.CertFile == "" || o.KeyFile == "" || o.CAFile == "" {
			// A route is a server's, and sees every message: only over TLS, both sides
			// checked against the CA.
			return nil, fmt.Errorf("cluster: routes need TLS with a CA: give CertFile, KeyFile and CAFile with ClusterPort")
		}
		opts.Cluster = server.ClusterOpts{Name: o.ClusterName, Host: o.ClusterHost, Port: o.ClusterPort, NoAdvertise: o.NoAdvertise,
			// A host whose cable is cut closes nothing: its routes are known dead only
			// when their pings go unanswered. Within seconds, not the default minutes,
			// so that JetStream elects new leaders while a flare's invoker is declared lost.
			PingInterval: RoutePingInterval, MaxPingsOut: RouteMaxPingsOut}
		if o.CertFile != "" {
			// Routes go both ways: each side presents its certificate, and checks the
			// other's against the CA.
			tc, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: o.CertFile, KeyFile: o.KeyFile, CaFile: o.CAFile, Verify: o.CAFile != ""})
			if err != nil {
				return nil, fmt.Errorf("cluster: TLS of the routes: %w", err)
			}
			tc.RootCAs = tc.ClientCAs // the side that dials checks the other against the CA too
			opts.Cluster.TLSConfig, opts.Cluster.TLSTimeout = tc, 2
		}
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
	errs := &errorLog{}
	if o.Debug {
		s.ConfigureLogger()
	} else {
		// Quiet, but what goes wrong is kept: a port that is taken shows only as a
		// fatal log line, and the server never becomes ready.
		s.SetLogger(errs, false, false)
	}
	if o.Auth != nil {
		o.Auth.mu.Lock()
		o.Auth.srv = s
		o.Auth.mu.Unlock()
	}
	go s.Start()
	for deadline := time.Now().Add(10 * time.Second); !s.ReadyForConnections(50 * time.Millisecond); {
		if msg := errs.fatal(); msg != "" {
			s.Shutdown()
			return nil, fmt.Errorf("cluster: nats server on %s:%d: %s", opts.Host, opts.Port, msg)
		}
		if time.Now().After(deadline) {
			s.Shutdown()
			return nil, fmt.Errorf("cluster: nats server on %s:%d not ready after 10s: %s", opts.Host, opts.Port, errs.last())
		}
	}
	return s, nil
}

// errorLog is the embedded server's logger when it is quiet: it keeps the errors, so
// that a server that cannot start says why.
type errorLog struct {
	mu           sync.Mutex
	fatals, errs []string
}

func (l *errorLog) add(to *[]string, format string, v ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(*to) < 16 {
		*to = append(*to, fmt.Sprintf(format, v...))
	}
}

func (l *errorLog) fatal() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.fatals, "; ")
}

func (l *errorLog) last() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.errs) == 0 {
		return "no error logged"
	}
	return l.errs[len(l.errs)-1]
}

func (l *errorLog) Fatalf(format string, v ...any) { l.add(&l.fatals, format, v...) }
func (l *errorLog) Errorf(format string, v ...any) { l.add(&l.errs, format, v...) }
func (l *errorLog) Noticef(string, ...any)         {}
func (l *errorLog) Warnf(string, ...any)           {}
func (l *errorLog) Debugf(string, ...any)          {}
func (l *errorLog) Tracef(string, ...any)          {}

var _ server.Logger = (*errorLog)(nil)

// ConnectInProcess connects to an embedded server without a socket.
func ConnectInProcess(s *server.Server, opts ...nats.Option) (*nats.Conn, error) {
	opts = append([]nats.Option{nats.InProcessServer(s), nats.Name("burst"), nats.MaxReconnects(-1)}, opts...)
	return nats.Connect("", opts...)
}
