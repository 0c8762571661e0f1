package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/burstgo/burst/control"
	"github.com/nats-io/nats.go/jetstream"
)

type helloResult struct {
	Rank  int             `json:"rank"`
	Size  int             `json:"size"`
	Pack  int             `json:"pack"`
	Input json.RawMessage `json:"input"`
}

func TestHelloFlare(t *testing.T) {
	c := newCluster(t, clusterOptions{})
	rec := c.run(map[string]any{"function": "hello", "size": 8, "granularity": 4, "input": map[string]int{"x": 1}})
	if rec.Status != control.StatusSucceeded || rec.Error != "" {
		t.Fatalf("status %s %q, want succeeded", rec.Status, rec.Error)
	}
	if len(rec.Results) != 8 {
		t.Fatalf("%d results, want 8", len(rec.Results))
	}
	for i, raw := range rec.Results {
		var r helloResult
		if err := json.Unmarshal(raw, &r); err != nil {
			t.Fatal(err)
		}
		if r.Rank != i || r.Size != 8 || r.Pack != i/4 || string(r.Input) != `{"x":1}` {
			t.Errorf("result %d = %+v %s", i, r, r.Input)
		}
	}
	want := [][2]int{{0, 3}, {4, 7}}
	if len(rec.Packs) != 2 {
		t.Fatalf("packs %+v, want 2", rec.Packs)
	}
	for i, p := range rec.Packs {
		if p.Pack != i || p.Ranks != want[i] || p.Invoker != "inv0" {
			t.Errorf("pack %d = %+v", i, p)
		}
	}
	checkWorkers(t, rec, control.StatusSucceeded)
	if rec.Started.Before(rec.Created) || rec.Ended.Before(rec.Started) {
		t.Errorf("created %s, started %s, ended %s", rec.Created, rec.Started, rec.Ended)
	}

	got := call[Record](c, "GET", "/flares/"+rec.ID, nil, http.StatusOK)
	if got.Status != rec.Status || len(got.Packs) != 2 || got.Results != nil {
		t.Errorf("GET /flares/{id} = %+v", got)
	}
	checkWorkers(t, got, control.StatusSucceeded)
	res := call[FlareResults](c, "GET", "/flares/"+rec.ID+"/results", nil, http.StatusOK)
	if len(res.Results) != 8 || res.Status != control.StatusSucceeded {
		t.Errorf("results = %+v", res)
	}
}

// TestRecordShape checks the answers' JSON against DESIGN.md's flare record, key by key:
// decoding into Record would hide a renamed or missing key.
func TestRecordShape(t *testing.T) {
	c := newCluster(t, clusterOptions{})
	want := map[string][]string{
		"":        {"id", "function", "size", "granularity", "backend", "status", "created", "started", "ended", "error", "packs", "workers", "comm"},
		"packs":   {"pack", "invoker", "ranks"},
		"workers": {"rank", "pack", "status", "start", "end", "error"},
		"comm":    {"local_messages", "local_bytes", "remote_messages", "remote_bytes"},
	}
	check := func(what string, rec map[string]any, results bool) {
		t.Helper()
		has := func(part string, obj any) {
			t.Helper()
			m, ok := obj.(map[string]any)
			if !ok {
				t.Fatalf("%s: %q is %T, want an object", what, part, obj)
			}
			for _, k := range want[part] {
				if _, ok := m[k]; !ok {
					t.Errorf("%s: %q has no key %q: %v", what, part, k, m)
				}
			}
		}
		has("", rec)
		has("comm", rec["comm"])
		for _, list := range []string{"packs", "workers"} {
			items, _ := rec[list].([]any)
			if len(items) == 0 {
				t.Fatalf("%s: no %s", what, list)
			}
			for _, it := range items {
				has(list, it)
			}
		}
		if packs := rec["packs"].([]any); fmt.Sprint(packs[1].(map[string]any)["ranks"]) != "[4 7]" {
			t.Errorf("%s: pack 1 has ranks %v, want [4 7]", what, packs[1].(map[string]any)["ranks"])
		}
		res, ok := rec["results"].([]any)
		if ok != results {
			t.Fatalf("%s: results %v, want them: %v", what, rec["results"], results)
		}
		for i, r := range res {
			if m, _ := r.(map[string]any); m["rank"] != float64(i) || m["size"] != float64(8) || m["pack"] != float64(i/4) ||
				fmt.Sprint(m["input"]) != "map[x:1]" {
				t.Errorf("%s: result %d = %v", what, i, r)
			}
		}
	}
	posted := call[map[string]any](c, "POST", "/flares?wait=true", map[string]any{"function": "hello", "size": 8, "granularity": 4, "input": map[string]int{"x": 1}}, http.StatusOK)
	check("POST ?wait=true", posted, true)
	if len(posted["results"].([]any)) != 8 {
		t.Fatalf("%d results, want 8", len(posted["results"].([]any)))
	}
	check("GET /flares/{id}", call[map[string]any](c, "GET", "/flares/"+posted["id"].(string), nil, http.StatusOK), false)
}

