// Package clustertest makes what tests of TLS and clusters need: a certificate authority
// of their own, certificates it signs for loopback and the addresses a test gives, as
// files, and servers routed to each other with them.
package clustertest

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/burstgo/burst/cluster"
	"github.com/nats-io/nats-server/v2/server"
)

// A CA is a test's certificate authority.
type CA struct {
	// File is the CA's certificate, PEM, for clients and servers to trust.
	File string
	dir  string
	ca   *cluster.CA
}

// NewCA makes a CA whose files live in a temporary directory of t.
func NewCA(t testing.TB) *CA {
	t.Helper()
	c, err := cluster.NewCA("burst test CA", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, _, err := c.PEM()
	if err != nil {
		t.Fatal(err)
	}
	ca := &CA{dir: t.TempDir(), ca: c}
	ca.File = ca.write(t, "ca.pem", cert)
	return ca
}

// Issue signs a certificate for 127.0.0.1, localhost and the addresses ips, good for a
// server and a client (routes present theirs both ways), and returns its certificate and
// key files.
func (ca *CA) Issue(t testing.TB, name string, ips ...net.IP) (certFile, keyFile string) {
	t.Helper()
	var hosts []string
	for _, ip := range ips {
		hosts = append(hosts, ip.String())
	}
	cert, key, err := ca.ca.Issue(name, hosts, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return ca.write(t, name+".pem", cert), ca.write(t, name+"-key.pem", key)
}

func (ca *CA) write(t testing.TB, name string, b []byte) string {
	t.Helper()
	path := filepath.Join(ca.dir, name)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// FreePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// RoutedServers starts n embedded servers with JetStream, named n0, n1, …, each routed
// over TLS, with certificates of ca, to all the others on 127.0.0.1, and shuts them down
// when the test ends. It returns them and their route URLs, in order; it does not wait
// for the routes.
func RoutedServers(t testing.TB, ca *CA, n int) ([]*server.Server, []string) {
	t.Helper()
	ports, urls := make([]int, n), make([]string, n)
	for i := range urls {
		ports[i] = FreePort(t)
		urls[i] = "nats://127.0.0.1:" + strconv.Itoa(ports[i])
	}
	servers := make([]*server.Server, n)
	for i := range servers {
		name := fmt.Sprintf("n%d", i)
		cert, key := ca.Issue(t, name)
		s, err := cluster.RunServer(cluster.ServerOptions{
			Name: name, Port: -1, StoreDir: filepath.Join(t.TempDir(), "js"),
			ClusterName: "burst", ClusterHost: "127.0.0.1", ClusterPort: ports[i],
			Routes:   slices.Delete(slices.Clone(urls), i, i+1),
			CertFile: cert, KeyFile: key, CAFile: ca.File,
		})
		if err != nil {
			t.Fatal(err)
		}
		servers[i] = s
		t.Cleanup(s.Shutdown)
	}
	return servers, urls
}
