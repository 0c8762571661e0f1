package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/burstgo/burst/cluster/clustertest"
	"github.com/burstgo/burst/control"
	"github.com/burstgo/burst/datasets"
	"github.com/burstgo/burst/functions/examples/dataset"
	"github.com/burstgo/burst/gateway"
)

// network is hosts of a test: Linux network namespaces, each with one interface on a
// bridge of the test's own, addresses 198.18.0.1, .2, ... of the benchmarking range
// (RFC 2544), routed nowhere. The bridge sits in a namespace of its own, the switch, so
// that the machine's firewall does not filter what it bridges (Docker's daemon, for
// one, drops forwarded packets in the machine's namespace). The test itself reaches the
// hosts from 198.18.0.254, its own cable to the switch.
type network struct {
	t      *testing.T
	suffix string
	hosts  []string // namespace names
	sw     string   // the switch's namespace
}

// networks counts the networks this process made, for names of their own.
var networks int

// newNetwork makes n hosts, or skips the test where it cannot (not root, no ip); with
// CI=true that is a failure.
func newNetwork(t *testing.T, n int) *network {
	t.Helper()
	_, err := exec.LookPath("ip")
	if os.Geteuid() != 0 || err != nil {
		why := "network namespaces need root and ip (apt-get install -y iproute2)"
		if os.Getenv("CI") == "true" {
			t.Fatal(why)
		}
		t.Skip(why)
	}
	networks++
	nw := &network{t: t, suffix: strconv.Itoa((os.Getpid()%10000)*10 + networks%10)}
	nw.sw = "burst-sw-" + nw.suffix
	test := "bvt" + nw.suffix
	t.Cleanup(func() {
		// Deleting a namespace takes its cables' ends away later, in the background;
		// deleting an end of each takes both at once.
		exec.Command("ip", "link", "del", test).Run()
		for i, h := range nw.hosts {
			exec.Command("ip", "-n", nw.sw, "link", "del", nw.link(i)).Run()
			exec.Command("ip", "netns", "del", h).Run()
		}
		exec.Command("ip", "netns", "del", nw.sw).Run()
	})
	nw.ip("netns", "add", nw.sw)
	nw.ip("-n", nw.sw, "link", "add", "br0", "type", "bridge")
	nw.ip("-n", nw.sw, "link", "set", "br0", "up")
	// plug connects end, in the machine's namespace, to the switch, and names its peer
	// peer.
	plug := func(end, peer string) {
		nw.ip("link", "add", end, "type", "veth", "peer", "name", peer)
		nw.ip("link", "set", end, "netns", nw.sw)
		nw.ip("-n", nw.sw, "link", "set", end, "master", "br0")
		nw.ip("-n", nw.sw, "link", "set", end, "up")
	}
	plug("bvs"+nw.suffix, test)
	nw.ip("addr", "add", "198.18.0.254/24", "dev", test)
	nw.ip("link", "set", test, "up")
	for i := 1; i <= n; i++ {
		ns := fmt.Sprintf("burst-h%d-%s", i, nw.suffix)
		nw.hosts = append(nw.hosts, ns)
		nw.ip("netns", "add", ns)
		peer := "bp" + strconv.Itoa(i) + nw.suffix
		plug(nw.link(i-1), peer)
		nw.ip("link", "set", peer, "netns", ns)
		nw.ip("-n", ns, "link", "set", peer, "name", "eth0")
		nw.ip("-n", ns, "addr", "add", nw.addr(i-1)+"/24", "dev", "eth0")
		nw.ip("-n", ns, "link", "set", "eth0", "up")
		nw.ip("-n", ns, "link", "set", "lo", "up")
	}
	return nw
}

// cut takes host i's cable out of the switch.
func (nw *network) cut(i int) { nw.ip("-n", nw.sw, "link", "set", nw.link(i), "down") }