// checkWorkers checks that every worker has its rank, pack, times and status.
func checkWorkers(t *testing.T, rec Record, status control.Status) {
	t.Helper()
	if len(rec.Workers) != rec.Size {
		t.Fatalf("%d workers, want %d", len(rec.Workers), rec.Size)
	}
	for i, w := range rec.Workers {
		if w.Rank != i || w.Pack != i/rec.Granularity || w.Status != status || w.Start.IsZero() || w.End.Before(w.Start) {
			t.Errorf("worker %d = %+v, want status %s and times", i, w, status)
		}
	}
}

func TestFlareAsync(t *testing.T) {
	c := newCluster(t, clusterOptions{})
	status, b := c.do("POST", "/flares", map[string]any{"function": "hello", "size": 3, "inputs": []any{1, "two", nil}})
	if status != http.StatusAccepted {
		t.Fatalf("status %d: %s", status, b)
	}
	var rec Record
	json.Unmarshal(b, &rec)
	if rec.ID == "" || rec.Granularity != 3 || rec.Backend != control.BackendNATS {
		t.Fatalf("202 record = %s", b)
	}
	done := c.waitFlare(rec.ID)
	checkWorkers(t, done, control.StatusSucceeded)
	res := call[FlareResults](c, "GET", "/flares/"+rec.ID+"/results", nil, http.StatusOK)
	for i, want := range []string{"1", `"two"`, "null"} {
		b, _ := json.Marshal(res.Results[i])
		var r helloResult
		json.Unmarshal(b, &r)
		if string(r.Input) != want {
			t.Errorf("rank %d got input %s, want %s", i, r.Input, want)
		}
	}
}

