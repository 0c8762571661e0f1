package gateway

import (
	_ "embed"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
)

// openAPI is the API's OpenAPI 3.1 description, kept beside the code and tested against
// the router and the answers (openapi_test.go).
//
//go:embed openapi.json
var openAPI []byte

func (g *Gateway) getOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write(openAPI)
}

// apiIndex is "METHOD path" of every operation of the OpenAPI document, sorted.
var apiIndex = func() []string {
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		panic("gateway: openapi.json: " + err.Error())
	}
	var out []string
	for path, ops := range doc.Paths {
		for method := range ops {
			if method != "parameters" {
				out = append(out, strings.ToUpper(method)+" "+path)
			}
		}
	}
	slices.Sort(out)
	return out
}()
