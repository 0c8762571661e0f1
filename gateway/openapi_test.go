package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/go-chi/chi/v5"
)

// loadOpenAPI loads and checks the gateway's OpenAPI document.
func loadOpenAPI(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(openAPI)
	if err != nil {
		t.Fatal(err)
	}
	if !doc.IsOpenAPI31OrLater() {
		t.Errorf("openapi %s, want 3.1", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.json is not a valid document: %v", err)
	}
	return doc
}

// TestOpenAPIRoutes walks the router and the document both ways: every route is
// described, and every described operation is a route.
func TestOpenAPIRoutes(t *testing.T) {
	doc := loadOpenAPI(t)
	c := newCluster(t, clusterOptions{})
	var routes []string
	err := chi.Walk(c.gw.router, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		if route == "/ui/*" {
			return nil // the dashboard's files, not the API
		}
		if len(route) > 1 {
			route = strings.TrimSuffix(route, "/") // a subrouter's root
		}
		routes = append(routes, method+" "+route)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var described []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			described = append(described, method+" "+path)
		}
	}
	for _, r := range routes {
		if !slices.Contains(described, r) {
			t.Errorf("route %s is not in openapi.json", r)
		}
	}
	for _, d := range described {
		if !slices.Contains(routes, d) {
			t.Errorf("openapi.json describes %s, which is no route", d)
		}
	}
	slices.Sort(described)
	if !slices.Equal(described, apiIndex) {
		t.Errorf("GET / lists %v, the document %v", apiIndex, described)
	}
}

// validator checks real answers of the gateway against the document.
type validator struct {
	t      *testing.T
	c      *cluster
	router routers.Router
}

// check sends a request and validates it and its answer against the document; it
// returns the answer's status and body.
func (v *validator) check(method, path, contentType string, body []byte) (int, []byte) {
	v.t.Helper()
	req, _ := http.NewRequest(method, v.c.url+path, bytes.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if v.c.key != "" {
		req.Header.Set("Authorization", "Bearer "+v.c.key)
	}
	route, params, err := v.router.FindRoute(req)
	if err != nil {
		v.t.Fatalf("%s %s: not in the document: %v", method, path, err)
	}
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		v.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode < 300 && body != nil && contentType == "application/json" {
		// A request the gateway took must be one the document allows.
		req.Body = io.NopCloser(bytes.NewReader(body))
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			v.t.Errorf("%s %s: the request does not match the document: %v", method, path, err)
		}
	}
	err = openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header, Body: io.NopCloser(bytes.NewReader(b)), Options: opts,
	})
	if err != nil {
		v.t.Errorf("%s %s: %d answer does not match the document: %v\n%s", method, path, resp.StatusCode, err, b)
	}
	return resp.StatusCode, b
}

// TestOpenAPIAnswers runs every operation but the event stream against a real gateway,
// successes and errors, and validates each request and answer against the document.
func TestOpenAPIAnswers(t *testing.T) {
	doc := loadOpenAPI(t)
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	c := newCluster(t, clusterOptions{slots: []int{64}})
	v := &validator{t: t, c: c, router: router}
	js := func(x any) []byte { b, _ := json.Marshal(x); return b }

	for _, p := range []string{"/", "/openapi.json", "/livez", "/readyz", "/functions", "/flares", "/invokers", "/namespaces", "/metrics"} {
		v.check("GET", p, "", nil)
	}
	_, b := v.check("POST", "/keys", "application/json", js(map[string]any{"role": "admin", "name": "root"}))
	var admin NewKey
	json.Unmarshal(b, &admin)
	c.key = admin.Secret
	v.check("GET", "/keys", "", nil)
	_, b = v.check("POST", "/keys", "application/json", js(map[string]any{"role": "reader", "expires_in": "1h"}))
	var reader NewKey
	json.Unmarshal(b, &reader)
	v.check("DELETE", "/keys/"+reader.ID, "", nil)
	v.check("DELETE", "/keys/"+reader.ID, "", nil) // 404
	v.check("PUT", "/namespaces/team", "application/json", js(map[string]any{"limits": map[string]any{"workers": 8, "rate": 2.5}}))
	v.check("PUT", "/namespaces/team", "application/json", js(map[string]any{"limits": map[string]any{}}))
	v.check("GET", "/namespaces/team", "", nil)
	v.check("GET", "/namespaces/nowhere", "", nil)

	plug := mustRead(t, plugin(t, "gateway/testdata/pingpong"))
	v.check("PUT", "/functions/pp?memory=64MiB&timeout=1m", "application/octet-stream", plug)
	v.check("PUT", "/functions/pp?memory=64MiB&timeout=1m", "application/octet-stream", plug)
	v.check("PUT", "/functions/junk", "application/octet-stream", []byte("not a plugin"))
	v.check("GET", "/functions", "", nil)
	v.check("GET", "/functions/pp", "", nil)
	v.check("GET", "/functions/hello", "", nil)
	v.check("GET", "/functions/nope", "", nil)

	v.check("PUT", "/datasets/pts", "application/octet-stream", []byte("1,2\n3,4\n"))
	v.check("PUT", "/datasets/pts", "application/octet-stream", []byte("1,2\n3,4\n5,6\n"))
	v.check("PUT", "/datasets/a.b", "application/octet-stream", []byte("1\n"))
	v.check("GET", "/datasets", "", nil)
	v.check("GET", "/datasets/pts", "", nil)
	v.check("GET", "/datasets/pts/content", "", nil)
	v.check("GET", "/datasets/nope", "", nil)
	v.check("DELETE", "/datasets/pts", "", nil)
	v.check("DELETE", "/datasets/pts", "", nil) // 404

	_, b = v.check("POST", "/flares?wait=true", "application/json",
		js(map[string]any{"function": "pp", "size": 2, "granularity": 1, "input": map[string]int{"bytes": 8, "rounds": 2}}))
	var rec Record
	json.Unmarshal(b, &rec)
	v.check("POST", "/flares", "application/json", js(map[string]any{"function": "hello", "size": 3, "inputs": []string{"a", "b", "c"}, "timeout": "30s"}))
	v.check("POST", "/flares", "application/json", js(map[string]any{"function": "hello", "size": 2, "granularity": 3}))
	v.check("POST", "/flares", "application/json", []byte(`{"function":"hello","colour":"red"}`))
	for _, p := range []string{"", "/results", "/logs", "/logs?rank=1"} {
		v.check("GET", "/flares/"+rec.ID+p, "", nil)
	}
	v.check("GET", "/flares/01900000-0000-7000-8000-000000000001", "", nil)
	v.check("GET", "/flares?function=pp&status=succeeded&limit=5", "", nil)
	_, b = v.check("POST", "/flares", "application/json", js(map[string]any{"function": "sleep", "input": "1m"}))
	json.Unmarshal(b, &rec)
	v.check("DELETE", "/flares/"+rec.ID, "", nil)
	v.check("DELETE", "/flares/"+rec.ID, "", nil) // 409
	v.check("DELETE", "/functions/pp", "", nil)
	v.check("DELETE", "/functions/hello", "", nil) // 409, a built-in
	c.key = ""
	v.check("GET", "/flares", "", nil) // 401
}
