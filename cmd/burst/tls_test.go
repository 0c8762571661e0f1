package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/burstgo/burst/cluster/clustertest"
	"github.com/burstgo/burst/control"
	"github.com/burstgo/burst/gateway"
)

// TestServeTLS runs the real binary with HTTPS and NATS over TLS, certificates of a CA
// the test makes: `burst key` over HTTPS, an invoker joining over TLS with a join key,
// a flare across both, and an uploaded function whose packs talk over TLS from their
// host. Plain HTTP and a client that does not trust the CA are refused.
func TestServeTLS(t *testing.T) {
	bin, plugin := realPlugin(t, "pingpong")
	ca := clustertest.NewCA(t)
	cert, key := ca.Issue(t, "node")
	httpPort, natsPort := clustertest.FreePort(t), clustertest.FreePort(t)
	api := "https://127.0.0.1:" + strconv.Itoa(httpPort)
	startBinary(t, bin, "serve", "--data", t.TempDir(), "--http", "127.0.0.1:"+strconv.Itoa(httpPort), "--slots", "24",
		"--tls-cert", cert, "--tls-key", key, "--nats-port", strconv.Itoa(natsPort),
		"--nats-tls-cert", cert, "--nats-tls-key", key, "--nats-ca", ca.File)

	pem, _ := os.ReadFile(ca.File)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		resp, err := hc.Get(api + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no HTTPS: %v", err)
		}
	}
	if resp, err := http.Get(api + "/readyz"); err == nil {
		resp.Body.Close()
		t.Error("a client that does not trust the CA got an answer")
	}
	if resp, err := http.Get(strings.Replace(api, "https", "http", 1) + "/readyz"); err == nil {
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP answered 200")
		}
		resp.Body.Close()
	}

	burst := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(bin, append(args, "--api", api, "--ca", ca.File)...).Output()
		if err != nil {
			t.Fatalf("burst %s: %v", strings.Join(args, " "), err)
		}
		return strings.TrimSpace(string(out))
	}
	admin := burst("key", "create", "--role", "admin")
	joinFile := filepath.Join(t.TempDir(), "b.key")
	os.WriteFile(joinFile, []byte(burst("key", "create", "--role", "invoker", "--invoker", "tls-b", "--key", admin)), 0o600)
	startBinary(t, bin, "invoker", "--nats", fmt.Sprintf("nats://127.0.0.1:%d", natsPort), "--nats-ca", ca.File,
		"--invoker-id", "tls-b", "--credentials", joinFile, "--slots", "16", "--data", t.TempDir(), "--http", "")

	req := func(method, path, body string) (int, []byte) {
		r, _ := http.NewRequest(method, api+path, strings.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+admin)
		resp, err := hc.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		_, b := req("GET", "/invokers", "")
		if strings.Contains(string(b), `"id":"tls-b","status":"ready"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the invoker did not join over TLS: %s", b)
		}
	}
	// No invoker holds the 32 workers: best fit puts the first pack on tls-b (16 slots,
	// the fewest), the second on serve's own (24).
	status, b := req("POST", "/flares?wait=true", `{"function":"kmeans","size":32,"granularity":16,
		"input":{"k":4,"generate":{"points":4000,"seed":1},"iterations":3}}`)
	var rec gateway.Record
	json.Unmarshal(b, &rec)
	if status != http.StatusOK || rec.Status != control.StatusSucceeded || rec.Packs[0].Invoker != "tls-b" || rec.Packs[1].Invoker == "tls-b" {
		t.Errorf("kmeans across the invokers over TLS: %d %s", status, b)
	}
	if status, b := req("PUT", "/functions/pingpong", string(plugin)); status != http.StatusCreated {
		t.Fatalf("upload: %d %s", status, b)
	}
	// Both packs in one host of tls-b (fewest free slots that hold them), which talks
	// over TLS as the flare.
	status, b = req("POST", "/flares?wait=true", `{"function":"pingpong","size":2,"granularity":1,"input":{"bytes":1024,"rounds":3}}`)
	json.Unmarshal(b, &rec)
	if status != http.StatusOK || rec.Status != control.StatusSucceeded || rec.Comm.RemoteMessages == 0 {
		t.Errorf("a hosted flare of two packs over TLS: %d %s", status, b)
	}
}