func TestFlareRequestErrors(t *testing.T) {
	c := newCluster(t, clusterOptions{slots: []int{64}, gateway: Options{MaxBody: 1 << 10}})
	big := `{"function":"hello","input":"` + strings.Repeat("x", 2<<10) + `"}`
	tests := []struct {
		name   string
		body   string
		status int
		code   string
	}{
		{"bad JSON", `{"function":`, 400, CodeBadJSON},
		{"empty body", ``, 400, CodeBadJSON},
		{"not an object", `[1,2]`, 400, CodeBadJSON},
		{"two values", `{"function":"hello"} {}`, 400, CodeBadJSON},
		{"unknown field", `{"function":"hello","sise":2}`, 400, CodeBadJSON},
		{"no function", `{"size":2}`, 400, CodeBadRequest},
		{"bad function name", `{"function":"a/b"}`, 400, CodeBadName},
		{"unknown function", `{"function":"nope"}`, 404, CodeUnknownFunction},
		{"size 0", `{"function":"hello","size":0}`, 400, CodeBadRequest},
		{"negative size", `{"function":"hello","size":-3}`, 400, CodeBadRequest},
		{"size not a number", `{"function":"hello","size":"8"}`, 400, CodeBadJSON},
		{"granularity 0", `{"function":"hello","size":4,"granularity":0}`, 400, CodeBadRequest},
		{"granularity over size", `{"function":"hello","size":4,"granularity":5}`, 400, CodeBadRequest},
		{"inputs too few", `{"function":"hello","size":3,"inputs":[1,2]}`, 400, CodeBadRequest},
		{"inputs too many", `{"function":"hello","size":1,"inputs":[1,2]}`, 400, CodeBadRequest},
		{"input and inputs", `{"function":"hello","size":1,"input":1,"inputs":[1]}`, 400, CodeBadRequest},
		{"unknown backend", `{"function":"hello","backend":"carrier-pigeon"}`, 400, CodeBadRequest},
		{"zero timeout", `{"function":"hello","timeout":"0s"}`, 400, CodeBadRequest},
		{"bad timeout", `{"function":"hello","timeout":"soon"}`, 400, CodeBadJSON},
		{"body too large", big, 413, CodeTooLarge},
		{"larger than the cluster", `{"function":"hello","size":65}`, 503, CodeNoCapacity},
		{"memory flare larger than an invoker", `{"function":"hello","size":65,"granularity":1,"backend":"memory"}`, 503, CodeNoCapacity},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.t = t
			c.apiError("POST", "/flares", tt.body, tt.status, tt.code)
		})
	}
	c.t = t
	c.apiError("POST", "/flares?wait=perhaps", `{"function":"hello"}`, 400, CodeBadRequest)
	status, b := c.do("GET", "/flares", nil)
	if status != http.StatusOK || !strings.Contains(string(b), `"flares":[]`) {
		t.Errorf("refused requests left records: %s", b)
	}
}

func TestUnknownFlare(t *testing.T) {
	c := newCluster(t, clusterOptions{})
	for _, tt := range []struct{ method, path string }{
		{"GET", "/flares/0190f0c2-0000-7000-8000-000000000000"},
		{"GET", "/flares/no-such-flare/results"},
		{"GET", "/flares/no-such-flare/logs"},
		{"GET", "/flares/no-such-flare/events"},
		{"DELETE", "/flares/no-such-flare"},
		{"GET", "/flares/a.b"},
	} {
		t.Run(tt.method+tt.path, func(t *testing.T) {
			c.t = t
			c.apiError(tt.method, tt.path, nil, http.StatusNotFound, CodeUnknownFlare)
		})
	}
	c.t = t
	c.apiError("GET", "/nothing/here", nil, http.StatusNotFound, CodeNotFound)
	c.apiError("PATCH", "/flares", nil, http.StatusMethodNotAllowed, CodeMethod)
}

func TestWorkerFailureFailsFlare(t *testing.T) {
	c := newCluster(t, clusterOptions{})
	faulty := plugin(t, "gateway/testdata/faulty")
	call[FunctionRecord](c, "PUT", "/functions/faulty", mustRead(t, faulty), http.StatusCreated)
	tests := []struct {
		name    string
		req     map[string]any
		wantErr string
		cause   int
	}{
		{"error", map[string]any{"function": "faulty", "size": 6, "granularity": 2, "input": map[string]any{"fail": 3}},
			"rank 3: boom from rank 3", 3},
		{"panic", map[string]any{"function": "faulty", "size": 6, "granularity": 3, "input": map[string]any{"panic": 5}},
			"rank 5: panic: kaboom from rank 5", 5},
		// An error longer than a NATS message must still fail the flare, not leave it
		// waiting for events that could not be sent until it times out.
		{"error of 10 MiB", map[string]any{"function": "faulty", "size": 4, "granularity": 2, "timeout": "1m", "input": map[string]any{"fail": 1, "pad": 10 << 20}},
			"rank 1: boom from rank 1xxx", 1},
		{"error of a built-in", map[string]any{"function": "sleep", "size": 4, "granularity": 2, "inputs": []any{"10s", "10s", "bogus", "10s"}},
			"rank 2: sleep:", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.t = t
			rec := c.run(tt.req)
			if rec.Status != control.StatusFailed || !strings.HasPrefix(rec.Error, tt.wantErr) {
				t.Fatalf("status %s %q, want failed %q", rec.Status, rec.Error, tt.wantErr)
			}
			for _, w := range rec.Workers {
				switch {
				case w.Rank == tt.cause && w.Status != control.StatusFailed:
					t.Errorf("rank %d: %s, want failed", w.Rank, w.Status)
				case w.Rank != tt.cause && w.Status != control.StatusAborted:
					// Peers blocked in a barrier or a sleep were released by the abort.
					t.Errorf("rank %d: %s %q, want aborted", w.Rank, w.Status, w.Error)
				}
			}
			if string(rec.Results[tt.cause]) != "null" {
				t.Errorf("failed rank has result %s", rec.Results[tt.cause])
			}
		})
	}
	c.t = t
	// The server keeps serving.
	if rec := c.run(map[string]any{"function": "faulty", "size": 6, "granularity": 2}); rec.Status != control.StatusSucceeded {
		t.Fatalf("after failures: %s %q", rec.Status, rec.Error)
	}
}

