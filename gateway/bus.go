package gateway

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/burstgo/burst/control"
)

// The closed bus. A node's embedded NATS server asks the gateway who may connect
// (AuthorizeNATS): an invoker with a join key made for its id, and the packs of a live
// flare with the flare's credential, each with nats-server's subject permissions:
//
//   - an invoker publishes only on subjects that end in its id (heartbeat, bye, its
//     events), makes the JetStream calls that reading plugins needs, and listens to its
//     own request subjects, cancels, discovery, micro's $SRV and its own inbox; it
//     cannot touch the buckets of records, functions or keys, nor any flare's traffic;
//   - a flare's connections reach its comm subjects, its own JetStream stream's
//     consumers (not the stream's creation: the gateway makes it, so that no flare
//     names another's subjects in its own stream) and their own inbox.
//
// A flare's credential is the HMAC-SHA256 of its id under a secret kept in the keys
// bucket: any gateway on the store can check it, also for flares it took up after a
// restart, and none is stored per flare.

// flareSecretKey is the key of the credential secret in the keys bucket; key ids are 16
// hex digits, so it is never taken for one.
const flareSecretKey = "flare-credentials"

// flareSecret reads the credential secret from the keys bucket, or makes it.
func flareSecret(ctx context.Context, kv jetstream.KeyValue) ([]byte, error) {
	for {
		e, err := kv.Get(ctx, flareSecretKey)
		if err == nil {
			b, err := base64.RawURLEncoding.DecodeString(string(e.Value()))
			if err != nil || len(b) < 32 {
				return nil, fmt.Errorf("gateway: the flare credential secret in %s is damaged", BucketKeys)
			}
			return b, nil
		}
		if !errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil, fmt.Errorf("gateway: flare credential secret: %w", err)
		}
		b := make([]byte, 32)
		rand.Read(b)
		if _, err := kv.Create(ctx, flareSecretKey, []byte(base64.RawURLEncoding.EncodeToString(b))); err != nil &&
			!errors.Is(err, jetstream.ErrKeyExists) {
			return nil, fmt.Errorf("gateway: flare credential secret: %w", err)
		}
		// Made, by this gateway or another one at the same moment: read what holds.
	}
}

// credential is flare's NATS password.
func (g *Gateway) credential(flare string) string { return g.flareMAC(flare) }

// laneSecret is the secret by which flare's packs know each other's direct lanes
// (comm.Config.LaneSecret), made as its credential is, and apart from it: a flare's
// NATS password opens no lane, nor the other way round.
func (g *Gateway) laneSecret(flare string) string { return g.flareMAC("lanes\x00" + flare) }

// flareMAC is the hex HMAC-SHA256 of msg under the flares' secret.
func (g *Gateway) flareMAC(msg string) string {
	m := hmac.New(sha256.New, g.flareSecret)
	m.Write([]byte(msg))
	return hex.EncodeToString(m.Sum(nil))
}

// AuthorizeNATS says what a connection of user with password may do on a closed bus,
// or false to refuse it: the cluster.Authorizer of the node's embedded server.
func (g *Gateway) AuthorizeNATS(user, password string) (control.Permissions, bool) {
	kind, name, _ := strings.Cut(user, ":")
	switch kind {
	case "invoker":
		id, secret, ok := parseKey(password)
		if !ok {
			return control.Permissions{}, false
		}
		k, err := g.keys.check(id, secret, time.Now())
		if err != nil || k.Role != RoleInvoker || k.Invoker != name {
			return control.Permissions{}, false
		}
		return invokerPermissions(name), true
	case "flare":
		g.mu.Lock()
		f, live := g.flares[name]
		var namespace string
		if live {
			namespace = f.rec.Namespace
		}
		g.mu.Unlock()
		if !live || !hmac.Equal([]byte(password), []byte(g.credential(name))) {
			return control.Permissions{}, false
		}
		return control.FlarePermissions(name, namespace), true
	}
	return control.Permissions{}, false
}

// invokerPermissions are what invoker id may do on a closed bus.
func invokerPermissions(id string) control.Permissions {
	plugins := "OBJ_" + control.PluginBucket
	return control.Permissions{
		Publish: []string{
			control.HeartbeatSubject(id), control.ByeSubject(id), control.EventSubject("*", id),
			// Reading plugins from the object store.
			"$JS.API.STREAM.INFO." + plugins,
			"$JS.API.STREAM.MSG.GET." + plugins,
			"$JS.API.DIRECT.GET." + plugins + ".>",
			"$JS.API.CONSUMER.CREATE." + plugins + ".>",
			"$JS.API.CONSUMER.DELETE." + plugins + ".>",
			"$JS.API.CONSUMER.INFO." + plugins + ".>",
			"$JS.API.CONSUMER.MSG.NEXT." + plugins + ".>",
			"$JS.FC." + plugins + ".>",
		},
		Subscribe: []string{
			control.AssignSubject(id), control.PacksSubject(id), control.SubjectCancel, control.SubjectDiscover,
			"$SRV.>", control.InvokerInbox(id) + ".>",
		},
		Responses: true,
		Revocable: true,
	}
}
