package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/burstgo/burst/control"
)

// busClient is a connection to the cluster's bus as user, with the async errors the
// server sends it.
type busClient struct {
	nc   *nats.Conn
	errs chan error
}

func (c *cluster) dial(user, password string, opts ...nats.Option) (*busClient, error) {
	b := &busClient{errs: make(chan error, 64)}
	opts = append(opts, nats.MaxReconnects(0), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		select {
		case b.errs <- err:
		default:
		}
	}))
	if user != "" {
		opts = append(opts, nats.UserInfo(user, password))
	}
	nc, err := nats.Connect(c.srv.ClientURL(), opts...)
	if err != nil {
		return nil, err
	}
	c.t.Cleanup(nc.Close)
	b.nc = nc
	return b, nil
}

// violation waits for the server to refuse something of b's, naming subject.
func (b *busClient) violation(t *testing.T, subject string) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case err := <-b.errs:
			if errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), subject) {
				return
			}
		case <-deadline:
			t.Errorf("no permission violation for %s", subject)
			return
		}
	}
}

// silent checks that sub gets nothing for a moment.
func silent(t *testing.T, sub *nats.Subscription, what string) {
	t.Helper()
	if m, err := sub.NextMsg(200 * time.Millisecond); err == nil {
		t.Errorf("%s got a message on %s", what, m.Subject)
	}
}

// joinKey makes an admin key (the first) and an invoker key for id, and keeps the admin
// key for the cluster's requests.
func (c *cluster) joinKey(id string) NewKey {
	c.t.Helper()
	if c.key == "" {
		c.key = call[NewKey](c, "POST", "/keys", map[string]any{"role": "admin"}, http.StatusCreated).Secret
	}
	return call[NewKey](c, "POST", "/keys", map[string]any{"role": "invoker", "invoker": id}, http.StatusCreated)
}

// TestBusClosed replays the attacks of an open bus: an anonymous client, and one with a
// join key, which may not read or write what is not its invoker's.
func TestBusClosed(t *testing.T) {
	c := newCluster(t, clusterOptions{slots: []int{16}})
	if _, err := c.dial("", ""); !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("anonymous connection: %v, want refused", err)
	}
	if _, err := c.dial(control.InvokerUser("inv0"), "burst_0123456789abcdef_guess"); !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("a made-up key: %v, want refused", err)
	}
	key := c.joinKey("mallory")
	if _, err := c.dial(control.InvokerUser("inv0"), key.Secret); !errors.Is(err, nats.ErrAuthorization) {
		t.Errorf("mallory's key as invoker inv0: %v, want refused", err)
	}
	m, err := c.dial(control.InvokerUser("mallory"), key.Secret, nats.CustomInboxPrefix(control.InvokerInbox("mallory")))
	if err != nil {
		t.Fatal(err)
	}
	// A flare to spy on and to forge: it waits at a gate while mallory tries.
	gateName := newGate(t)
	rec := call[Record](c, "POST", "/flares", map[string]any{"function": "gate", "size": 4, "granularity": 2, "input": gateName}, http.StatusAccepted)
	eventually(t, func() bool {
		return call[Record](c, "GET", "/flares/"+rec.ID, nil, http.StatusOK).Status == control.StatusRunning
	}, "the flare to run")

	// Listening to what is not its own: refused, and nothing comes.
	for _, subject := range []string{">", "burst.evt.>", control.FlareSubjects(rec.ID), control.AssignSubject("inv0"), "_INBOX.>", "$KV.>"} {
		sub, err := m.nc.SubscribeSync(subject)
		if err != nil {
			t.Fatal(err)
		}
		m.violation(t, subject)
		defer silent(t, sub, "mallory's "+subject)
	}
	// Speaking for another invoker: refused; its own subject with another's id: ignored.
	hb := `{"proto":5,"id":"inv0","host":"h","slots":100000,"builtins":["gate"],"started":"2026-01-01T00:00:00Z","interval":"1s"}`
	m.nc.Publish(control.HeartbeatSubject("inv0"), []byte(hb))
	m.violation(t, control.HeartbeatSubject("inv0"))
	m.nc.Publish(control.HeartbeatSubject("mallory"), []byte(hb))
	// Forged events of the flare's packs, on its own subject and on inv0's.
	forged := `{"type":"ended","flare":"` + rec.ID + `","pack":0,"invoker":"inv0","status":"succeeded","workers":[{"rank":0,"status":"succeeded"}]}`
	m.nc.Publish(control.EventSubject(rec.ID, "inv0"), []byte(forged))
	m.violation(t, control.EventSubject(rec.ID, "inv0"))
	m.nc.Publish(control.EventSubject(rec.ID, "mallory"), []byte(forged))
	m.nc.Flush()

	// Writing the records, functions and keys buckets: refused.
	js, err := jetstream.New(m.nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	for _, bucket := range []string{BucketFlares, BucketFunctions, BucketKeys} {
		if kv, err := js.KeyValue(ctx, bucket); err == nil {
			if _, err := kv.Put(ctx, rec.ID, []byte(`{"status":"succeeded"}`)); err == nil {
				t.Errorf("mallory wrote to %s", bucket)
			}
		}
		raw := nats.NewMsg("$KV." + bucket + "." + rec.ID)
		raw.Data = []byte(`{"id":"` + rec.ID + `","status":"succeeded"}`)
		m.nc.PublishMsg(raw)
		m.violation(t, "$KV."+bucket)
	}

	openGate(gateName)
	if end := c.waitFlare(rec.ID); end.Status != control.StatusSucceeded {
		t.Errorf("the flare %s %q", end.Status, end.Error)
	}
	// Its results are its workers', not mallory's.
	res := call[struct{ Results []struct{ Rank int } }](c, "GET", "/flares/"+rec.ID+"/results", nil, http.StatusOK)
	if len(res.Results) != 4 {
		t.Errorf("results %v, want the four ranks'", res.Results)
	}
	for i, r := range res.Results {
		if r.Rank != i {
			t.Errorf("rank %d's result %v, want its rank", i, r)
		}
	}
	for _, inv := range call[struct{ Invokers []InvokerInfo }](c, "GET", "/invokers", nil, http.StatusOK).Invokers {
		if inv.ID != "inv0" {
			t.Errorf("invoker %s listed", inv.ID)
		}
	}
}

