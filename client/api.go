package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/burstgo/burst/gateway"
)

// Functions lists the functions a key sees: its namespace's and the built-ins.
func (c *Client) Functions(ctx context.Context) ([]gateway.FunctionRecord, error) {
	var out struct {
		Functions []gateway.FunctionRecord `json:"functions"`
	}
	return out.Functions, c.do(ctx, "GET", "/functions", nil, &out)
}

// Function reads one function's record.
func (c *Client) Function(ctx context.Context, name string) (gateway.FunctionRecord, error) {
	var f gateway.FunctionRecord
	return f, c.do(ctx, "GET", "/functions/"+url.PathEscape(name), nil, &f)
}

// PushFunction uploads a plugin under name, with limits as PUT /functions/{name} takes
// them (memory, timeout, log_bytes, result_bytes; nil for the defaults).
func (c *Client) PushFunction(ctx context.Context, name string, plugin io.Reader, limits url.Values) (gateway.FunctionRecord, error) {
	var f gateway.FunctionRecord
	path := "/functions/" + url.PathEscape(name)
	if len(limits) > 0 {
		path += "?" + limits.Encode()
	}
	return f, c.send(ctx, "PUT", path, "application/octet-stream", plugin, &f)
}

// DeleteFunction deletes a registered function and returns its last record.
func (c *Client) DeleteFunction(ctx context.Context, name string) (gateway.FunctionRecord, error) {
	var f gateway.FunctionRecord
	return f, c.do(ctx, "DELETE", "/functions/"+url.PathEscape(name), nil, &f)
}

// RunFlare starts a flare. With wait, it answers once the flare has ended (or the
// gateway's wait bound has passed: the record then says it runs still).
func (c *Client) RunFlare(ctx context.Context, req gateway.FlareRequest, wait bool) (gateway.Record, error) {
	var rec gateway.Record
	path := "/flares"
	if wait {
		path += "?wait=true"
	}
	return rec, c.do(ctx, "POST", path, req, &rec)
}

// Flare reads a flare's record.
func (c *Client) Flare(ctx context.Context, id string) (gateway.Record, error) {
	var rec gateway.Record
	return rec, c.do(ctx, "GET", "/flares/"+url.PathEscape(id), nil, &rec)
}

// FlareQuery filters and pages GET /flares; zero fields are not sent.
type FlareQuery struct {
	Status   string
	Function string
	Limit    int
	Cursor   string
}

// Flares lists flares, newest first; the answer's Next is the cursor of the next page.
func (c *Client) Flares(ctx context.Context, q FlareQuery) (gateway.FlareList, error) {
	v := url.Values{}
	for k, s := range map[string]string{"status": q.Status, "function": q.Function, "cursor": q.Cursor} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	path := "/flares"
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	var l gateway.FlareList
	return l, c.do(ctx, "GET", path, nil, &l)
}

// Results reads a flare's results, one per rank.
func (c *Client) Results(ctx context.Context, id string) (gateway.FlareResults, error) {
	var r gateway.FlareResults
	return r, c.do(ctx, "GET", "/flares/"+url.PathEscape(id)+"/results", nil, &r)
}

// Logs reads a flare's log lines; rank < 0 means every rank's.
func (c *Client) Logs(ctx context.Context, id string, rank int) (gateway.FlareLogs, error) {
	path := "/flares/" + url.PathEscape(id) + "/logs"
	if rank >= 0 {
		path += "?rank=" + strconv.Itoa(rank)
	}
	var l gateway.FlareLogs
	return l, c.do(ctx, "GET", path, nil, &l)
}

// CancelFlare cancels a flare and returns its record.
func (c *Client) CancelFlare(ctx context.Context, id string) (gateway.Record, error) {
	var rec gateway.Record
	return rec, c.do(ctx, "DELETE", "/flares/"+url.PathEscape(id), nil, &rec)
}

// Invokers lists the invokers the gateway knows.
func (c *Client) Invokers(ctx context.Context) ([]gateway.InvokerInfo, error) {
	var out struct {
		Invokers []gateway.InvokerInfo `json:"invokers"`
	}
	return out.Invokers, c.do(ctx, "GET", "/invokers", nil, &out)
}

// An Event is one server-sent event of a flare: record (the flare's record), started,
// logs, workers, ended, status, end.
type Event struct {
	ID   string
	Name string
	Data json.RawMessage
}

// Events follows a flare's server-sent events until the stream ends (after "end"), ctx
// ends or it breaks; a broken stream yields its error last.
func (c *Client) Events(ctx context.Context, id string) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		resp, err := c.open(ctx, "GET", "/flares/"+url.PathEscape(id)+"/events", "", nil)
		if err != nil {
			yield(Event{}, err)
			return
		}
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 64<<20)
		var ev Event
		var data bytes.Buffer
		for sc.Scan() {
			line := sc.Text()
			if line == "" {
				if ev.Name != "" || data.Len() > 0 {
					ev.Data = json.RawMessage(bytes.Clone(data.Bytes()))
					if !yield(ev, nil) {
						return
					}
				}
				ev, data = Event{}, bytes.Buffer{}
				continue
			}
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "id":
				ev.ID = value
			case "event":
				ev.Name = value
			case "data":
				if data.Len() > 0 {
					data.WriteByte('\n')
				}
				data.WriteString(value)
			}
		}
		if err := sc.Err(); err != nil && ctx.Err() == nil {
			yield(Event{}, fmt.Errorf("events of flare %s: %w", id, err))
		}
	}
}

// open sends a request and returns the answer for its body to be read, or the API's
// error.
func (c *Client) open(ctx context.Context, method, path, contentType string, body io.Reader) (*http.Response, error) {
	base := c.URL
	if base == "" {
		base = DefaultURL
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(base, "/")+path, body)
	if err != nil {
		return nil, err
	}
	if s, ok := body.(sized); ok && s.n >= 0 {
		req.ContentLength = s.n
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.Key != "" {
		req.Header.Set("Authorization", "Bearer "+c.Key)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return nil, apiError(method, path, resp, b)
	}
	return resp, nil
}

// Namespaces lists the namespaces a key sees: all for the cluster's admins, else its own.
func (c *Client) Namespaces(ctx context.Context) ([]gateway.Namespace, error) {
	var out struct {
		Namespaces []gateway.Namespace `json:"namespaces"`
	}
	return out.Namespaces, c.do(ctx, "GET", "/namespaces", nil, &out)
}

// Namespace reads a namespace and its limits.
func (c *Client) Namespace(ctx context.Context, name string) (gateway.Namespace, error) {
	var ns gateway.Namespace
	return ns, c.do(ctx, "GET", "/namespaces/"+url.PathEscape(name), nil, &ns)
}

// PutNamespace makes a namespace or sets its limits (the default namespace's admins).
func (c *Client) PutNamespace(ctx context.Context, name string, limits gateway.NamespaceLimits) (gateway.Namespace, error) {
	var ns gateway.Namespace
	return ns, c.do(ctx, "PUT", "/namespaces/"+url.PathEscape(name), gateway.NamespaceRequest{Limits: limits}, &ns)
}
