package client

import (
	"context"
	"io"
	"net/url"

	"github.com/burstgo/burst/datasets"
)

// Datasets lists the datasets of the key's namespace.
func (c *Client) Datasets(ctx context.Context) ([]datasets.Info, error) {
	var out struct {
		Datasets []datasets.Info `json:"datasets"`
	}
	return out.Datasets, c.do(ctx, "GET", "/datasets", nil, &out)
}

// Dataset reads one dataset's manifest.
func (c *Client) Dataset(ctx context.Context, name string) (datasets.Info, error) {
	var info datasets.Info
	return info, c.do(ctx, "GET", "/datasets/"+url.PathEscape(name), nil, &info)
}

// PutDataset stores the size bytes body holds as dataset name (size -1 when unknown,
// sent chunked), streaming them: wrap body to see the progress.
func (c *Client) PutDataset(ctx context.Context, name string, body io.Reader, size int64) (datasets.Info, error) {
	var info datasets.Info
	return info, c.send(ctx, "PUT", "/datasets/"+url.PathEscape(name), "application/octet-stream", sized{body, size}, &info)
}

// DatasetContent opens a dataset's bytes; the caller closes them. A body cut short
// (the dataset replaced meanwhile) ends in an error.
func (c *Client) DatasetContent(ctx context.Context, name string) (io.ReadCloser, error) {
	resp, err := c.open(ctx, "GET", "/datasets/"+url.PathEscape(name)+"/content", "", nil)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// DeleteDataset deletes a dataset and returns its manifest.
func (c *Client) DeleteDataset(ctx context.Context, name string) (datasets.Info, error) {
	var info datasets.Info
	return info, c.do(ctx, "DELETE", "/datasets/"+url.PathEscape(name), nil, &info)
}

// sized is a request body of a known length, sent with a Content-Length.
type sized struct {
	io.Reader
	n int64
}