// TestJoinedInvoker runs flares on an invoker that joined with a key, as `burst invoker
// --credentials`: built-ins over core NATS and JetStream between its packs, and an
// uploaded function in hosts, each over connections of the flare's own. Revoking the
// key ends its connection.
func TestJoinedInvoker(t *testing.T) {
	c := newCluster(t, clusterOptions{slots: []int{}})
	key := c.joinKey("joined")
	c.addInvokerOpts("joined", invokerOpts{slots: 64, joinKey: key.Secret, isolation: control.IsolationProcess})
	c.waitInvokers(1)
	call[FunctionRecord](c, "PUT", "/functions/pingpong", mustRead(t, plugin(t, "gateway/testdata/pingpong")), http.StatusCreated)
	for _, backend := range []control.Backend{control.BackendNATS, control.BackendJetStream} {
		rec := c.run(map[string]any{"function": "kmeans", "size": 8, "granularity": 2, "backend": backend,
			"input": map[string]any{"k": 3, "generate": map[string]any{"points": 3000, "seed": 1}, "iterations": 5}})
		if rec.Status != control.StatusSucceeded || rec.Comm.RemoteMessages == 0 {
			t.Errorf("kmeans over %s: %s %q, %d remote messages", backend, rec.Status, rec.Error, rec.Comm.RemoteMessages)
		}
		rec = c.run(map[string]any{"function": "pingpong", "size": 2, "granularity": 1, "backend": backend,
			"input": map[string]int{"bytes": 1 << 20, "rounds": 3}})
		if rec.Status != control.StatusSucceeded {
			t.Errorf("hosted pingpong over %s: %s %q", backend, rec.Status, rec.Error)
		}
	}

	// A flare's credential works while it runs, for its own subjects only.
	gateName := newGate(t)
	rec := call[Record](c, "POST", "/flares", map[string]any{"function": "gate", "size": 2, "granularity": 1, "input": gateName}, http.StatusAccepted)
	eventually(t, func() bool {
		return call[Record](c, "GET", "/flares/"+rec.ID, nil, http.StatusOK).Status == control.StatusRunning
	}, "the flare to run")
	cred := c.gw.credential(rec.ID)
	wrong := cred[:len(cred)-1] + "0"
	if wrong == cred {
		wrong = cred[:len(cred)-1] + "1"
	}
	if _, err := c.dial(control.FlareUser(rec.ID), wrong); !errors.Is(err, nats.ErrAuthorization) {
		t.Errorf("a wrong flare credential: %v, want refused", err)
	}
	other := "01900000-0000-7000-8000-000000000042"
	if _, err := c.dial(control.FlareUser(other), cred); !errors.Is(err, nats.ErrAuthorization) {
		t.Errorf("a flare's credential for another: %v, want refused", err)
	}
	f, err := c.dial(control.FlareUser(rec.ID), cred, nats.CustomInboxPrefix(control.FlareInbox(rec.ID)))
	if err != nil {
		t.Fatal(err)
	}
	own, _ := f.nc.SubscribeSync(control.FlareSubjects(rec.ID))
	f.nc.Publish("burst."+rec.ID+".x", []byte("hi"))
	if _, err := own.NextMsg(2 * time.Second); err != nil {
		t.Errorf("a flare's connection cannot reach its own subjects: %v", err)
	}
	for _, subject := range []string{control.FlareSubjects(other), "burst.evt.>", control.SubjectCancel} {
		f.nc.SubscribeSync(subject)
		f.violation(t, subject)
	}
	closed := make(chan struct{})
	f.nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
	openGate(gateName)
	c.waitFlare(rec.ID)
	if _, err := c.dial(control.FlareUser(rec.ID), cred); !errors.Is(err, nats.ErrAuthorization) {
		t.Errorf("the credential of an ended flare: %v, want refused", err)
	}
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Error("a connection of an ended flare's user stays open")
	}

	// Revoked, the join key ends the invoker's connection, and the gateway loses it.
	if status, b := c.do("DELETE", "/keys/"+key.ID, nil); status != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", status, b)
	}
	eventually(t, func() bool {
		return len(call[struct{ Invokers []InvokerInfo }](c, "GET", "/invokers", nil, http.StatusOK).Invokers) == 0
	},
		"the invoker of a revoked key to be lost")
}

