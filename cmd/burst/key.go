package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/burstgo/burst/client"
	"github.com/burstgo/burst/control"
	"github.com/burstgo/burst/gateway"
)

func newKeyCmd(cfg *config) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "key",
		Short: "Make, list and revoke API keys (an admin key's work)",
		Long: `Key manages the gateway's API keys. A key is shown once, when it is made; the gateway
keeps only its hash. Roles, each with what the one before may do: reader (read
functions, flares, logs, results, invokers), runner (and run and cancel flares),
developer (and upload and delete functions), admin (and manage keys). An invoker key is
not for the API: it is the join key with which invoker ID connects to the closed NATS
bus (burst invoker --invoker-id ID --credentials FILE).

While the gateway listens on loopback and no key exists, requests need none: the first
key must be an admin key, and from then on every request needs one.`,
	}
	api := clientFlags(cmd, cfg)

	var req gateway.KeyRequest
	var role string
	var expires time.Duration
	var asJSON bool
	create := &cobra.Command{
		Use:   "create --role ROLE",
		Short: "Make a key and print it (shown this once)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req.Role, req.ExpiresIn = gateway.Role(role), control.Duration(expires)
			c, err := api()
			if err != nil {
				return err
			}
			k, err := c.CreateKey(cmd.Context(), req)
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(k)
			}
			fmt.Fprintln(cmd.OutOrStdout(), k.Secret)
			fmt.Fprintf(cmd.ErrOrStderr(), "made %s key %s (%s); it is shown this once: keep it\n", k.Role, k.ID, k.Name)
			return nil
		},
	}
	create.Flags().StringVar(&role, "role", "", "reader, runner, developer, admin, or invoker (a join key for the NATS bus)")
	create.Flags().StringVar(&req.Invoker, "invoker", "", "the id of the invoker a join key is for (role invoker)")
	create.Flags().StringVar(&req.Namespace, "namespace", "", "the key's namespace; empty means yours (only the default namespace's admins make keys in others)")
	create.Flags().StringVar(&req.Name, "name", "", "a name to tell the key by; empty means the role")
	create.Flags().DurationVar(&expires, "expires", 0, "the key's life, e.g. 720h; 0 means it does not expire")
	create.Flags().BoolVar(&asJSON, "json", false, "print the key's record with the key, as JSON")
	create.MarkFlagRequired("role")

	var lsJSON bool
	ls := &cobra.Command{
		Use:   "ls",
		Short: "List the keys (never the keys themselves)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := api()
			if err != nil {
				return err
			}
			keys, err := c.Keys(cmd.Context())
			if err != nil {
				return err
			}
			if lsJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(keys)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tROLE\tNAMESPACE\tCREATED\tEXPIRES\tLAST USED")
			for _, k := range keys {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Name, k.Role, k.Namespace,
					k.Created.Format(time.RFC3339), when(k.Expires, "never"), when(k.LastUsed, "-"))
			}
			return tw.Flush()
		},
	}
	ls.Flags().BoolVar(&lsJSON, "json", false, "print the records as JSON")

	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a key; it fails from the moment this returns",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := api()
			if err != nil {
				return err
			}
			if err := c.RevokeKey(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "revoked key %s\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(create, ls, revoke)
	return cmd
}

// newClient is a client of the API that cfg names, trusting cfg.CA when it is set.
func newClient(cfg config) (*client.Client, error) {
	c := &client.Client{URL: cfg.API, Key: cfg.Key}
	if cfg.CA != "" {
		pem, err := os.ReadFile(cfg.CA)
		if err != nil {
			return nil, fmt.Errorf("--ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca: %s holds no PEM certificate", cfg.CA)
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		c.HTTP = &http.Client{Transport: tr}
	}
	return c, nil
}

func when(t *time.Time, none string) string {
	if t == nil {
		return none
	}
	return t.Format(time.RFC3339)
}
