package main

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"
)

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name    string
		environ []string
		check   func(c config) bool
	}{
		{"defaults", nil, func(c config) bool {
			return c.HTTPAddr == "127.0.0.1:8080" && c.DataDir == "./burst-data" && c.NATSPort == 4222 &&
				c.NATSURL == "" && c.Slots == 16384 && c.ShutdownTimeout == 30*time.Second && c.FlareTimeout == 5*time.Minute
		}},
		{"environment", []string{"BURST_HTTP_ADDR=:9000", "BURST_DATA_DIR=/d", "BURST_NATS_PORT=-1",
			"BURST_NATS_URL=nats://h:4222", "BURST_INVOKER_SLOTS=12", "BURST_NATS_ROUTES=nats://a:1,nats://b:2", "HTTP_ADDR=:1"},
			func(c config) bool {
				return c.HTTPAddr == ":9000" && c.DataDir == "/d" && c.NATSPort == -1 && c.NATSURL == "nats://h:4222" &&
					c.Slots == 12 && len(c.Routes) == 2
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := loadConfig(tt.environ)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(c) {
				t.Errorf("config %+v", c)
			}
		})
	}
	if _, err := loadConfig([]string{"BURST_INVOKER_SLOTS=many"}); err == nil || !strings.Contains(err.Error(), "BURST_INVOKER_SLOTS") {
		t.Errorf("bad slots: %v", err)
	}
}

func TestFlagsOverrideEnvironment(t *testing.T) {
	cfg, err := loadConfig([]string{"BURST_HTTP_ADDR=:9000", "BURST_INVOKER_SLOTS=12", "BURST_DATA_DIR=/env"})
	if err != nil {
		t.Fatal(err)
	}
	root := newRootCmd(&cfg)
	serve, _, err := root.Find([]string{"serve"})
	if err != nil {
		t.Fatal(err)
	}
	if err := serve.ParseFlags([]string{"--http", ":7000", "--slots", "5", "--nats-port", "-1"}); err != nil {
		t.Fatal(err)
	}
	if cfg.HTTPAddr != ":7000" || cfg.Slots != 5 || cfg.NATSPort != -1 || cfg.DataDir != "/env" {
		t.Errorf("after flags: %+v", cfg)
	}
}

func TestConfigCheck(t *testing.T) {
	good, _ := loadConfig(nil)
	tests := []struct {
		name string
		edit func(c *config)
	}{
		{"no slots", func(c *config) { c.Slots = 0 }},
		{"bad port", func(c *config) { c.NATSPort = 70000 }},
		{"no data dir", func(c *config) { c.DataDir = "" }},
		{"no flare timeout", func(c *config) { c.FlareTimeout = 0 }},
		{"retention shorter than a flare may run", func(c *config) { c.Retention = time.Hour }},
		// Without a route port of its own, the embedded server would ignore the routes.
		{"routes without a cluster port", func(c *config) { c.Routes = []string{"nats://10.0.0.2:6222"} }},
		// A route port without certificates checked against a CA takes any server.
		{"routes without TLS", func(c *config) { c.ClusterPort = 6222 }},
		{"routes without a CA", func(c *config) { c.ClusterPort, c.NATSTLSCert, c.NATSTLSKey = 6222, "c.pem", "k.pem" }},
		{"a certificate without its key", func(c *config) { c.NATSTLSCert = "c.pem" }},
		{"auth of another kind", func(c *config) { c.Auth = "sometimes" }},
		{"replicas beyond five", func(c *config) { c.Replicas = 7 }},
		// The cluster speaks TLS, and its lanes would not.
		{"TCP lanes in a TLS cluster without a certificate", func(c *config) { c.LaneHost, c.NATSCA = "10.0.0.2", "ca.pem" }},
	}
	if err := good.check(); err != nil {
		t.Fatalf("defaults refused: %v", err)
	}
	routed := good
	routed.ClusterPort, routed.NATSTLSCert, routed.NATSTLSKey, routed.NATSCA = 6222, "c.pem", "k.pem", "ca.pem"
	if err := routed.check(); err != nil {
		t.Errorf("routes with TLS refused: %v", err)
	}
	for _, tt := range tests {
		c := good
		tt.edit(&c)
		if err := c.check(); err == nil {
			t.Errorf("%s: accepted", tt.name)
		}
	}
	// Replicas: three with three servers (this one and two routes), else one.
	for _, tc := range []struct {
		edit func(c *config)
		want int
	}{
		{func(c *config) {}, 1},
		{func(c *config) { c.Routes = []string{"nats://b:6222"} }, 1},
		{func(c *config) { c.Routes = []string{"nats://b:6222", "nats://c:6222"} }, 3},
		{func(c *config) { c.Routes, c.Replicas = []string{"nats://b:6222", "nats://c:6222"}, 1 }, 1},
	} {
		c := routed
		tc.edit(&c)
		if got := c.replicas(); got != tc.want {
			t.Errorf("%d routes, --replicas %d: %d replicas, want %d", len(c.Routes), c.Replicas, got, tc.want)
		}
	}
	// Lanes: on by default, on this host only; TCP at --lane-host, TLS with the node's
	// certificate in a TLS cluster.
	if o := good.lanes(); o.Off || o.Host != "" || o.CertFile != "" {
		t.Errorf("default lanes %+v", o)
	}
	routed.LaneHost = "10.0.0.2:6300"
	if o := routed.lanes(); o.Host != "10.0.0.2:6300" || o.CertFile != "c.pem" || o.KeyFile != "k.pem" || o.CAFile != "ca.pem" {
		t.Errorf("lanes of a TLS node %+v", o)
	}
	for _, bad := range []config{{LogLevel: "loud", LogFormat: "text"}, {LogLevel: "info", LogFormat: "xml"}} {
		if _, err := bad.logger(io.Discard); err == nil {
			t.Errorf("logger %+v accepted", bad)
		}
	}
}

// TestInvokerWays: an invoker joins a server or embeds one routed to the others, and
// says so when given both or neither.
func TestInvokerWays(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "give --nats"},
		{[]string{"--nats", "nats://a:4222", "--nats-cluster-port", "6222"}, "not both"},
		{[]string{"--nats-cluster-port", "6222"}, "--nats-routes"},
	} {
		var errOut bytes.Buffer
		code := run(t.Context(), append([]string{"invoker", "--data", t.TempDir(), "--http", ""}, tc.args...), nil, io.Discard, &errOut)
		if code == 0 || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("invoker %v: exit %d, %q; want an error naming %q", tc.args, code, errOut.String(), tc.want)
		}
	}
	var out bytes.Buffer
	if code := run(t.Context(), []string{"gateway", "--help"}, nil, &out, io.Discard); code != 0 {
		t.Fatalf("gateway --help: exit %d", code)
	}
	for _, want := range []string{"--nats-cluster-port int", "--nats-routes strings", "--nats-name string", "--replicas int"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("gateway help does not name %q", want)
		}
	}
}
