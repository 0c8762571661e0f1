// Package clustertest makes what tests of TLS need: a certificate authority of their own,
// and certificates it signs for loopback and the addresses a test gives, as files.
package clustertest

import (
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/burstgo/burst/cluster"
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
