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
	var dir, caDir string
	var hosts []string
	var validity time.Duration
	cmd := &cobra.Command{
		Use:   "cert [--dir DIR] [--ca-dir DIR] NODE...",
		Short: "Make a cluster's TLS certificates: a CA, and one certificate per node",
		Long: `Cert keeps a certificate authority in --ca-dir (ca.pem and ca-key.pem, made the first
time; --dir unless given) and signs a certificate in --dir for each NODE, good for NODE
as a host name or address, for every --host, and for 127.0.0.1 and localhost (where a
node's function hosts reach its server): NODE.pem and NODE-key.pem, with a copy of
ca.pem. A node's NATS server uses its certificate on its client port and its routes
(--nats-tls-cert, --nats-tls-key) and checks the others' against the CA (--nats-ca).

A certificate that exists is kept: delete it and its key to make a new one. ca-key.pem
signs every node's certificate: keep it where certificates are made, not on the nodes
(give --ca-dir a directory of its own).`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, nodes []string) error {
			for _, node := range nodes {
				if filepath.Base(node) != node || node == "ca" || strings.HasPrefix(node, ".") {
					return fmt.Errorf("node %q: want a name that is a file name, other than ca", node)
				}
			}
			if caDir == "" {
				caDir = dir
			}
			for _, d := range []string{dir, caDir} {
				if err := os.MkdirAll(d, 0o755); err != nil {
					return fmt.Errorf("cert directory: %w", err)
				}
			}
			ca, caPEM, err := loadOrMakeCA(caDir, validity)
			if err != nil {
				return err
			}
			if caDir != dir {
				if err := writeFile(filepath.Join(dir, "ca.pem"), caPEM); err != nil {
					return err
				}
			}
			for _, node := range nodes {
				certFile, keyFile := filepath.Join(dir, node+".pem"), filepath.Join(dir, node+"-key.pem")
				_, certErr := os.Stat(certFile)
				_, keyErr := os.Stat(keyFile)
				switch {
				case certErr == nil && keyErr == nil:
					fmt.Fprintf(cmd.OutOrStdout(), "%s exists: kept\n", certFile)
					continue
				case certErr == nil || keyErr == nil:
					return fmt.Errorf("%s: one of %s and %s is missing: delete the other to make both anew", node, certFile, keyFile)
				}
				cert, key, err := ca.Issue(node, append([]string{node}, hosts...), validity)
				if err != nil {
					return fmt.Errorf("certificate of %s: %w", node, err)
				}
				// The key first: a certificate never stands without it.
				if err := writeFile(keyFile, key); err != nil {
					return err
				}
				if err := writeFile(certFile, cert); err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), certFile)
			}
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&dir, "dir", "certs", "directory of the nodes' certificates (and, without --ca-dir, of the CA)")
	fs.StringVar(&caDir, "ca-dir", "", "directory of the CA's certificate and key; --dir if empty")
	fs.StringSliceVar(&hosts, "host", nil, "another name or address the nodes are reached at (repeat, or separate with commas)")
	fs.DurationVar(&validity, "valid", 2*365*24*time.Hour, "how long a new certificate is valid")
	return cmd
}

// loadOrMakeCA reads the CA of dir, or makes it when neither of its files is there, and
// returns it with its certificate, PEM. One file without the other is an error: making
// a new CA then would split the cluster.
func loadOrMakeCA(dir string, validity time.Duration) (*cluster.CA, []byte, error) {
	certFile, keyFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem")
	_, certErr := os.Stat(certFile)
	_, keyErr := os.Stat(keyFile)
	if !errors.Is(certErr, fs.ErrNotExist) || !errors.Is(keyErr, fs.ErrNotExist) {
		ca, err := cluster.LoadCA(certFile, keyFile)
		if err != nil {
			return nil, nil, fmt.Errorf("the CA in %s: %w (a new one is made only where neither ca.pem nor ca-key.pem is)", dir, err)
		}
		pem, _, err := ca.PEM()
		return ca, pem, err
	}
	ca, err := cluster.NewCA("burst cluster CA", max(validity, 10*365*24*time.Hour))
	if err != nil {
		return nil, nil, err
	}
	cert, key, err := ca.PEM()
	if err != nil {
		return nil, nil, err
	}
	if err := writeFile(keyFile, key); err != nil {
		return nil, nil, err
	}
	return ca, cert, writeFile(certFile, cert)
}

// writeFile writes a certificate readable by all, or a key (a name ending in -key.pem)
// by its owner only, whatever the mode of a file it replaces.
func writeFile(path string, b []byte) error {
	mode := os.FileMode(0o644)
	if strings.HasSuffix(path, "-key.pem") {
		mode = 0o600
	}
	if err := os.WriteFile(path, b, mode); err != nil {
		return err
	}
	return os.Chmod(path, mode)
}
