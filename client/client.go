// Package client is a Go client of Burst's HTTP API.
//
// A Client sends each request with the caller's context and, when it has a key, an
// Authorization: Bearer header; an answer that is the API's JSON error comes back as
// an *APIError, which carries the HTTP status and the error's stable code.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/burstgo/burst/gateway"
)

// DefaultURL is where `burst serve` listens unless told otherwise.
const DefaultURL = "http://127.0.0.1:8080"

// A Client talks to one gateway.
type Client struct {
	// URL is the gateway's base URL; empty means DefaultURL.
	URL string
	// Key is the API key sent with every request; empty sends none.
	Key string
	// HTTP sends the requests; nil means http.DefaultClient.
	HTTP *http.Client
}

// An APIError is the gateway's answer to a request it refused.
type APIError struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s (%d %s)", e.Message, e.Status, e.Code)
}

// CreateKey makes an API key; the answer holds the key, which is shown this once.
func (c *Client) CreateKey(ctx context.Context, req gateway.KeyRequest) (gateway.NewKey, error) {
	var k gateway.NewKey
	return k, c.do(ctx, "POST", "/keys", req, &k)
}

// Keys lists the API keys, oldest first.
func (c *Client) Keys(ctx context.Context) ([]gateway.Key, error) {
	var out struct {
		Keys []gateway.Key `json:"keys"`
	}
	return out.Keys, c.do(ctx, "GET", "/keys", nil, &out)
}

// RevokeKey revokes the key with id; it fails from the moment this returns.
func (c *Client) RevokeKey(ctx context.Context, id string) error {
	return c.do(ctx, "DELETE", "/keys/"+url.PathEscape(id), nil, nil)
}

// do sends a request with in as its JSON body (none when nil) and decodes the answer
// into out (skipped when nil).
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	if in == nil {
		return c.send(ctx, method, path, "", nil, out)
	}
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return c.send(ctx, method, path, "application/json", bytes.NewReader(b), out)
}

// send sends a request with body and decodes the answer into out (skipped when nil).
func (c *Client) send(ctx context.Context, method, path, contentType string, body io.Reader, out any) error {
	resp, err := c.open(ctx, method, path, contentType, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: the answer is not what was expected: %w", method, path, err)
	}
	return nil
}

// apiError is the error of an answer of status 300 or more: the API's own, or one
// that quotes what came instead.
func apiError(method, path string, resp *http.Response, body []byte) error {
	var e struct {
		Error *APIError `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != nil && e.Error.Code != "" {
		e.Error.Status = resp.StatusCode
		return e.Error
	}
	return &APIError{Status: resp.StatusCode, Code: "http", Message: fmt.Sprintf("%s %s: %s: %s", method, path, resp.Status, clip(body))}
}

// clip shortens a body that is not the API's error for a message.
func clip(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