func TestTimeoutAndCancel(t *testing.T) {
	c := newCluster(t, clusterOptions{})
	rec := c.run(map[string]any{"function": "sleep", "size": 4, "granularity": 2, "input": "1m", "timeout": "200ms"})
	// The error says it once: not "flare timed out: flare timed out after ...".
	if rec.Status != control.StatusTimedOut || rec.Error != "timed out after 200ms" {
		t.Fatalf("status %s %q, want timed_out after 200ms", rec.Status, rec.Error)
	}
	for _, w := range rec.Workers {
		// A pack that its own deadline ended first may abort the others: aborted is
		// the echo of their timeout.
		if w.Status != control.StatusTimedOut && w.Status != control.StatusAborted ||
			w.Status == control.StatusTimedOut && w.Error != "timed out after 200ms" && w.Error != "flare timed out" {
			t.Errorf("worker %+v, want timed_out", w)
		}
	}

	rec = call[Record](c, "POST", "/flares", map[string]any{"function": "sleep", "size": 4, "granularity": 2, "input": "1m"}, http.StatusAccepted)
	eventually(t, func() bool {
		r := call[Record](c, "GET", "/flares/"+rec.ID, nil, http.StatusOK)
		return r.Workers[3].Status == control.StatusRunning
	}, "the sleepers to run")
	got := call[Record](c, "DELETE", "/flares/"+rec.ID, nil, http.StatusOK)
	if got.Status != control.StatusCancelled {
		t.Fatalf("DELETE answered %s, want cancelled", got.Status)
	}
	got = call[Record](c, "GET", "/flares/"+rec.ID, nil, http.StatusOK)
	checkWorkers(t, got, control.StatusCancelled)
	if got.Error != "cancelled by request" || got.Workers[0].Error != "cancelled by request" {
		t.Errorf("cancelled flare says %q, its rank 0 %q", got.Error, got.Workers[0].Error)
	}
	c.apiError("DELETE", "/flares/"+rec.ID, nil, http.StatusConflict, CodeFlareEnded)
	// The slots came back.
	c.gw.mu.Lock()
	used := c.gw.invokers["inv0"].used
	c.gw.mu.Unlock()
	if used != 0 {
		t.Errorf("%d slots still used", used)
	}
}

