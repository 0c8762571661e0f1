package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/burstgo/burst/cluster"
)

// newCertCmd is `burst cert`: the TLS certificates of a cluster's NATS servers, for
// hosts without a PKI of their own (docker-compose.yml uses it).
func newCertCmd() *cobra.Command {
	var dir string
	var hosts []string
	var validity time.Duration
	cmd := &cobra.Command{
		Use:   "cert [--dir DIR] NODE...",
		Short: "Make a cluster's TLS certificates: a CA, and one certificate per node",
		Long: `Cert keeps a certificate authority in --dir (ca.pem and ca-key.pem, made the first
time) and signs a certificate for each NODE, good for NODE as a host name or address,
for every --host, and for 127.0.0.1 and localhost: NODE.pem and NODE-key.pem. A node's
NATS server uses its certificate on its client port and its routes (--nats-tls-cert,
--nats-tls-key) and checks the others' against the CA (--nats-ca).

A certificate that exists is kept: delete it to make a new one. ca-key.pem signs every
node's certificate: keep it where certificates are made, not on the nodes.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, nodes []string) error {
			for _, node := range nodes {
				if filepath.Base(node) != node || node == "ca" || strings.HasPrefix(node, ".") {
					return fmt.Errorf("node %q: want a name that is a file name, other than ca", node)
				}
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return fmt.Errorf("cert directory: %w", err)
			}
			ca, err := loadOrMakeCA(dir, validity)
			if err != nil {
				return err
			}
			for _, node := range nodes {
				certFile, keyFile := filepath.Join(dir, node+".pem"), filepath.Join(dir, node+"-key.pem")
				if _, err := os.Stat(certFile); err == nil {
					fmt.Fprintf(cmd.OutOrStdout(), "%s exists: kept\n", certFile)
					continue
				}
				cert, key, err := ca.Issue(node, append([]string{node}, hosts...), validity)
				if err != nil {
					return fmt.Errorf("certificate of %s: %w", node, err)
				}
				if err := writeFiles(map[string][]byte{keyFile: key, certFile: cert}); err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), certFile)
			}
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&dir, "dir", "certs", "directory of the CA and the certificates")
	fs.StringSliceVar(&hosts, "host", nil, "another name or address the nodes are reached at (repeat, or separate with commas)")
	fs.DurationVar(&validity, "valid", 2*365*24*time.Hour, "how long a new certificate is valid")
	return cmd
}

// loadOrMakeCA reads the CA of dir, or makes it.
func loadOrMakeCA(dir string, validity time.Duration) (*cluster.CA, error) {
	certFile, keyFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem")
	ca, err := cluster.LoadCA(certFile, keyFile)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return ca, err
	}
	if ca, err = cluster.NewCA("burst cluster CA", max(validity, 10*365*24*time.Hour)); err != nil {
		return nil, err
	}
	cert, key, err := ca.PEM()
	if err != nil {
		return nil, err
	}
	return ca, writeFiles(map[string][]byte{keyFile: key, certFile: cert})
}

// writeFiles writes each file, keys readable by their owner only; a certificate
// (not ending in -key.pem) by all.
func writeFiles(files map[string][]byte) error {
	for path, b := range files {
		mode := os.FileMode(0o644)
		if strings.HasSuffix(path, "-key.pem") {
			mode = 0o600
		}
		if err := os.WriteFile(path, b, mode); err != nil {
			return err
		}
	}
	return nil
}
