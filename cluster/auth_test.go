package cluster

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/burstgo/burst/control"
)

// TestAuth: a closed server refuses anonymous connections and wrong passwords; its own user may do everything; another user what the Authorizer
// says and nothing more; Disconnect ends a revocable user's connections.
func TestAuth(t *testing.T) {
	a := NewAuth()
	s, err := RunServer(ServerOptions{Port: -1, Auth: a})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown()
	refused := func(what string, opts ...nats.Option) {
		t.Helper()
		nc, err := nats.Connect(s.ClientURL(), append(opts, nats.MaxReconnects(0))...)
		if err == nil {
			nc.Close()
			t.Errorf("%s: connected", what)
		} else if !errors.Is(err, nats.ErrAuthorization) {
			t.Errorf("%s: %v, want an authorization error", what, err)
		}
	}
	refused("anonymous")
	refused("a wrong internal password", nats.UserInfo(InternalUser, "guess"))
	refused("a user before the authorizer is set", nats.UserInfo("alice", "secret"))
	own, err := ConnectInProcess(s, a.Internal())
	if err != nil {
		t.Fatal(err)
	}
	defer own.Close()
	a.SetAuthorizer(func(user, password string) (control.Permissions, bool) {
		if user != "alice" || password != "secret" {
			return control.Permissions{}, false
		}
		return control.Permissions{Publish: []string{"alice.>"}, Subscribe: []string{"alice.>", "_INBOX.>"}, Revocable: true}, true
	})
	refused("a wrong password", nats.UserInfo("alice", "guess"))
	errs := make(chan error, 8)
	alice, err := nats.Connect(s.ClientURL(), nats.UserInfo("alice", "secret"), nats.MaxReconnects(0),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Close()

	// Alice publishes on her subjects, and not on others'.
	sub, _ := own.SubscribeSync(">")
	own.Flush()
	alice.Publish("alice.x", []byte("mine"))
	alice.Publish("bob.x", []byte("not mine"))
	alice.Flush()
	if m, err := sub.NextMsg(time.Second); err != nil || m.Subject != "alice.x" {
		t.Fatalf("first message %v %v, want alice.x", m, err)
	}
	if m, err := sub.NextMsg(100 * time.Millisecond); err == nil {
		t.Errorf("alice published on %s", m.Subject)
	}
	// Nor may she listen to them.
	alice.SubscribeSync("bob.>")
	select {
	case err := <-errs:
		if !errors.Is(err, nats.ErrPermissionViolation) {
			t.Errorf("async error %v, want a permission violation", err)
		}
	case <-time.After(2 * time.Second):
		t.Error("subscribing to bob.> raised no permission violation")
	}

	closed := make(chan struct{})
	alice.SetClosedHandler(func(*nats.Conn) { close(closed) })
	a.Disconnect("alice")
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Error("Disconnect did not end alice's connection")
	}
}

// TestDisconnectWhileAuthorizing: a Disconnect of the user while its connection is being
// authorized (a flare ending as its host connects) is not missed: the connection is
// authorized again, and refused.
func TestDisconnectWhileAuthorizing(t *testing.T) {
	a := NewAuth()
	s, err := RunServer(ServerOptions{Port: -1, Auth: a})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown()
	var mu sync.Mutex
	ended := false
	a.SetAuthorizer(func(user, password string) (control.Permissions, bool) {
		mu.Lock()
		defer mu.Unlock()
		if ended {
			return control.Permissions{}, false
		}
		// The flare ends while this connection is let in.
		ended = true
		a.Disconnect(user)
		return control.Permissions{Subscribe: []string{"x"}, Revocable: true}, true
	})
	nc, err := nats.Connect(s.ClientURL(), nats.UserInfo("flare:f", "credential"), nats.MaxReconnects(0))
	if err == nil {
		nc.Close()
		t.Fatal("a connection authorized across its user's Disconnect got in")
	}
	if !errors.Is(err, nats.ErrAuthorization) {
		t.Errorf("%v, want an authorization error", err)
	}
}

func TestRoutesNeedTLS(t *testing.T) {
	s, err := RunServer(ServerOptions{Port: -1, ClusterName: "c", ClusterHost: "127.0.0.1", ClusterPort: -1})
	if err == nil {
		s.Shutdown()
		t.Fatal("routes without TLS started")
	}
	if !strings.Contains(err.Error(), "TLS") {
		t.Errorf("error %q does not say why", err)
	}
}
