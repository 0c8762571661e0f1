package comm

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/burstgo/burst/cluster"
)

// TestJetStreamSurvivesServerRestart restarts the NATS server between two messages of a
// flare: with the jetstream transport the file store keeps what was sent, the
// connections reconnect, and the receiver gets both messages, once each.
func TestJetStreamSurvivesServerRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("server restart in -short mode")
	}
	dir := t.TempDir()
	srv, err := cluster.RunServer(cluster.ServerOptions{Port: -1, StoreDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	url := srv.ClientURL()
	port := srv.Addr().(*net.TCPAddr).Port
	defer func() { srv.Shutdown() }()

	flare := flareID(t)
	cfg := Config{Flare: flare, Size: 2, Granularity: 1, ChunkSize: 1000}
	var packs [2]*Pack
	for i := range packs {
		nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		if cfg.Transport, err = NewJetStreamTransport(nc, JetStreamOptions{}); err != nil {
			t.Fatal(err)
		}
		if packs[i], err = NewPack(context.Background(), cfg, i); err != nil {
			t.Fatal(err)
		}
		defer packs[i].Close()
	}
	defer cfg.Transport.EndFlare(context.Background(), flare)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sender, receiver := packs[0].Workers()[0], packs[1].Workers()[0]

	before := pattern(2500, 1) // three frames
	if err := sender.Send(ctx, 1, before); err != nil {
		t.Fatal(err)
	}
	got, err := receiver.Recv(ctx, 0)
	if err != nil || !bytes.Equal(got, before) {
		t.Fatalf("before the restart: %d bytes, %v", len(got), err)
	}

	// Restart on the same port and store; the message is sent while the server is down.
	srv.Shutdown()
	srv.WaitForShutdown()
	during := pattern(2500, 2)
	sent := make(chan error, 1)
	go func() { sent <- sender.Send(ctx, 1, during) }()
	time.Sleep(100 * time.Millisecond)
	if srv, err = cluster.RunServer(cluster.ServerOptions{Port: port, StoreDir: dir}); err != nil {
		t.Fatal(err)
	}
	if err := <-sent; err != nil {
		t.Fatalf("send across the restart: %v", err)
	}
	got, err = receiver.Recv(ctx, 0)
	if err != nil || !bytes.Equal(got, during) {
		t.Fatalf("after the restart: %d bytes, %v", len(got), err)
	}
	after := pattern(10, 3)
	if err := sender.Send(ctx, 1, after); err != nil {
		t.Fatal(err)
	}
	if got, err = receiver.Recv(ctx, 0); err != nil || !bytes.Equal(got, after) {
		t.Fatalf("next message: %q, %v", got, err)
	}
}
