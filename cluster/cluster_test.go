package cluster_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/burstgo/burst/cluster"
	"github.com/burstgo/burst/cluster/clustertest"
)

// TestThreeServers routes three embedded servers over TLS, as three nodes would: a
// message crosses from one to another, a bucket of three replicas keeps every value and
// takes new ones with one server gone, and a server without a certificate of the CA is
// not let into the cluster.
func TestThreeServers(t *testing.T) {
	ca := clustertest.NewCA(t)
	servers, urls := clustertest.RoutedServers(t, ca, 3)
	for _, s := range servers {
		waitFor(t, "the routes", func() bool { return s.NumRoutes() >= 2 })
	}
	conns := make([]*nats.Conn, 3)
	for i, s := range servers {
		nc, err := cluster.ConnectInProcess(s)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		conns[i] = nc
	}

	// Core NATS across the routes.
	sub, err := conns[2].SubscribeSync("burst.test")
	if err != nil {
		t.Fatal(err)
	}
	conns[2].Flush()
	waitFor(t, "the interest to reach n0", func() bool {
		conns[0].Publish("burst.test", []byte("over the route"))
		m, err := sub.NextMsg(100 * time.Millisecond)
		return err == nil && string(m.Data) == "over the route"
	})

	// JetStream, three replicas.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	js, _ := jetstream.New(conns[0])
	var kv jetstream.KeyValue
	waitFor(t, "JetStream's cluster", func() bool {
		// Each try its own deadline: a request made before the cluster has a leader
		// goes unanswered.
		try, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		kv, err = js.CreateKeyValue(try, jetstream.KeyValueConfig{Bucket: "records", Replicas: 3, Storage: jetstream.FileStorage})
		return err == nil
	})
	for i := range 10 {
		if _, err := kv.Put(ctx, fmt.Sprint("k", i), []byte(fmt.Sprint("v", i))); err != nil {
			t.Fatal(err)
		}
	}
	servers[2].Shutdown()
	js1, _ := jetstream.New(conns[1])
	var kv1 jetstream.KeyValue
	waitFor(t, "the bucket with one server gone", func() bool {
		try, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		kv1, err = js1.KeyValue(try, "records")
		return err == nil
	})
	for i := range 10 {
		var e jetstream.KeyValueEntry
		waitFor(t, "a value with one server gone", func() bool {
			try, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			e, err = kv1.Get(try, fmt.Sprint("k", i))
			return err == nil
		})
		if string(e.Value()) != fmt.Sprint("v", i) {
			t.Errorf("k%d = %q", i, e.Value())
		}
	}
	waitFor(t, "a new value with one server gone", func() bool {
		try, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_, err := kv1.Put(try, "after", []byte("the loss"))
		return err == nil
	})

	// A server whose certificate another CA signed is refused as a route, though it
	// trusts the cluster's CA itself: n0 checks the certificate it is shown.
	other := clustertest.NewCA(t)
	cert, key := other.Issue(t, "stranger")
	before := servers[0].NumRoutes()
	s, err := cluster.RunServer(cluster.ServerOptions{
		Name: "stranger", Port: -1, ClusterName: "burst", ClusterHost: "127.0.0.1", ClusterPort: clustertest.FreePort(t),
		Routes: urls[:1], CertFile: cert, KeyFile: key, CAFile: ca.File,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown()
	time.Sleep(2 * time.Second)
	if n, after := s.NumRoutes(), servers[0].NumRoutes(); n != 0 || after != before {
		t.Errorf("a server of another CA has %d routes; n0 went from %d to %d", n, before, after)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestTLS: a server with a certificate takes TLS clients that trust its CA, refuses
// plain ones, and routes to another over TLS with certificates both ways: a message
// crosses the route.
func TestTLS(t *testing.T) {
	ca := clustertest.NewCA(t)
	cert, key := ca.Issue(t, "node")
	a, err := cluster.RunServer(cluster.ServerOptions{Port: -1, CertFile: cert, KeyFile: key, CAFile: ca.File, ClusterName: "c", ClusterHost: "127.0.0.1", ClusterPort: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Shutdown()
	route := fmt.Sprintf("nats://127.0.0.1:%d", a.ClusterAddr().Port)
	b, err := cluster.RunServer(cluster.ServerOptions{Port: -1, CertFile: cert, KeyFile: key, CAFile: ca.File, ClusterName: "c", ClusterHost: "127.0.0.1", ClusterPort: -1, Routes: []string{route}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Shutdown()

	if nc, err := nats.Connect(a.ClientURL(), nats.MaxReconnects(0)); err == nil {
		nc.Close()
		t.Error("a client that does not trust the CA connected")
	}
	connect := func(s *server.Server) *nats.Conn {
		nc, err := nats.Connect(s.ClientURL(), nats.RootCAs(ca.File), nats.MaxReconnects(0))
		if err != nil {
			t.Fatal(err)
		}
		if !nc.TLSRequired() {
			t.Error("the connection is not TLS")
		}
		return nc
	}
	na, nb := connect(a), connect(b)
	defer na.Close()
	defer nb.Close()
	sub, _ := nb.SubscribeSync("x")
	nb.Flush()
	deadline := time.Now().Add(10 * time.Second)
	for {
		na.Publish("x", []byte("over the route"))
		if m, err := sub.NextMsg(100 * time.Millisecond); err == nil && string(m.Data) == "over the route" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no message crossed the TLS route")
		}
	}
}
