package invoker

import (
	"flag"
	"log/slog"
	"net"

	"github.com/burstgo/burst/cluster"
	"github.com/burstgo/burst/comm"
)

// LaneOptions say where the packs of an invoker, and of its function hosts, take
// direct lanes (comm.Lanes) for the messages of 64 KiB and more they send to other
// packs: an abstract unix socket each for packs on this host, TCP at Host for packs of
// other hosts. A pack proves to another with its flare's secret (the assignment's
// LaneSecret) that it belongs to the flare; a pack with no lane to another talks to it
// over NATS.
type LaneOptions struct {
	// Off keeps all traffic between packs on NATS.
	Off bool
	// Host is the address TCP lanes listen on and packs of other hosts dial (this
	// host's address or name in the cluster), with a port for the invoker's own
	// lanes ("10.0.0.2:6300"; function hosts always take a free port); empty means no
	// TCP lanes.
	Host string
	// CertFile, KeyFile and CAFile make TCP lanes TLS, each side checked against the
	// CA (cluster.MutualTLS): the node's NATS certificate does.
	CertFile, KeyFile, CAFile string
}

// listen opens the lanes of o, or none when o is Off.
func (o LaneOptions) listen(log *slog.Logger) (*comm.Lanes, error) {
	if o.Off {
		return nil, nil
	}
	co := comm.LaneOptions{Unix: true, Logger: log}
	if o.Host != "" {
		host, port := o.hostPort()
		co.TCP = net.JoinHostPort(host, port)
	}
	if o.Host != "" && o.CertFile != "" {
		var err error
		if co.ServerTLS, co.ClientTLS, err = cluster.MutualTLS(o.CertFile, o.KeyFile, o.CAFile); err != nil {
			return nil, err
		}
	}
	return comm.ListenLanes(co)
}

// hostPort splits Host into a host and a port, "0" when it has none.
func (o LaneOptions) hostPort() (host, port string) {
	if h, p, err := net.SplitHostPort(o.Host); err == nil {
		return h, p
	}
	return o.Host, "0"
}

// hostArgs are the flags of `burst host` that give a function host the same lanes.
func (o LaneOptions) hostArgs() []string {
	if o.Off {
		return nil
	}
	host, _ := o.hostPort()
	args := []string{"--lanes", "--lane-host", host}
	if o.CertFile != "" {
		args = append(args, "--lane-cert", o.CertFile, "--lane-key", o.KeyFile, "--lane-ca", o.CAFile)
	}
	return args
}

// laneFlags binds them, in the host.
func laneFlags(fs *flag.FlagSet) func() LaneOptions {
	on := fs.Bool("lanes", false, "take direct lanes")
	host := fs.String("lane-host", "", "address of TCP lanes")
	cert := fs.String("lane-cert", "", "certificate of TLS lanes")
	key := fs.String("lane-key", "", "key of --lane-cert")
	ca := fs.String("lane-ca", "", "CA of TLS lanes")
	return func() LaneOptions {
		return LaneOptions{Off: !*on, Host: *host, CertFile: *cert, KeyFile: *key, CAFile: *ca}
	}
}
