package gateway

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestKeysFirstRun walks a loopback gateway from its first run, open to every local
// request, to keys: the first key must be an admin's and turns them on; then each
// role may do what it may, and nothing more.
func TestKeysFirstRun(t *testing.T) {
	c := newCluster(t, clusterOptions{slots: []int{16}})
	// No key yet: a request without one is the default namespace's admin.
	if rec := c.run(map[string]any{"function": "hello"}); rec.Status != "succeeded" {
		t.Fatalf("first-run flare %s %q", rec.Status, rec.Error)
	}
	msg := c.apiError("POST", "/keys", map[string]any{"role": "runner"}, http.StatusConflict, CodeConflict)
	if !strings.Contains(msg, "first key must be an admin key") {
		t.Errorf("first runner key: %q", msg)
	}
	c.apiError("POST", "/keys", map[string]any{"role": "root"}, http.StatusBadRequest, CodeBadRequest)
	c.apiError("POST", "/keys", map[string]any{"role": "admin", "name": "a b"}, http.StatusBadRequest, CodeBadName)
	c.apiError("POST", "/keys", map[string]any{"role": "admin", "color": "red"}, http.StatusBadRequest, CodeBadJSON)
	admin := call[NewKey](c, "POST", "/keys", map[string]any{"role": "admin", "name": "ops"}, http.StatusCreated)
	if !strings.HasPrefix(admin.Secret, keyPrefix) || admin.Role != RoleAdmin || admin.Name != "ops" || admin.Namespace != DefaultNamespace {
		t.Fatalf("admin key %+v", admin)
	}

	// Keys are on now, on loopback too; without a key, 401 before anything else is
	// looked at.
	msg = c.apiError("GET", "/flares", nil, http.StatusUnauthorized, CodeUnauthorized)
	c.apiError("GET", "/flares/zz", nil, http.StatusUnauthorized, CodeUnauthorized)
	c.apiError("PUT", "/functions/a.b", "x", http.StatusUnauthorized, CodeUnauthorized)
	if !strings.Contains(msg, "Bearer") {
		t.Errorf("401 says %q, want how to send a key", msg)
	}
	for _, bad := range []string{"burst_0123456789abcdef_nope", "not-a-key", admin.Secret + "x"} {
		c.key = bad
		c.apiError("GET", "/flares", nil, http.StatusUnauthorized, CodeUnauthorized)
	}
	// The probes and the index stay open.
	c.key = ""
	for _, p := range []string{"/", "/livez", "/readyz"} {
		if status, b := c.do("GET", p, nil); status != http.StatusOK {
			t.Errorf("GET %s without a key: %d %s", p, status, b)
		}
	}

	c.key = admin.Secret
	keys := map[Role]string{RoleAdmin: admin.Secret}
	for _, r := range []Role{RoleDeveloper, RoleRunner, RoleReader} {
		keys[r] = call[NewKey](c, "POST", "/keys", map[string]any{"role": r}, http.StatusCreated).Secret
	}
	plugin := mustRead(t, plugin(t, "gateway/testdata/pingpong"))
	for _, tc := range []struct {
		method, path string
		body         any
		least        Role
	}{
		{"GET", "/functions", nil, RoleReader},
		{"GET", "/flares", nil, RoleReader},
		{"GET", "/invokers", nil, RoleReader},
		{"GET", "/metrics", nil, RoleReader},
		{"POST", "/flares?wait=true", map[string]any{"function": "hello"}, RoleRunner},
		{"PUT", "/functions/mine", plugin, RoleDeveloper},
		{"DELETE", "/functions/mine", nil, RoleDeveloper},
		{"GET", "/keys", nil, RoleAdmin},
	} {
		for _, r := range roles {
			c.key = keys[r]
			if r.may(tc.least) {
				if tc.path == "/functions/mine" && tc.method == "DELETE" {
					// Upload again, so that each role has one to delete.
					c.key = keys[RoleAdmin]
					c.do("PUT", "/functions/mine", plugin)
					c.key = keys[r]
				}
				if status, b := c.do(tc.method, tc.path, tc.body); status/100 != 2 {
					t.Errorf("%s %s as %s: %d, want success: %s", tc.method, tc.path, r, status, b)
				}
				continue
			}
			msg := c.apiError(tc.method, tc.path, tc.body, http.StatusForbidden, CodeForbidden)
			if !strings.Contains(msg, string(tc.least)) {
				t.Errorf("%s %s as %s: 403 says %q, want the role it needs", tc.method, tc.path, r, msg)
			}
		}
	}

	// The list shows the keys, with their last use, and never a secret or a hash.
	c.key = admin.Secret
	eventually(t, func() bool {
		status, b := c.do("GET", "/keys", nil)
		return status == http.StatusOK && strings.Count(string(b), `"last_used"`) == 4
	}, "every key's last use to be recorded")
	_, b := c.do("GET", "/keys", nil)
	if strings.Contains(string(b), "hash") || strings.Contains(string(b), keyPrefix) {
		t.Errorf("GET /keys shows secrets: %s", b)
	}

	// Revocation takes effect before the DELETE answers.
	list := call[struct{ Keys []Key }](c, "GET", "/keys", nil, http.StatusOK)
	var reader string
	for _, k := range list.Keys {
		if k.Role == RoleReader {
			reader = k.ID
		}
	}
	if status, b := c.do("DELETE", "/keys/"+reader, nil); status != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", status, b)
	}
	c.key = keys[RoleReader]
	c.apiError("GET", "/flares", nil, http.StatusUnauthorized, CodeUnauthorized)
	c.key = admin.Secret
	c.apiError("DELETE", "/keys/"+reader, nil, http.StatusNotFound, CodeNotFound)

	// A key that expires stops working then.
	short := call[NewKey](c, "POST", "/keys", map[string]any{"role": "reader", "expires_in": "50ms"}, http.StatusCreated)
	c.key = short.Secret
	call[map[string]any](c, "GET", "/flares", nil, http.StatusOK)
	time.Sleep(100 * time.Millisecond)
	if msg := c.apiError("GET", "/flares", nil, http.StatusUnauthorized, CodeUnauthorized); !strings.Contains(msg, "expired") {
		t.Errorf("expired key: %q", msg)
	}
}

