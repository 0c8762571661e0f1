package cluster

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"slices"
	"sync"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/burstgo/burst/control"
)

// InternalUser is the NATS user of a node's own components (its gateway, and the
// invoker of `burst serve`), with every permission; its password is made at random by
// each process and never leaves it.
const InternalUser = "burst"

// An Authorizer says what the connection of user with password may do, or false to
// refuse it.
type Authorizer func(user, password string) (control.Permissions, bool)

// Auth closes an embedded server: it takes no anonymous connection. It checks each
// client connection as nats-server's custom authentication: the process's own user, or
// whatever the Authorizer accepts, with nats-server's own subject permissions. Until an
// Authorizer is set (the gateway sets one once its store is open) only the process's own
// connections get in.
type Auth struct {
	internal string

	mu        sync.Mutex
	authorize Authorizer
	srv       *server.Server
	clients   map[string][]uint64 // connection ids by user, for Disconnect
	gen       uint64              // Disconnects so far
}

// NewAuth returns an Auth with a new random password for InternalUser.
func NewAuth() *Auth {
	b := make([]byte, 32)
	rand.Read(b)
	return &Auth{internal: base64.RawURLEncoding.EncodeToString(b), clients: make(map[string][]uint64)}
}

// Internal is the connect option of the process's own connections.
func (a *Auth) Internal() nats.Option { return nats.UserInfo(InternalUser, a.internal) }

// SetAuthorizer sets who else may connect.
func (a *Auth) SetAuthorizer(f Authorizer) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.authorize = f
}

// Check implements server.Authentication.
func (a *Auth) Check(c server.ClientAuthentication) bool {
	if c.Kind() != server.CLIENT {
		return false
	}
	o := c.GetOpts()
	if o.Username == InternalUser {
		if subtle.ConstantTimeCompare([]byte(o.Password), []byte(a.internal)) != 1 {
			return false
		}
		c.RegisterUser(&server.User{Username: InternalUser}) // every permission
		return true
	}
	a.mu.Lock()
	authorize := a.authorize
	a.mu.Unlock()
	if authorize == nil || o.Username == "" {
		return false
	}
	// A Disconnect of this user while it is being authorized would miss the connection,
	// which is recorded after: authorize again when one happened meanwhile.
	var p control.Permissions
	for tries := 0; ; tries++ {
		a.mu.Lock()
		gen := a.gen
		a.mu.Unlock()
		var ok bool
		if p, ok = authorize(o.Username, o.Password); !ok {
			return false
		}
		a.mu.Lock()
		again := a.gen != gen
		a.mu.Unlock()
		if !again || tries == 1 {
			break
		}
	}
	perms := &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: slices.Clone(p.Publish)},
		Subscribe: &server.SubjectPermission{Allow: slices.Clone(p.Subscribe)},
	}
	if p.Responses {
		perms.Response = &server.ResponsePermission{MaxMsgs: 1}
	}
	c.RegisterUser(&server.User{Username: o.Username, Permissions: perms})
	if p.Revocable {
		a.mu.Lock()
		ids := append(a.clients[o.Username], c.GetID())
		a.clients[o.Username] = ids[max(0, len(ids)-maxKept):] // the older are gone by now
		a.mu.Unlock()
	}
	return true
}

// maxKept bounds the connections kept per user.
const maxKept = 16

// Disconnect ends every connection of user, which must connect again and be checked
// anew: how a revoked join key stops an invoker that already joined.
func (a *Auth) Disconnect(user string) {
	a.mu.Lock()
	ids, srv := a.clients[user], a.srv
	delete(a.clients, user)
	a.gen++
	a.mu.Unlock()
	if srv == nil {
		return
	}
	for _, id := range ids {
		srv.DisconnectClientByID(id) // an id of a connection gone already: nothing to end
	}
}
