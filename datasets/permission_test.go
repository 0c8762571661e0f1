package datasets_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/burstgo/burst/cluster"
	"github.com/burstgo/burst/control"
	"github.com/burstgo/burst/datasets"
)

func runServer(t *testing.T, auth *cluster.Auth) *server.Server {
	t.Helper()
	srv, err := cluster.RunServer(cluster.ServerOptions{Port: -1, StoreDir: t.TempDir(), Auth: auth})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	return srv
}

func conn(t *testing.T, srv *server.Server, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := cluster.ConnectInProcess(srv, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func store(t *testing.T, nc *nats.Conn) *datasets.Store {
	t.Helper()
	s, err := datasets.NewStore(context.Background(), nc, datasets.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A flare's connection, with the permissions the gateway gives it, reads its own
// namespace's datasets and no other's.
func TestReadPermission(t *testing.T) {
	ctx := context.Background()
	auth := cluster.NewAuth()
	auth.SetAuthorizer(func(user, password string) (control.Permissions, bool) {
		perms := control.FlarePermissions("f", user)
		perms.Subscribe = append(perms.Subscribe, "_INBOX.>")
		return perms, password == "secret"
	})
	srv := runServer(t, auth)
	s := store(t, conn(t, srv, auth.Internal()))
	for _, ns := range []string{"a", "b"} {
		if _, err := s.Put(ctx, ns, "d", bytes.NewReader([]byte("1,2\n")), 1<<20, nil); err != nil {
			t.Fatal(err)
		}
	}
	quiet := nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}) // the refused get
	nc := conn(t, srv, nats.UserInfo("a", "secret"), quiet)
	if _, err := datasets.Open(ctx, datasets.NewConn(nc), "a", "d"); err != nil {
		t.Errorf("own namespace: %v", err)
	}
	// Refused requests go unanswered: each attempt gets a second of its own.
	refused := func(what string, try func(ctx context.Context) error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		if err := try(ctx); err == nil {
			t.Errorf("%s: allowed", what)
		}
	}
	refused("open another namespace's dataset", func(ctx context.Context) error {
		_, err := datasets.Open(ctx, datasets.NewConn(nc), "b", "d")
		return err
	})
	// Nor a get of the stream's that names the subject in its body, a get by
	// sequence, a write, or a purge.
	request := func(subject, body string) func(ctx context.Context) error {
		return func(ctx context.Context) error {
			m, err := nc.RequestWithContext(ctx, subject, []byte(body))
			if err == nil && m.Header.Get("Status") != "" {
				err = fmt.Errorf("status %s", m.Header.Get("Status"))
			}
			return err
		}
	}
	refused("a direct get by body", request("$JS.API.DIRECT.GET."+datasets.Stream, `{"last_by_subj":"burst.data.b.d"}`))
	refused("a get by sequence", request("$JS.API.STREAM.MSG.GET."+datasets.Stream, `{"seq":1}`))
	refused("a purge", request("$JS.API.STREAM.PURGE."+datasets.Stream, `{"filter":"burst.data.b.>"}`))
	refused("a write", request("burst.data.a.d", "{}"))
	// The checks are not refused for another reason: the node's own user may.
	own := conn(t, srv, auth.Internal())
	for _, subject := range []string{"$JS.API.DIRECT.GET." + datasets.Stream, "$JS.API.STREAM.MSG.GET." + datasets.Stream} {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		m, err := own.RequestWithContext(ctx, subject, []byte(`{"last_by_subj":"burst.data.b.d"}`))
		cancel()
		if err != nil || m.Header.Get("Status") != "" || bytes.Contains(m.Data, []byte(`"error"`)) {
			t.Errorf("the node's own get on %s: %v %v %s", subject, err, m.Header, m.Data)
		}
	}
}
