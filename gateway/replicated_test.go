package gateway

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	natscluster "github.com/burstgo/burst/cluster"
	"github.com/burstgo/burst/cluster/clustertest"
	"github.com/burstgo/burst/control"
)

// TestReplicatedReads runs a gateway on the first of three routed servers, its buckets
// in three replicas: their reads go to each stream's leader, so that what the gateway
// wrote it reads back at once. (A direct get may be answered by a follower that has not
// applied the write yet: with docker compose, a function registered was not found by a
// flare posted 10 ms later.)
func TestReplicatedReads(t *testing.T) {
	servers, _ := clustertest.RoutedServers(t, clustertest.NewCA(t), 3)
	nc, err := natscluster.ConnectInProcess(servers[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "PROBE", Subjects: []string{"probe"}, Replicas: 3, Storage: jetstream.MemoryStorage})
		return err == nil
	}, "JetStream to place three replicas")

	gw, err := New(Options{Conn: nc, Addr: "127.0.0.1:0", Exe: os.Args[0], TempDir: t.TempDir(), Replicas: 3, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		gw.Shutdown(ctx)
	})
	ctx := context.Background()
	for _, stream := range []string{"KV_" + BucketFunctions, "KV_" + BucketFlares, "KV_" + BucketResults, "KV_" + BucketLogs,
		"KV_" + BucketKeys, "KV_" + BucketNamespaces, "OBJ_" + control.PluginBucket} {
		st, err := js.Stream(ctx, stream)
		if err != nil {
			t.Fatal(err)
		}
		if cfg := st.CachedInfo().Config; cfg.AllowDirect || cfg.Replicas != 3 {
			t.Errorf("%s: %d replicas, direct gets %v; want 3 and reads from the leader", stream, cfg.Replicas, cfg.AllowDirect)
		}
	}
	c := &cluster{t: t, gw: gw, url: gw.URL()}
	plug := mustRead(t, plugin(t, "gateway/testdata/pingpong"))
	for i := range 5 {
		name := fmt.Sprintf("pp%d", i)
		call[FunctionRecord](c, "PUT", "/functions/"+name, plug, http.StatusCreated)
		if f := call[FunctionRecord](c, "GET", "/functions/"+name, nil, http.StatusOK); f.Name != name {
			t.Errorf("read back %+v", f)
		}
	}
}