func (nw *network) ip(args ...string) {
	nw.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		nw.t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// addr is host i's address; link is the name of its cable's end on the switch.
func (nw *network) addr(i int) string { return "198.18.0." + strconv.Itoa(i+1) }
func (nw *network) link(i int) string { return "bv" + strconv.Itoa(i+1) + nw.suffix }

// start runs `burst args...` on host i.
func (nw *network) start(i int, args ...string) *proc {
	nw.t.Helper()
	return startBinary(nw.t, "ip", append([]string{"netns", "exec", nw.hosts[i], os.Args[0]}, args...)...)
}

// TestSeveralHosts runs Burst on three hosts, each the real binary with a NATS server of
// its own routed to the others over TLS: a gateway on the first, an invoker of 4 slots on
// each of the others. Flares whose packs span the two invokers compute what they compute
// on one host (allreduce and all-to-all across the routes, and TCP lanes); cutting one invoker's cable
// fails its flare, naming it, and frees the other's slots; the rest of the cluster serves
// on, with every record (three replicas, two servers left).
func TestSeveralHosts(t *testing.T) {
	if testing.Short() {
		t.Skip("three hosts")
	}
	nw := newNetwork(t, 3)
	ca := clustertest.NewCA(t)
	node := func(i int, name string) []string {
		var routes []string
		for j := range 3 {
			if j != i {
				routes = append(routes, "nats://"+nw.addr(j)+":6222")
			}
		}
		cert, key := ca.Issue(t, name, net.ParseIP(nw.addr(i)))
		return []string{"--data", filepath.Join(t.TempDir(), name), "--nats-name", name,
			"--nats-cluster-port", "6222", "--nats-cluster-host", nw.addr(i), "--nats-routes", strings.Join(routes, ","),
			"--nats-tls-cert", cert, "--nats-tls-key", key, "--nats-ca", ca.File}
	}
	gw := node(0, "gateway")
	data := gw[1]
	api := "http://" + nw.addr(0) + ":8080"
	nw.start(0, append([]string{"gateway", "--http", nw.addr(0) + ":8080", "--nats-host", nw.addr(0)}, gw...)...)
	for i, id := range []string{"host-b", "host-c"} {
		nw.start(i+1, append([]string{"invoker", "--invoker-id", id, "--slots", "4", "--http", nw.addr(i+1) + ":8081",
			"--lane-host", nw.addr(i + 1)}, node(i+1, id)...)...)
	}
	// Beyond loopback, keys are on from the start: the gateway wrote the first one.
	var key []byte
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var err error
		if key, err = os.ReadFile(filepath.Join(data, "admin.key")); err == nil && len(key) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no admin key from the gateway: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	apiKeys.Store(api, strings.TrimSpace(string(key)))
	waitHTTP(t, api+"/readyz")
	eventuallyT(t, "both invokers", func() bool {
		return len(getJSON[struct{ Invokers []gateway.InvokerInfo }](t, api+"/invokers").Invokers) == 2
	})

	// Allreduce across the hosts: k-means in two packs of 4 (one per invoker) and in 8
	// packs of one agree.
	kmeans := func(g int) gateway.Record {
		return request[gateway.Record](t, "POST", api+"/flares?wait=true", fmt.Appendf(nil,
			`{"function":"kmeans","size":8,"granularity":%d,"input":{"k":4,"generate":{"points":20000,"seed":7},"iterations":10}}`, g), http.StatusOK)
	}
	wide, narrow := kmeans(4), kmeans(1)
	for _, rec := range []gateway.Record{wide, narrow} {
		if rec.Status != control.StatusSucceeded || rec.Comm.RemoteBytes == 0 {
			t.Fatalf("kmeans g=%d: %s %q, %d remote bytes", rec.Granularity, rec.Status, rec.Error, rec.Comm.RemoteBytes)
		}
	}
	if wide.Packs[0].Invoker == wide.Packs[1].Invoker || wide.Packs[0].Host == "" {
		t.Errorf("packs %+v: want one on each invoker, with its host", wide.Packs)
	}
	if a, b := centroids(t, wide), centroids(t, narrow); !near(a, b) {
		t.Errorf("centroids of 2 packs %v, of 8 packs %v", a, b)
	}
	// All-to-all across the hosts: TeraSort checks its own output.
	sorted := request[gateway.Record](t, "POST", api+"/flares?wait=true",
		[]byte(`{"function":"terasort","size":8,"granularity":4,"input":{"generate":{"records":200000,"seed":3}}}`), http.StatusOK)
	var total struct {
		Total struct {
			Records     int64
			Sorted      bool
			Permutation bool
		}
	}
	if sorted.Status == control.StatusSucceeded {
		json.Unmarshal(sorted.Results[0], &total)
	}
	if !total.Total.Sorted || !total.Total.Permutation || total.Total.Records != 200000 {
		t.Errorf("terasort across hosts: %s %q, %s", sorted.Status, sorted.Error, sorted.Results[0])
	}
	// Its packs sent their shares over TCP lanes between the hosts, TLS with the nodes'
	// certificates (the hosts' unix sockets are another host's to each other).
	if sorted.Comm.LaneBytes == 0 || sorted.Comm.LaneBytes > sorted.Comm.RemoteBytes {
		t.Errorf("terasort across hosts: comm %+v, want most bytes over lanes", sorted.Comm)
	}

	// A dataset, stored through the gateway, read by packs on both other hosts: the same
	// centroids as from the generator.
	var points bytes.Buffer
	if err := (dataset.Points{N: 20000, Seed: 7}).WriteCSV(&points); err != nil {
		t.Fatal(err)
	}
	request[datasets.Info](t, "PUT", api+"/datasets/points", points.Bytes(), http.StatusCreated)
	onDataset := func(size int) gateway.Record {
		return request[gateway.Record](t, "POST", api+"/flares?wait=true", fmt.Appendf(nil,
			`{"function":"kmeans","size":%d,"granularity":4,"input":{"k":4,"dataset":"points","iterations":10}}`, size), http.StatusOK)
	}
	stored := onDataset(8)
	if stored.Status != control.StatusSucceeded || stored.Packs[0].Invoker == stored.Packs[1].Invoker {
		t.Fatalf("kmeans on the dataset: %s %q on %+v", stored.Status, stored.Error, stored.Packs)
	}
	if a, b := centroids(t, stored), centroids(t, wide); !near(a, b) {
		t.Errorf("centroids from the dataset %v, from the generator %v", a, b)
	}

	// Cut host-c's cable under a flare on both invokers.
	long := postFlare(t, api, `{"function":"sleep","size":8,"granularity":4,"input":"1m"}`)
	waitRunning(t, api, long.ID)
	cut := time.Now()
	nw.cut(2)
	failed := waitEnded(t, api, long.ID)
	t.Logf("the flare failed %s after the cut: %s", time.Since(cut).Round(time.Millisecond), failed.Error)
	if failed.Status != control.StatusFailed || !strings.Contains(failed.Error, "host-c") {
		t.Errorf("flare on the cut host: %s %q", failed.Status, failed.Error)
	}
	eventuallyT(t, "host-b's slots back and host-c gone", func() bool {
		l := getJSON[struct{ Invokers []gateway.InvokerInfo }](t, api+"/invokers").Invokers
		return len(l) == 1 && l[0].ID == "host-b" && l[0].Used == 0
	})
	// The others serve on, and every record is there.
	after := request[gateway.Record](t, "POST", api+"/flares?wait=true",
		[]byte(`{"function":"kmeans","size":4,"input":{"k":4,"generate":{"points":20000,"seed":7},"iterations":10}}`), http.StatusOK)
	if after.Status != control.StatusSucceeded || after.Packs[0].Invoker != "host-b" {
		t.Errorf("after the cut: %s %q on %v", after.Status, after.Error, after.Packs)
	}
	// The dataset too, with one of its three copies gone.
	if rec := onDataset(4); rec.Status != control.StatusSucceeded || !near(centroids(t, rec), centroids(t, wide)) {
		t.Errorf("kmeans on the dataset after the cut: %s %q", rec.Status, rec.Error)
	}
	for _, rec := range []gateway.Record{wide, narrow, sorted, stored, failed, after} {
		got := getJSON[gateway.Record](t, api+"/flares/"+rec.ID)
		if got.Status != rec.Status || len(got.Workers) != rec.Size {
			t.Errorf("record %s after the cut: %s with %d workers, want %s", rec.ID, got.Status, len(got.Workers), rec.Status)
		}
	}
}

// centroids are rank 0's answer of a k-means flare.
func centroids(t *testing.T, rec gateway.Record) [][]float64 {
	t.Helper()
	var r struct{ Centroids [][]float64 }
	if err := json.Unmarshal(rec.Results[0], &r); err != nil || len(r.Centroids) == 0 {
		t.Fatalf("kmeans result %s: %v", rec.Results[0], err)
	}
	return r.Centroids
}

func near(a, b [][]float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		for j := range a[i] {
			if math.Abs(a[i][j]-b[i][j]) > 1e-9*max(1, math.Abs(a[i][j])) {
				return false
			}
		}
	}
	return true
}

func eventuallyT(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
