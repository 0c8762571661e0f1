package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/burstgo/burst/client"
	"github.com/burstgo/burst/cluster"
	"github.com/burstgo/burst/control"
	"github.com/burstgo/burst/functions/examples"
	"github.com/burstgo/burst/gateway"
	"github.com/burstgo/burst/invoker"
)

// serve runs a whole cluster in this process (an embedded server, an invoker with the
// example apps, a gateway) for the test, and returns a client of it.
func serve(t *testing.T) *client.Client {
	t.Helper()
	dir := t.TempDir()
	srv, err := cluster.RunServer(cluster.ServerOptions{Port: -1, StoreDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	invConn, err := cluster.ConnectInProcess(srv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(invConn.Close)
	// The built-ins are enough: no function hosts (this test binary is no burst).
	inv, err := invoker.New(invoker.Options{Conn: invConn, Slots: 64, CacheDir: dir, Functions: examples.Builtins(),
		Isolation: control.IsolationNone})
	if err != nil {
		t.Fatal(err)
	}
	if err := inv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inv.Shutdown(context.Background()) })
	gwConn, err := cluster.ConnectInProcess(srv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gwConn.Close)
	gw, err := gateway.New(gateway.Options{Addr: "127.0.0.1:0", Conn: gwConn, TempDir: dir, Grace: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Shutdown(context.Background()) })
	c := &client.Client{URL: gw.URL()}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if invs, err := c.Invokers(t.Context()); err == nil && len(invs) == 1 {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatal("the invoker did not join")
		}
	}
}

func ptr[T any](v T) *T { return &v }

// TestClient drives the whole API through the client: functions, flares, results,
// logs, cancel, the list, and the API's errors as *APIError.
func TestClient(t *testing.T) {
	c := serve(t)
	ctx := t.Context()
	fns, err := c.Functions(ctx)
	if err != nil || len(fns) == 0 {
		t.Fatalf("functions %v %v", fns, err)
	}
	var apiErr *client.APIError
	if _, err := c.Function(ctx, "nope"); !errors.As(err, &apiErr) || apiErr.Status != http.StatusNotFound || apiErr.Code != gateway.CodeUnknownFunction {
		t.Errorf("an unknown function: %v", err)
	}
	// PushFunction is tested through `burst fn push` (cmd/burst): a plugin's check needs
	// the burst binary, which this test binary is not.
	if _, err := c.RunFlare(ctx, gateway.FlareRequest{Function: "hello", Size: ptr(2), Granularity: ptr(3)}, true); !errors.As(err, &apiErr) || apiErr.Status != http.StatusBadRequest {
		t.Errorf("a bad flare: %v", err)
	}

	rec, err := c.RunFlare(ctx, gateway.FlareRequest{Function: "hello", Size: ptr(4), Granularity: ptr(2), Input: json.RawMessage(`{"x":1}`)}, true)
	if err != nil || rec.Status != control.StatusSucceeded || len(rec.Results) != 4 {
		t.Fatalf("hello: %+v %v", rec, err)
	}
	got, err := c.Flare(ctx, rec.ID)
	if err != nil || got.ID != rec.ID || got.Status != control.StatusSucceeded {
		t.Errorf("flare: %+v %v", got, err)
	}
	res, err := c.Results(ctx, rec.ID)
	if err != nil || len(res.Results) != 4 {
		t.Errorf("results: %+v %v", res, err)
	}
	if _, err := c.Logs(ctx, rec.ID, 1); err != nil {
		t.Errorf("logs: %v", err)
	}
	list, err := c.Flares(ctx, client.FlareQuery{Function: "hello", Status: "succeeded", Limit: 10})
	if err != nil || len(list.Flares) != 1 || list.Flares[0].ID != rec.ID {
		t.Errorf("list: %+v %v", list, err)
	}

	ns, err := c.PutNamespace(ctx, "team", gateway.NamespaceLimits{Workers: 8})
	if err != nil || ns.Limits.Workers != 8 {
		t.Errorf("put namespace: %+v %v", ns, err)
	}
	if got, err := c.Namespace(ctx, "team"); err != nil || got.Name != "team" {
		t.Errorf("namespace: %+v %v", got, err)
	}
	if all, err := c.Namespaces(ctx); err != nil || len(all) != 2 {
		t.Errorf("namespaces: %+v %v", all, err)
	}

	long, err := c.RunFlare(ctx, gateway.FlareRequest{Function: "sleep", Size: ptr(2), Input: json.RawMessage(`"1m"`)}, false)
	if err != nil {
		t.Fatal(err)
	}
	cancelled, err := c.CancelFlare(ctx, long.ID)
	if err != nil || cancelled.Status != control.StatusCancelled {
		t.Errorf("cancel: %+v %v", cancelled, err)
	}
	if _, err := c.CancelFlare(ctx, long.ID); !errors.As(err, &apiErr) || apiErr.Code != gateway.CodeFlareEnded {
		t.Errorf("cancel twice: %v", err)
	}
}

// TestEvents follows a flare's events from the record to the end.
func TestEvents(t *testing.T) {
	c := serve(t)
	ctx := t.Context()
	rec, err := c.RunFlare(ctx, gateway.FlareRequest{Function: "sleep", Size: ptr(4), Granularity: ptr(2), Input: json.RawMessage(`"300ms"`)}, false)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for ev, err := range c.Events(ctx, rec.ID) {
		if err != nil {
			t.Fatal(err)
		}
		if ev.Name == "" || len(ev.Data) == 0 || !json.Valid(ev.Data) {
			t.Errorf("event %+v", ev)
		}
		names = append(names, ev.Name)
	}
	if len(names) < 3 || names[0] != "record" || names[len(names)-1] != "end" {
		t.Errorf("events %v: want record first and end last", names)
	}
	ctx2, cancel := context.WithCancel(ctx)
	cancel()
	for _, err := range c.Events(ctx2, rec.ID) {
		if err == nil {
			t.Error("events of a cancelled context: no error")
		}
	}
}

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/nats-io/nats.go/jetstream.(*jetStream).resetPendingAcksOnReconnect"))
}