// TestKeysSurviveRestart: the keys are in the store; a new gateway on it enforces them.
func TestKeysSurviveRestart(t *testing.T) {
	c := newCluster(t, clusterOptions{slots: []int{16}})
	admin := call[NewKey](c, "POST", "/keys", map[string]any{"role": "admin"}, http.StatusCreated)
	if err := c.gw.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	c.startGateway(Options{})
	c.apiError("GET", "/flares", nil, http.StatusUnauthorized, CodeUnauthorized)
	c.key = admin.Secret
	call[map[string]any](c, "GET", "/flares", nil, http.StatusOK)
}

// TestKeysEnforced: a gateway listening beyond loopback, or told keys are required,
// enforces keys from the start, and makes the first admin key in a file only its user
// can read.
func TestKeysEnforced(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"all addresses", Options{Addr: "0.0.0.0:0"}},
		{"required", Options{Auth: AuthRequired}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "admin.key")
			tc.opts.KeyFile = file
			c := newCluster(t, clusterOptions{slots: []int{16}, gateway: tc.opts})
			c.url = strings.Replace(c.url, "0.0.0.0", "127.0.0.1", 1)
			c.apiError("GET", "/flares", nil, http.StatusUnauthorized, CodeUnauthorized)
			c.apiError("POST", "/flares", map[string]any{"function": "hello"}, http.StatusUnauthorized, CodeUnauthorized)
			fi, err := os.Stat(file)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
			}
			c.key = strings.TrimSpace(string(mustRead(t, file)))
			if rec := c.run(map[string]any{"function": "hello"}); rec.Status != "succeeded" {
				t.Errorf("flare with the first admin key: %s %q", rec.Status, rec.Error)
			}
			// A restart with an admin key in the store makes no other.
			os.Remove(file)
			if err := c.gw.Shutdown(t.Context()); err != nil {
				t.Fatal(err)
			}
			c.startGateway(tc.opts)
			if _, err := os.Stat(file); !os.IsNotExist(err) {
				t.Errorf("a second first admin key was made: %v", err)
			}
		})
	}
}

