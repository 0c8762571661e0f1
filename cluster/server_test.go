package cluster

import (
	"net"
	"strings"
	"testing"
	"time"
)

// TestPortTaken starts a server on a port another program holds: it fails at once,
// saying why, rather than after the ten seconds it may take to become ready.
func TestPortTaken(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	start := time.Now()
	s, err := RunServer(ServerOptions{Port: port})
	if err == nil {
		s.Shutdown()
		t.Fatal("a server started on a port that is taken")
	}
	if !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("error %q, want the cause", err)
	}
	t.Logf("failed after %s: %v", time.Since(start), err)
}

func TestRunServer(t *testing.T) {
	s, err := RunServer(ServerOptions{Port: -1, StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown()
	nc, err := ConnectInProcess(s)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := nc.Request("$JS.API.INFO", nil, 10*time.Second); err != nil {
		t.Errorf("JetStream: %v", err)
	}
}