func TestQueue(t *testing.T) {
	c := newCluster(t, clusterOptions{slots: []int{4}})
	hold := call[Record](c, "POST", "/flares", map[string]any{"function": "sleep", "size": 4, "input": "1m"}, http.StatusAccepted)
	// No slot is free: the next flares wait, in order.
	second := call[Record](c, "POST", "/flares", map[string]any{"function": "hello", "size": 2}, http.StatusAccepted)
	expires := call[Record](c, "POST", "/flares", map[string]any{"function": "hello", "size": 4, "timeout": "100ms"}, http.StatusAccepted)
	if second.Status != control.StatusQueued || expires.Status != control.StatusQueued {
		t.Fatalf("statuses %s, %s, want queued", second.Status, expires.Status)
	}
	if got := c.waitFlare(expires.ID); got.Status != control.StatusTimedOut || len(got.Packs) != 0 {
		t.Fatalf("queued flare past its timeout: %s %+v", got.Status, got.Packs)
	}
	if got := call[Record](c, "GET", "/flares/"+second.ID, nil, http.StatusOK); got.Status != control.StatusQueued {
		t.Fatalf("second flare is %s while the first holds every slot", got.Status)
	}
	call[Record](c, "DELETE", "/flares/"+hold.ID, nil, http.StatusOK)
	if got := c.waitFlare(second.ID); got.Status != control.StatusSucceeded {
		t.Fatalf("second flare %s %q once slots were free", got.Status, got.Error)
	}
}

func TestQueueLimit(t *testing.T) {
	c := newCluster(t, clusterOptions{slots: []int{1}, gateway: Options{QueueLimit: 1}})
	hold := call[Record](c, "POST", "/flares", map[string]any{"function": "sleep", "input": "1m"}, http.StatusAccepted)
	call[Record](c, "POST", "/flares", map[string]any{"function": "hello"}, http.StatusAccepted)
	c.apiError("POST", "/flares", map[string]any{"function": "hello"}, http.StatusTooManyRequests, CodeQueueFull)
	call[Record](c, "DELETE", "/flares/"+hold.ID, nil, http.StatusOK)
}

func TestBackends(t *testing.T) {
	c := newCluster(t, clusterOptions{})
	faulty := plugin(t, "gateway/testdata/faulty")
	call[FunctionRecord](c, "PUT", "/functions/faulty", mustRead(t, faulty), http.StatusCreated)
	for _, backend := range control.Backends {
		t.Run(string(backend), func(t *testing.T) {
			c.t = t
			rec := c.run(map[string]any{"function": "faulty", "size": 10, "granularity": 3, "backend": backend})
			if rec.Status != control.StatusSucceeded || rec.Backend != backend {
				t.Fatalf("%s: %s %q", backend, rec.Status, rec.Error)
			}
			for i, raw := range rec.Results {
				if want := fmt.Sprintf(`{"peers":10,"rank":%d}`, i); string(raw) != want {
					t.Errorf("rank %d: %s, want %s", i, raw, want)
				}
			}
			// Four packs exchanged messages: the counters show remote traffic.
			if rec.Comm.RemoteMessages == 0 || rec.Comm.LocalMessages == 0 {
				t.Errorf("comm counters %+v", rec.Comm)
			}
			// The pack × pack matrix adds up to the remote bytes, with nothing on its
			// diagonal, and is stored with the record but left out of listings.
			checkTraffic(t, rec, 4)
			checkTraffic(t, call[Record](c, "GET", "/flares/"+rec.ID, nil, http.StatusOK), 4)
			for _, h := range call[FlareList](c, "GET", "/flares", nil, http.StatusOK).Flares {
				if h.Traffic != nil {
					t.Errorf("listing of %s has its traffic", h.ID)
				}
			}
			if backend == control.BackendJetStream {
				// The flare's stream goes once the flare is recorded.
				js, _ := jetstream.New(c.conns[0])
				if _, err := js.Stream(t.Context(), "BURST_"+rec.ID); !errors.Is(err, jetstream.ErrStreamNotFound) {
					t.Errorf("the flare's stream is still there: %v", err)
				}
			}
		})
	}
}

func checkTraffic(t *testing.T, rec Record, packs int) {
	t.Helper()
	tr := rec.Traffic
	if tr == nil || len(tr.Groups) != packs || len(tr.Bytes) != packs {
		t.Fatalf("traffic of %d packs: %+v", packs, tr)
	}
	var sum int64
	for i, row := range tr.Bytes {
		if tr.Groups[i] != [2]int{i, i} || row[i] != 0 {
			t.Errorf("group %d: packs %v, %d bytes to itself", i, tr.Groups[i], row[i])
		}
		for _, v := range row {
			sum += v
		}
	}
	if sum != rec.Comm.RemoteBytes || sum == 0 {
		t.Errorf("the matrix adds up to %d bytes, the counters say %d", sum, rec.Comm.RemoteBytes)
	}
}