// TestFlareCannotRelay: a flare's connection may consume its own stream, and JetStream
// delivers a fetched message to whatever reply subject the fetch names; so a flare can
// make the server deliver messages it stored to any subject. The subscribers of the
// control and comm subjects take only what was published on their own subject: a
// relayed cancel of another flare, or a relayed assignment, changes nothing.
func TestFlareCannotRelay(t *testing.T) {
	c := newCluster(t, clusterOptions{slots: []int{64}})
	victimGate, attackerGate := newGate(t), newGate(t)
	victim := call[Record](c, "POST", "/flares", map[string]any{"function": "gate", "size": 2, "granularity": 1, "input": victimGate}, http.StatusAccepted)
	attacker := call[Record](c, "POST", "/flares", map[string]any{"function": "gate", "size": 2, "granularity": 1, "backend": "jetstream", "input": attackerGate}, http.StatusAccepted)
	for _, id := range []string{victim.ID, attacker.ID} {
		eventually(t, func() bool {
			return call[Record](c, "GET", "/flares/"+id, nil, http.StatusOK).Status == control.StatusRunning
		}, "flare %s to run", id)
	}
	eventually(t, func() bool { return c.invokers[0].Heartbeat().Packs == 4 }, "four packs to run")

	f, err := c.dial(control.FlareUser(attacker.ID), c.gw.credential(attacker.ID), nats.CustomInboxPrefix(control.FlareInbox(attacker.ID)))
	if err != nil {
		t.Fatal(err)
	}
	cancel, _ := json.Marshal(control.Cancel{Flare: victim.ID, Status: control.StatusCancelled, Reason: "forged by another flare"})
	assign, _ := json.Marshal(control.Assignment{Proto: control.Version, Flare: "01900000-0000-7000-8000-00000000000f", Function: "gate",
		Size: 14, Granularity: 14, Backend: control.BackendNATS, Timeout: control.Duration(time.Minute), Input: json.RawMessage(`"never"`)})
	js, err := jetstream.New(f.nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, done := context.WithTimeout(t.Context(), 5*time.Second)
	defer done()
	stream, err := js.Stream(ctx, "BURST_"+attacker.ID)
	if err != nil {
		t.Fatalf("the attacker's own stream: %v", err)
	}
	for i, relay := range []struct {
		to   string
		data []byte
	}{{control.SubjectCancel, cancel}, {control.AssignSubject("inv0"), assign}} {
		subject := fmt.Sprintf("burst.%s.x%d", attacker.ID, i)
		if err := f.nc.Publish(subject, relay.data); err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("relay%d", i)
		if _, err := stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: name, FilterSubject: subject, AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
			t.Fatalf("the attacker's consumer: %v", err)
		}
		if err := f.nc.PublishRequest("$JS.API.CONSUMER.MSG.NEXT.BURST_"+attacker.ID+"."+name, relay.to, []byte(`{"batch":1}`)); err != nil {
			t.Fatal(err)
		}
	}
	f.nc.Flush()
	time.Sleep(500 * time.Millisecond)
	if hb := c.invokers[0].Heartbeat(); hb.Packs != 4 || hb.Used != 4 {
		t.Errorf("after a relayed assignment the invoker runs %d packs on %d slots, want 4 on 4", hb.Packs, hb.Used)
	}
	openGate(victimGate)
	openGate(attackerGate)
	if rec := c.waitFlare(victim.ID); rec.Status != control.StatusSucceeded {
		t.Errorf("the victim ended %s %q: a relayed cancel reached it", rec.Status, rec.Error)
	}
}