func TestRoles(t *testing.T) {
	for i, r := range roles {
		for j, need := range roles {
			if r.may(need) != (i >= j) {
				t.Errorf("%s may %s: %v", r, need, r.may(need))
			}
		}
		if r.may("invoker") || Role("").may(RoleReader) || Role("root").may(RoleReader) {
			t.Errorf("a role that is none may do something")
		}
	}
}

// BenchmarkAuthenticate measures what a request's key costs the gateway: none on an
// open loopback gateway, and a good key when keys are enforced.
//
//	go test -run '^$' -bench Authenticate ./gateway
func BenchmarkAuthenticate(b *testing.B) {
	sum := sha256.Sum256([]byte("secret-part-of-the-key-43-bytes-long-000000"))
	id := "0123456789abcdef"
	k := &keys{loopback: true, byID: map[string]*cachedKey{}}
	b.Run("open", func(b *testing.B) {
		for b.Loop() {
			if _, err := k.authenticate(""); err != nil {
				b.Fatal(err)
			}
		}
	})
	k.byID[id] = &cachedKey{storedKey: storedKey{Key: Key{ID: id, Namespace: DefaultNamespace, Role: RoleRunner}, Hash: hex.EncodeToString(sum[:])}}
	header := "Bearer " + keyPrefix + id + "_secret-part-of-the-key-43-bytes-long-000000"
	b.Run("enforced", func(b *testing.B) {
		for b.Loop() {
			if _, err := k.authenticate(header); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestKeysOffRefusesBrowsers: while keys are off, a web page in a local browser can
// neither post to the gateway from its origin nor reach it by a rebound host name; curl
// and the same origin can.
func TestKeysOffRefusesBrowsers(t *testing.T) {
	c := newCluster(t, clusterOptions{slots: []int{16}})
	post := func(header, value string) int {
		req, _ := http.NewRequest("POST", c.url+"/keys", strings.NewReader(`{"role":"admin"}`))
		req.Header.Set("Content-Type", "text/plain")
		if header == "Host" {
			req.Host = value
		} else if header != "" {
			req.Header.Set(header, value)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tc := range []struct{ header, value string }{
		{"Origin", "http://evil.example"},
		{"Host", "evil.example:8080"},
		{"Sec-Fetch-Site", "cross-site"},
	} {
		if got := post(tc.header, tc.value); got != http.StatusForbidden {
			t.Errorf("%s: %s answered %d, want 403", tc.header, tc.value, got)
		}
	}
	if got := post("Origin", strings.Replace(c.url, "127.0.0.1", "127.0.0.1", 1)); got != http.StatusCreated {
		t.Errorf("the gateway's own origin: %d, want 201", got)
	}
}

// TestRevokedStaysRevoked: a put of a revoked key that the watch brings late (its
// creation, a last-use write) does not bring it back.
func TestRevokedStaysRevoked(t *testing.T) {
	c := newCluster(t, clusterOptions{slots: []int{16}})
	admin := call[NewKey](c, "POST", "/keys", map[string]any{"role": "admin"}, http.StatusCreated)
	c.key = admin.Secret
	k := call[NewKey](c, "POST", "/keys", map[string]any{"role": "reader"}, http.StatusCreated)
	put, err := c.gw.keys.kv.Get(t.Context(), k.ID)
	if err != nil {
		t.Fatal(err)
	}
	if status, b := c.do("DELETE", "/keys/"+k.ID, nil); status != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", status, b)
	}
	c.gw.keys.apply(put) // the watch, late
	c.key = k.Secret
	c.apiError("GET", "/flares", nil, http.StatusUnauthorized, CodeUnauthorized)
}
