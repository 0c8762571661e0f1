package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
	"github.com/spf13/pflag"

	"github.com/burstgo/burst/gateway"
	"github.com/burstgo/burst/invoker"
)

// config is every setting of the binary. The environment (prefix BURST_) gives the
// defaults of the flags, so a flag overrides its variable.
type config struct {
	HTTPAddr string `env:"HTTP_ADDR" envDefault:"127.0.0.1:8080"`
	DataDir  string `env:"DATA_DIR" envDefault:"./burst-data"`
	NATSHost string `env:"NATS_HOST" envDefault:"127.0.0.1"`
	NATSPort int    `env:"NATS_PORT" envDefault:"4222"`
	NATSURL  string `env:"NATS_URL"`
	// Credentials is the file of an invoker's join key, for a closed bus.
	Credentials string `env:"CREDENTIALS"`
	// TLS: the HTTP listener's certificate, the embedded NATS server's (client port
	// and routes), and the CA that NATS clients and routes check it against.
	TLSCert     string `env:"TLS_CERT"`
	TLSKey      string `env:"TLS_KEY"`
	NATSTLSCert string `env:"NATS_TLS_CERT"`
	NATSTLSKey  string `env:"NATS_TLS_KEY"`
	NATSCA      string `env:"NATS_CA"`
	Slots       int    `env:"INVOKER_SLOTS" envDefault:"16384"`
	InvokerID   string `env:"INVOKER_ID"`
	// InvokerHTTP is where `burst invoker` serves /livez, /readyz and /metrics.
	InvokerHTTP string `env:"INVOKER_HTTP" envDefault:"127.0.0.1:8081"`
	// Isolation is where the invoker runs uploaded functions: process or none.
	Isolation string `env:"ISOLATION" envDefault:"process"`
	// MaxHosts bounds the invoker's function hosts.
	MaxHosts int `env:"MAX_HOSTS" envDefault:"64"`
	// Lanes: the invoker's packs move large messages to other packs over direct
	// lanes, unix sockets on the host and TCP at LaneHost between hosts.
	Lanes    bool   `env:"LANES" envDefault:"true"`
	LaneHost string `env:"LANE_HOST"`
	// Clustering of the embedded NATS server, for several hosts: its name in the
	// cluster (JetStream wants it unique and stable; empty means the host name), the
	// route listener, the routes to the others, and the replicas of the gateway's
	// buckets and streams (0: three when there are three servers or more, else one).
	NATSName    string   `env:"NATS_NAME"`
	ClusterName string   `env:"NATS_CLUSTER_NAME" envDefault:"burst"`
	ClusterHost string   `env:"NATS_CLUSTER_HOST" envDefault:"0.0.0.0"`
	ClusterPort int      `env:"NATS_CLUSTER_PORT"`
	Routes      []string `env:"NATS_ROUTES" envSeparator:","`
	Replicas    int      `env:"REPLICAS"`
	// localNATS is set by `burst invoker` for a server of its own: on loopback, its
	// client URL kept from the cluster's clients.
	localNATS bool
	LogLevel  string `env:"LOG_LEVEL" envDefault:"info"`
	LogFormat string `env:"LOG_FORMAT" envDefault:"text"`
	// ShutdownTimeout bounds a graceful shutdown.
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"30s"`
	// FlareTimeout is a flare's timeout when its request gives none.
	FlareTimeout time.Duration `env:"FLARE_TIMEOUT" envDefault:"5m"`
	// Retention is how long a flare's record, results and logs are kept.
	Retention time.Duration `env:"RETENTION" envDefault:"168h"`
	// JoinPacks is the default of a flare request's "join".
	JoinPacks bool `env:"JOIN_PACKS"`
	// MaxDataset bounds a dataset stored with burst data put, in bytes.
	MaxDataset int64 `env:"MAX_DATASET" envDefault:"68719476736"`
	// Auth is when the gateway wants API keys: auto or required.
	Auth string `env:"AUTH" envDefault:"auto"`
	// API and Key are a client command's gateway and key.
	API string `env:"API" envDefault:"http://127.0.0.1:8080"`
	Key string `env:"KEY"`
	// CA is the file of the CA a client command trusts for an https API.
	CA string `env:"CA"`
}

// loadConfig reads the environment; environ is os.Environ's form.
func loadConfig(environ []string) (config, error) {
	var c config
	vars := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vars[k] = v
		}
	}
	err := env.ParseWithOptions(&c, env.Options{Prefix: "BURST_", Environment: vars})
	var agg env.AggregateError
	if errors.As(err, &agg) {
		// Name the variable, not the Go field.
		msgs := make([]string, 0, len(agg.Errors))
		for _, e := range agg.Errors {
			var pe env.ParseError
			if errors.As(e, &pe) {
				if f, ok := reflect.TypeFor[config]().FieldByName(pe.Name); ok {
					name := "BURST_" + strings.Split(f.Tag.Get("env"), ",")[0]
					msgs = append(msgs, fmt.Sprintf("%s=%q is not a valid %s", name, vars[name], pe.Type))
					continue
				}
			}
			msgs = append(msgs, e.Error())
		}
		return c, fmt.Errorf("environment: %s", strings.Join(msgs, "; "))
	}
	if err != nil {
		return c, fmt.Errorf("environment: %w", err)
	}
	return c, nil
}

// Flags of the settings, each bound to its field of c; a command adds those it uses.
func (c *config) httpFlag(fs *pflag.FlagSet) {
	fs.StringVar(&c.HTTPAddr, "http", c.HTTPAddr, "HTTP listen address (BURST_HTTP_ADDR)")
	fs.StringVar(&c.TLSCert, "tls-cert", c.TLSCert, "certificate file of the HTTP listener: HTTPS only (BURST_TLS_CERT)")
	fs.StringVar(&c.TLSKey, "tls-key", c.TLSKey, "key file of --tls-cert (BURST_TLS_KEY)")
}

// dataFlag binds --data; what says what the command keeps there.
func (c *config) dataFlag(fs *pflag.FlagSet, what string) {
	fs.StringVar(&c.DataDir, "data", c.DataDir, "data directory: "+what+" (BURST_DATA_DIR)")
}

func (c *config) natsFlags(fs *pflag.FlagSet, embedded bool) {
	if !embedded {
		fs.StringVar(&c.NATSURL, "nats", c.NATSURL, "URL of the NATS cluster to join; --join is the same (BURST_NATS_URL)")
		fs.StringVar(&c.Credentials, "credentials", c.Credentials, "file holding this invoker's join key (burst key create --role invoker --invoker ID) (BURST_CREDENTIALS)")
		fs.StringVar(&c.NATSCA, "nats-ca", c.NATSCA, "CA file to check a TLS NATS server's certificate against; with a server of its own, also the routes' and its function hosts' (BURST_NATS_CA)")
		// --join is another name of --nats, not a flag of its own.
		fs.SetNormalizeFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
			if name == "join" {
				name = "nats"
			}
			return pflag.NormalizedName(name)
		})
		return
	}
	fs.StringVar(&c.NATSURL, "nats", c.NATSURL, "URL of the NATS cluster to join, instead of embedding a server (BURST_NATS_URL)")
	fs.IntVar(&c.NATSPort, "nats-port", c.NATSPort, "client port of the embedded NATS server; -1 picks a free one (BURST_NATS_PORT)")
	fs.StringVar(&c.NATSHost, "nats-host", c.NATSHost, "client host of the embedded NATS server (BURST_NATS_HOST)")
	fs.StringVar(&c.NATSCA, "nats-ca", c.NATSCA, "CA file that function hosts check the NATS certificate against, and routes each other's (BURST_NATS_CA)")
	c.clusterFlags(fs)
	fs.IntVar(&c.Replicas, "replicas", c.Replicas, "replicas of the records, functions, keys and streams in a NATS cluster; 0: 3 with 3 servers or more, else 1 (BURST_REPLICAS)")
}

// clusterFlags bind the embedded server's clustering: routes to the other nodes'
// servers, over TLS.
func (c *config) clusterFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.NATSName, "nats-name", c.NATSName, "name of the embedded NATS server in the cluster, unique and stable; empty for the host name (BURST_NATS_NAME)")
	fs.IntVar(&c.ClusterPort, "nats-cluster-port", c.ClusterPort, "route port of the embedded NATS server, to cluster it; 0 for none (BURST_NATS_CLUSTER_PORT)")
	fs.StringVar(&c.ClusterHost, "nats-cluster-host", c.ClusterHost, "host of the route listener (BURST_NATS_CLUSTER_HOST)")
	fs.StringVar(&c.ClusterName, "nats-cluster-name", c.ClusterName, "NATS cluster name (BURST_NATS_CLUSTER_NAME)")
	fs.StringSliceVar(&c.Routes, "nats-routes", c.Routes, "routes to other NATS servers, nats://host:port (BURST_NATS_ROUTES)")
	fs.StringVar(&c.NATSTLSCert, "nats-tls-cert", c.NATSTLSCert, "certificate file of the embedded NATS server: its client port and routes speak TLS only (BURST_NATS_TLS_CERT)")
	fs.StringVar(&c.NATSTLSKey, "nats-tls-key", c.NATSTLSKey, "key file of --nats-tls-cert (BURST_NATS_TLS_KEY)")
}

// replicas is the replication factor of the gateway's buckets and streams: as set, or
// three with three servers or more (this one and its routes), else one.
func (c *config) replicas() int {
	if c.Replicas > 0 || c.NATSURL != "" {
		return max(c.Replicas, 1)
	}
	if c.ClusterPort != 0 && len(c.Routes)+1 >= 3 {
		return 3
	}
	return 1
}

func (c *config) invokerFlags(fs *pflag.FlagSet) {
	fs.IntVar(&c.Slots, "slots", c.Slots, "worker slots of the invoker (BURST_INVOKER_SLOTS)")
	fs.StringVar(&c.InvokerID, "invoker-id", c.InvokerID, "name of the invoker in the cluster; empty picks one (BURST_INVOKER_ID)")
	fs.StringVar(&c.Isolation, "isolation", c.Isolation, "where uploaded functions run: process (a function host per flare) or none (in the invoker, trusted setups and benchmarks) (BURST_ISOLATION)")
	fs.IntVar(&c.MaxHosts, "max-hosts", c.MaxHosts, "most function hosts of the invoker, idle and busy (BURST_MAX_HOSTS)")
	fs.BoolVar(&c.Lanes, "lanes", c.Lanes, "move messages of 64 KiB and more between packs over direct lanes instead of NATS (BURST_LANES)")
	fs.StringVar(&c.LaneHost, "lane-host", c.LaneHost, "this host's address or name, and a port if need be (HOST[:PORT]), for TCP lanes from packs on other hosts, TLS with --nats-tls-cert; empty: lanes on this host only (BURST_LANE_HOST)")
}

func (c *config) gatewayFlags(fs *pflag.FlagSet) {
	fs.DurationVar(&c.FlareTimeout, "flare-timeout", c.FlareTimeout, "timeout of a flare whose request gives none (BURST_FLARE_TIMEOUT)")
	fs.DurationVar(&c.Retention, "retention", c.Retention, "how long flare records, results and logs are kept (BURST_RETENTION)")
	fs.BoolVar(&c.JoinPacks, "join-packs", c.JoinPacks, "run the packs of a flare placed on one invoker as one pack, unless its request says \"join\": false (BURST_JOIN_PACKS)")
	fs.Int64Var(&c.MaxDataset, "max-dataset", c.MaxDataset, "largest dataset stored with burst data put, in bytes (BURST_MAX_DATASET)")
	fs.StringVar(&c.Auth, "auth", c.Auth, "when requests need an API key: auto (beyond loopback, or once a key exists) or required (BURST_AUTH)")
}

func (c *config) commonFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error (BURST_LOG_LEVEL)")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "text or json (BURST_LOG_FORMAT)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "bound of a graceful shutdown (BURST_SHUTDOWN_TIMEOUT)")
}

// check refuses settings that cannot work, before anything starts.
func (c *config) check() error {
	switch {
	case c.Slots <= 0:
		return fmt.Errorf("slots %d: want at least 1", c.Slots)
	case c.NATSPort < -1 || c.NATSPort > 65535:
		return fmt.Errorf("nats port %d: want -1 (any) or 0 to 65535", c.NATSPort)
	case c.DataDir == "":
		return errors.New("no data directory")
	case c.ShutdownTimeout <= 0:
		return fmt.Errorf("shutdown timeout %s: want more than 0", c.ShutdownTimeout)
	case c.FlareTimeout <= 0:
		return fmt.Errorf("flare timeout %s: want more than 0", c.FlareTimeout)
	case c.MaxHosts <= 0:
		return fmt.Errorf("max hosts %d: want at least 1", c.MaxHosts)
	case c.Auth != gateway.AuthAuto && c.Auth != gateway.AuthRequired:
		return fmt.Errorf("auth %q: want %s or %s", c.Auth, gateway.AuthAuto, gateway.AuthRequired)
	case c.Isolation != "process" && c.Isolation != "none":
		return fmt.Errorf("isolation %q: want process or none", c.Isolation)
	case c.MaxDataset < 1:
		return fmt.Errorf("max dataset %d: want at least 1 byte", c.MaxDataset)
	case c.Retention < gateway.DefaultMaxTimeout:
		return fmt.Errorf("retention %s: want at least %s, the longest a flare may run", c.Retention, gateway.DefaultMaxTimeout)
	case (c.TLSCert == "") != (c.TLSKey == ""):
		return errors.New("HTTPS needs both --tls-cert and --tls-key")
	case (c.NATSTLSCert == "") != (c.NATSTLSKey == ""):
		return errors.New("NATS over TLS needs both --nats-tls-cert and --nats-tls-key")
	case c.ClusterPort != 0 && c.NATSURL == "" && (c.NATSTLSCert == "" || c.NATSCA == ""):
		// A route is a server's, not a user's: without certificates checked against a
		// CA, any server that reaches the port would join and see every message.
		return errors.New("routes need TLS: give --nats-tls-cert, --nats-tls-key and --nats-ca with --nats-cluster-port")
	case c.Replicas < 0 || c.Replicas > 5:
		return fmt.Errorf("replicas %d: want 1 to 5, or 0 for the default", c.Replicas)
	case c.Lanes && c.LaneHost != "" && c.NATSCA != "" && c.NATSTLSCert == "":
		// The cluster speaks TLS: so do its lanes, with the node's certificate.
		return errors.New("TCP lanes in a TLS cluster need this node's certificate: give --nats-tls-cert and --nats-tls-key with --lane-host")
	case len(c.Routes) > 0 && c.ClusterPort == 0 && c.NATSURL == "":
		// The embedded server routes only from a cluster port of its own.
		return errors.New("nats routes need a cluster port: give --nats-cluster-port (BURST_NATS_CLUSTER_PORT)")
	}
	return nil
}

// lanes are the invoker's lane options: TCP at --lane-host besides the unix sockets,
// TLS with the node's NATS certificate and CA when it has both.
func (c *config) lanes() invoker.LaneOptions {
	o := invoker.LaneOptions{Off: !c.Lanes, Host: c.LaneHost}
	if c.LaneHost != "" && c.NATSTLSCert != "" && c.NATSCA != "" {
		o.CertFile, o.KeyFile, o.CAFile = c.NATSTLSCert, c.NATSTLSKey, c.NATSCA
	}
	return o
}

// logger builds the process's logger.
func (c *config) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", c.LogLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch c.LogFormat {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: want text or json", c.LogFormat)
}