func TestTenThousandWorkers(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 workers")
	}
	// The default settings: the invoker's default slots, the gateway's defaults.
	c := newCluster(t, clusterOptions{})
	rec := c.run(map[string]any{"function": "hello", "size": 10000, "granularity": 1000})
	if rec.Status != control.StatusSucceeded {
		t.Fatalf("%s %q", rec.Status, rec.Error)
	}
	if len(rec.Packs) != 10 || len(rec.Results) != 10000 {
		t.Fatalf("%d packs, %d results", len(rec.Packs), len(rec.Results))
	}
	for i, raw := range rec.Results {
		var r helloResult
		if err := json.Unmarshal(raw, &r); err != nil || r.Rank != i || r.Pack != i/1000 {
			t.Fatalf("result %d = %s", i, raw)
		}
	}
	checkWorkers(t, rec, control.StatusSucceeded)
	stored := call[Record](c, "GET", "/flares/"+rec.ID, nil, http.StatusOK)
	checkWorkers(t, stored, control.StatusSucceeded)
}

func TestListFlares(t *testing.T) {
	c := newCluster(t, clusterOptions{})
	var ids []string
	for i := range 3 {
		ids = append(ids, c.run(map[string]any{"function": "hello", "size": i + 1}).ID)
	}
	failed := c.run(map[string]any{"function": "sleep", "input": "nonsense"})
	tests := []struct {
		query string
		want  []string
		next  string
	}{
		{"", []string{failed.ID, ids[2], ids[1], ids[0]}, ""},
		{"?function=hello", []string{ids[2], ids[1], ids[0]}, ""},
		{"?status=failed", []string{failed.ID}, ""},
		{"?status=succeeded&limit=2", []string{ids[2], ids[1]}, ids[1]},
		{"?status=succeeded&limit=2&cursor=" + ids[1], []string{ids[0]}, ""},
		{"?limit=1&cursor=" + ids[2], []string{ids[1]}, ids[1]},
		{"?status=running", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			c.t = t
			l := call[FlareList](c, "GET", "/flares"+tt.query, nil, http.StatusOK)
			var got []string
			for _, r := range l.Flares {
				got = append(got, r.ID)
				if r.Workers != nil || r.Results != nil {
					t.Errorf("listing shows workers or results")
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) || l.Next != tt.next {
				t.Errorf("got %v (next %q), want %v (next %q)", got, l.Next, tt.want, tt.next)
			}
		})
	}
	c.t = t
	c.apiError("GET", "/flares?status=sleeping", nil, 400, CodeBadRequest)
	c.apiError("GET", "/flares?limit=0", nil, 400, CodeBadRequest)
	c.apiError("GET", "/flares?cursor=not.an.id", nil, 400, CodeBadRequest)
}

// TestRecordedInput: a record keeps a small input, to run the flare again, and leaves a
// large one and per-rank inputs out.
func TestRecordedInput(t *testing.T) {
	c := newCluster(t, clusterOptions{})
	large := strings.Repeat("x", maxRecordedInput)
	for _, tc := range []struct {
		req  map[string]any
		want string
	}{
		{map[string]any{"function": "hello", "input": map[string]int{"a": 1}}, `{"a":1}`},
		{map[string]any{"function": "hello", "input": large}, ""},
		{map[string]any{"function": "hello", "size": 2, "inputs": []int{1, 2}}, ""},
	} {
		rec := c.run(tc.req)
		got := call[Record](c, "GET", "/flares/"+rec.ID, nil, http.StatusOK)
		if string(got.Input) != tc.want || string(rec.Input) != tc.want {
			t.Errorf("input %.40s: recorded %.40s and %.40s, want %q", tc.req["input"], got.Input, rec.Input, tc.want)
		}
	}
}
