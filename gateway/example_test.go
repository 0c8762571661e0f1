package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/burstgo/burst/cluster"
	"github.com/burstgo/burst/functions/examples"
	"github.com/burstgo/burst/gateway"
	"github.com/burstgo/burst/invoker"
)

// A whole cluster in one process: an embedded NATS server with JetStream, an invoker with
// the example apps as its built-ins, and a gateway; then one flare of the built-in hello,
// 4 workers in 2 packs.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "burst-example-")
	defer os.RemoveAll(dir)
	srv, err := cluster.RunServer(cluster.ServerOptions{Port: -1, StoreDir: dir})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Shutdown()
	invConn, _ := cluster.ConnectInProcess(srv)
	defer invConn.Close()
	inv, _ := invoker.New(invoker.Options{Conn: invConn, Slots: 64, CacheDir: dir, Functions: examples.Builtins(), HostNATS: srv.ClientURL()})
	inv.Start(ctx)
	defer inv.Shutdown(ctx)
	gwConn, _ := cluster.ConnectInProcess(srv)
	defer gwConn.Close()
	gw, _ := gateway.New(gateway.Options{Addr: "127.0.0.1:0", Conn: gwConn})
	if err := gw.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer gw.Shutdown(ctx)
	for { // until the gateway has heard the invoker
		if r, err := http.Get(gw.URL() + "/readyz"); err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				break
			}
		}
		time.Sleep(10 * time.Millisecond)
	}

	body := `{"function":"hello","size":4,"granularity":2,"input":{"x":1}}`
	resp, err := http.Post(gw.URL()+"/flares?wait=true", "application/json", strings.NewReader(body))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	var rec gateway.Record
	json.NewDecoder(resp.Body).Decode(&rec)
	fmt.Println(rec.Status, len(rec.Packs), "packs")
	for _, r := range rec.Results {
		fmt.Println(string(r))
	}
	// Output:
	// succeeded 2 packs
	// {"rank":0,"size":4,"pack":0,"input":{"x":1}}
	// {"rank":1,"size":4,"pack":0,"input":{"x":1}}
	// {"rank":2,"size":4,"pack":1,"input":{"x":1}}
	// {"rank":3,"size":4,"pack":1,"input":{"x":1}}
}
