package main

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCert makes a CA and two nodes' certificates, each good for its names and
// addresses and for loopback, signed by the one CA; a second run keeps what exists.
func TestCert(t *testing.T) {
	dir := t.TempDir()
	cert := func(args ...string) (string, int) {
		var out, errOut bytes.Buffer
		code := run(t.Context(), append([]string{"cert", "--dir", dir}, args...), nil, &out, &errOut)
		return out.String() + errOut.String(), code
	}
	if out, code := cert("--host", "198.18.0.7", "gateway", "invoker-1"); code != 0 {
		t.Fatalf("cert: exit %d: %s", code, out)
	}
	before, _ := os.ReadFile(filepath.Join(dir, "gateway.pem"))
	if out, code := cert("gateway"); code != 0 || !strings.Contains(out, "kept") {
		t.Errorf("again: exit %d: %s", code, out)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "gateway.pem")); !bytes.Equal(before, after) {
		t.Error("a second run replaced the certificate")
	}
	roots := x509.NewCertPool()
	caPEM, _ := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("ca.pem holds no certificate")
	}
	for _, node := range []string{"gateway", "invoker-1"} {
		b, _ := os.ReadFile(filepath.Join(dir, node+".pem"))
		block, _ := pem.Decode(b)
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		for _, host := range []string{node, "198.18.0.7", "127.0.0.1", "localhost"} {
			opts := x509.VerifyOptions{Roots: roots, DNSName: host, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
			if _, err := c.Verify(opts); err != nil {
				t.Errorf("%s for %s: %v", node, host, err)
			}
		}
		if st, err := os.Stat(filepath.Join(dir, node+"-key.pem")); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s's key: %v", node, err)
		}
	}
	for _, bad := range [][]string{{}, {"ca"}, {"../x"}, {".hidden"}} {
		if out, code := cert(bad...); code == 0 {
			t.Errorf("cert %v: accepted: %s", bad, out)
		}
	}
	// Half a CA is an error, never a new CA: that would split the cluster.
	os.Rename(filepath.Join(dir, "ca-key.pem"), filepath.Join(t.TempDir(), "ca-key.pem"))
	if out, code := cert("invoker-2"); code == 0 || !strings.Contains(out, "ca-key.pem") {
		t.Errorf("with ca.pem but no ca-key.pem: exit %d: %s", code, out)
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "ca.pem")); !bytes.Equal(after, caPEM) {
		t.Error("the CA's certificate was replaced")
	}
	// The CA apart from the nodes' certificates: the nodes' directory gets ca.pem only.
	nodes, cas := t.TempDir(), t.TempDir()
	var out bytes.Buffer
	if code := run(t.Context(), []string{"cert", "--dir", nodes, "--ca-dir", cas, "n1"}, nil, &out, &out); code != 0 {
		t.Fatalf("cert --ca-dir: exit %d: %s", code, out.String())
	}
	for _, f := range []string{"ca.pem", "n1.pem", "n1-key.pem"} {
		if _, err := os.Stat(filepath.Join(nodes, f)); err != nil {
			t.Errorf("--dir lacks %s: %v", f, err)
		}
	}
	if _, err := os.Stat(filepath.Join(nodes, "ca-key.pem")); err == nil {
		t.Error("the CA's key is in the nodes' directory")
	}
	if _, err := os.Stat(filepath.Join(cas, "ca-key.pem")); err != nil {
		t.Errorf("--ca-dir lacks the CA's key: %v", err)
	}
}
