package main

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/burstgo/burst/cluster"
	"github.com/burstgo/burst/control"
	"github.com/burstgo/burst/invoker"
)

// TestCompose reads docker-compose.yml with compose-spec's own loader, as docker compose
// does (there is no Docker engine here to run it), and holds it to the binary: every
// command and flag is burst's and parses, every health check asks a route that answers
// 200, the routes join every node to every other on its cluster port, the certificates
// named are those the certs service makes, each node keeps its data in a volume of its
// own, and the published ports are the nodes' HTTP ports.
func TestCompose(t *testing.T) {
	project, err := loader.LoadWithContext(t.Context(), types.ConfigDetails{
		WorkingDir:  "../..",
		ConfigFiles: []types.ConfigFile{{Filename: "../../docker-compose.yml"}},
		Environment: types.Mapping{},
	}, func(o *loader.Options) { o.SetProjectName("burst", true) })
	if err != nil {
		t.Fatal(err)
	}
	dockerfile, err := os.ReadFile("../../Dockerfile")
	if err != nil || !strings.Contains(string(dockerfile), `ENTRYPOINT ["burst"]`) {
		t.Fatalf("Dockerfile: %v; want burst as its entrypoint", err)
	}

	// Each service's command, parsed by burst's own command tree.
	type node struct {
		name  string
		cmd   *cobra.Command
		flags map[string]string
		args  []string
	}
	nodes := map[string]*node{}
	for name, svc := range project.Services {
		if svc.Image != "burst" {
			t.Errorf("%s: image %q, want the burst image the Dockerfile builds", name, svc.Image)
		}
		var cfg config
		root := newRootCmd(&cfg)
		cmd, rest, err := root.Find(svc.Command)
		if err != nil || cmd == root {
			t.Errorf("%s: %q is no burst command: %v", name, svc.Command, err)
			continue
		}
		if err := cmd.ParseFlags(rest); err != nil {
			t.Errorf("%s: burst %s: %v", name, cmd.Name(), err)
			continue
		}
		n := &node{name: name, cmd: cmd, flags: map[string]string{}, args: cmd.Flags().Args()}
		cmd.Flags().Visit(func(f *pflag.Flag) { n.flags[f.Name] = f.Value.String() })
		nodes[name] = n
	}
	certs := nodes["certs"]
	if certs == nil || certs.cmd.Name() != "cert" || project.Services["certs"].Build == nil {
		t.Fatalf("no certs service that builds the image and runs burst cert")
	}
	// The CA's key stays with the certs service: in a volume no node mounts.
	caVolume := ""
	for _, v := range project.Services["certs"].Volumes {
		if v.Target == certs.flags["ca-dir"] {
			caVolume = v.Source
		}
	}
	if caVolume == "" || certs.flags["ca-dir"] == certs.flags["dir"] {
		t.Errorf("the certs service keeps the CA in --dir or in no volume of its own (--ca-dir=%q)", certs.flags["ca-dir"])
	}
	for name, svc := range project.Services {
		for _, v := range svc.Volumes {
			if name != "certs" && v.Source == caVolume {
				t.Errorf("%s mounts %s, the volume of the CA's key", name, caVolume)
			}
		}
	}
	made := func(node, file string) bool {
		return slices.Contains(certs.args, node) && (file == certs.flags["dir"]+"/"+node+".pem" || file == certs.flags["dir"]+"/"+node+"-key.pem")
	}

	var servers []*node
	for name, n := range nodes {
		if n == certs {
			continue
		}
		svc := project.Services[name]
		servers = append(servers, n)
		// Certificates: the node's own, which the certs service makes for its name (the
		// name the others route to), and the CA's certificate, from its volume, read-only.
		if n.flags["nats-tls-cert"] != certs.flags["dir"]+"/"+name+".pem" || !made(name, n.flags["nats-tls-cert"]) ||
			n.flags["nats-tls-key"] != certs.flags["dir"]+"/"+name+"-key.pem" || !made(name, n.flags["nats-tls-key"]) ||
			n.flags["nats-ca"] != certs.flags["dir"]+"/ca.pem" {
			t.Errorf("%s: --nats-tls-cert=%s --nats-tls-key=%s --nats-ca=%s: want its own certificate and key, made by the certs service, and its ca.pem",
				name, n.flags["nats-tls-cert"], n.flags["nats-tls-key"], n.flags["nats-ca"])
		}
		if dep, ok := svc.DependsOn["certs"]; !ok || dep.Condition != types.ServiceConditionCompletedSuccessfully {
			t.Errorf("%s: starts before its certificates are made", name)
		}
		// Data: a volume of its own at --data; the certificates' volume read-only.
		var data, certVol bool
		for _, v := range svc.Volumes {
			if _, ok := project.Volumes[v.Source]; v.Type != types.VolumeTypeVolume || !ok {
				t.Errorf("%s: volume %q is not a named volume of the file", name, v.Source)
			}
			switch {
			case v.Target == n.flags["data"]:
				data = v.Source == name+"-data"
			case v.Source == "certs":
				certVol = v.ReadOnly && v.Target == certs.flags["dir"]
			}
		}
		if !data || !certVol {
			t.Errorf("%s: its data (--data=%s) in a volume of its own %v, the certificates read-only at %s %v",
				name, n.flags["data"], data, certs.flags["dir"], certVol)
		}
		// Health: a route of the node's HTTP listener that answers 200 when it is ready.
		test := svc.HealthCheck.Test
		if len(test) < 2 || test[0] != "CMD" {
			t.Errorf("%s: health check %q, want CMD and a URL", name, test)
			continue
		}
		u, err := url.Parse(test[len(test)-1])
		if err != nil || u.Port() != port(n.flags["http"]) {
			t.Errorf("%s: health check %q is not on its --http %s", name, test, n.flags["http"])
			continue
		}
		if got := probe(t, n.cmd.Name(), u.Path); got != http.StatusOK {
			t.Errorf("%s: health check %s answers %d", name, u.Path, got)
		}
		for _, p := range svc.Ports {
			// Plain HTTP carries keys: published on the Docker host's loopback only.
			if p.Target != portNumber(t, n.flags["http"]) || p.HostIP != "127.0.0.1" {
				t.Errorf("%s: publishes %s:%s:%d, want its HTTP port on 127.0.0.1", name, p.HostIP, p.Published, p.Target)
			}
		}
	}
	// Routes: every server to every other, on their cluster ports; names unique.
	names := map[string]bool{}
	for _, n := range servers {
		if names[n.flags["nats-name"]] || n.flags["nats-name"] == "" {
			t.Errorf("%s: NATS server name %q is not unique", n.name, n.flags["nats-name"])
		}
		names[n.flags["nats-name"]] = true
		var want []string
		for _, o := range servers {
			if o != n {
				want = append(want, "nats://"+o.name+":"+o.flags["nats-cluster-port"])
			}
		}
		got := strings.Split(strings.Trim(n.flags["nats-routes"], "[]"), ",")
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s: routes %v, want %v", n.name, got, want)
		}
	}
	if len(servers) < 3 {
		t.Errorf("%d NATS servers: three keep records through the loss of one", len(servers))
	}
}

func port(addr string) string {
	m := regexp.MustCompile(`:(\d+)$`).FindStringSubmatch(addr)
	if m == nil {
		return ""
	}
	return m[1]
}

func portNumber(t *testing.T, addr string) uint32 {
	n, err := strconv.ParseUint(port(addr), 10, 16)
	if err != nil {
		t.Fatalf("no port in %q", addr)
	}
	return uint32(n)
}

// probe asks path of a real gateway (`burst gateway`, as `burst serve` runs it) or a
// real invoker's HTTP handler, and returns the status.
func probe(t *testing.T, command, path string) int {
	t.Helper()
	switch command {
	case "gateway":
		url, stop := serve(t, t.TempDir())
		defer stop()
		resp, err := http.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	case "invoker":
		srv, err := cluster.RunServer(cluster.ServerOptions{Port: -1})
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Shutdown()
		nc, err := cluster.ConnectInProcess(srv)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		inv, err := invoker.New(invoker.Options{ID: "probe", Conn: nc, Isolation: control.IsolationNone, CacheDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		if err := inv.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		defer inv.Shutdown(t.Context())
		rec := httptest.NewRecorder()
		inv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		return rec.Code
	}
	t.Fatalf("no probe for burst %s", command)
	return 0
}
