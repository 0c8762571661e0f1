package gateway

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/burstgo/burst/datasets"
)

// Datasets: PUT /datasets/{name} streams its body into the cluster's JetStream
// (package datasets), where a flare's workers read it by byte range from any host;
// GET lists or describes them, GET …/content gives one back, DELETE removes one. They
// belong to the key's namespace, as functions do.

// A countingReader reads the request's body and keeps its error, so that a client that
// went away is told from a store that failed.
type countingReader struct {
	r   io.Reader
	n   int64
	err error
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err != nil && err != io.EOF {
		c.err = err
	}
	return n, err
}

func (g *Gateway) putDataset(w http.ResponseWriter, r *http.Request) {
	name, ns := datasetName(r), principalOf(r).namespace
	if r.ContentLength > g.opts.MaxDataset {
		writeError(w, r, errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "dataset of %d bytes is over the %d-byte bound", r.ContentLength, g.opts.MaxDataset))
		return
	}
	_, err := g.datasets.Info(r.Context(), ns, name)
	replaced := err == nil
	limit, quota, err := g.datasetRoom(r.Context(), ns, name)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if r.ContentLength > limit && quota {
		writeError(w, r, errorf(http.StatusRequestEntityTooLarge, CodeOverLimit, "namespace %s's datasets may hold %d bytes more, and this one has %d", ns, max(limit, 0), r.ContentLength))
		return
	}
	body := &countingReader{r: r.Body}
	info, err := g.datasets.Put(r.Context(), ns, name, body, max(limit, 0), nil)
	switch {
	case errors.Is(err, datasets.ErrTooLarge) && quota:
		writeError(w, r, errorf(http.StatusRequestEntityTooLarge, CodeOverLimit, "namespace %s's datasets may hold %d bytes more: this one is larger; nothing of it was kept", ns, max(limit, 0)))
		return
	case errors.Is(err, datasets.ErrTooLarge):
		writeError(w, r, errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "dataset is over the %d-byte bound", g.opts.MaxDataset))
		return
	case errors.Is(err, datasets.ErrConflict):
		writeError(w, r, errorf(http.StatusConflict, CodeConflict, "dataset %s was replaced by another upload while this one was sent; nothing of this one was kept", name))
		return
	case body.err != nil:
		writeError(w, r, errorf(http.StatusBadRequest, CodeBadRequest, "reading the dataset after %d bytes: %v; nothing of it was kept", body.n, body.err))
		return
	case err != nil:
		writeError(w, r, err)
		return
	}
	g.log.Info("dataset stored", "namespace", ns, "dataset", name, "bytes", info.Size, "version", info.Version)
	status := http.StatusCreated
	if replaced {
		status = http.StatusOK
	}
	writeJSON(w, status, info)
}

// datasetRoom is the most an upload of dataset name of namespace ns may store: the
// gateway's bound, or less under the namespace's dataset_bytes (quota says so), counting
// every dataset of the namespace but the one it replaces. Two uploads at once may both
// fit alone and go over together: the bound is checked, not reserved.
func (g *Gateway) datasetRoom(ctx context.Context, ns, name string) (limit int64, quota bool, err error) {
	g.mu.Lock()
	var bound int64
	if st := g.namespaces[ns]; st != nil {
		bound = st.Limits.DatasetBytes
	}
	g.mu.Unlock()
	if bound == 0 {
		return g.opts.MaxDataset, false, nil
	}
	list, err := g.datasets.List(ctx, ns)
	if err != nil {
		return 0, false, err
	}
	used := int64(0)
	for _, d := range list {
		if d.Name != name {
			used += d.Size
		}
	}
	if room := bound - used; room < g.opts.MaxDataset {
		return room, true, nil
	}
	return g.opts.MaxDataset, false, nil
}

func (g *Gateway) listDatasets(w http.ResponseWriter, r *http.Request) {
	list, err := g.datasets.List(r.Context(), principalOf(r).namespace)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"datasets": list})
}

// dataset finds the dataset of the path, or answers 404.
func (g *Gateway) dataset(w http.ResponseWriter, r *http.Request) (datasets.Info, bool) {
	info, err := g.datasets.Info(r.Context(), principalOf(r).namespace, datasetName(r))
	if errors.Is(err, datasets.ErrNotFound) {
		err = errorf(http.StatusNotFound, CodeUnknownDataset, "no dataset %q: see GET /datasets", datasetName(r))
	}
	if err != nil {
		writeError(w, r, err)
		return info, false
	}
	return info, true
}

func (g *Gateway) getDataset(w http.ResponseWriter, r *http.Request) {
	if info, ok := g.dataset(w, r); ok {
		writeJSON(w, http.StatusOK, info)
	}
}

// getDatasetContent writes the dataset's bytes. Once the first is sent, a failure can
// only cut the body short: the client sees fewer bytes than Content-Length.
func (g *Gateway) getDatasetContent(w http.ResponseWriter, r *http.Request) {
	info, ok := g.dataset(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(info.Size, 10))
	w.Header().Set("Digest", "sha-256="+info.SHA256)
	w.WriteHeader(http.StatusOK)
	if _, err := g.datasets.WriteTo(r.Context(), info, w); err != nil {
		g.log.Warn("dataset content cut short", "dataset", info.Name, "err", err)
	}
}

func (g *Gateway) deleteDataset(w http.ResponseWriter, r *http.Request) {
	info, err := g.datasets.Delete(r.Context(), principalOf(r).namespace, datasetName(r))
	if errors.Is(err, datasets.ErrNotFound) {
		err = errorf(http.StatusNotFound, CodeUnknownDataset, "no dataset %q: see GET /datasets", datasetName(r))
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	g.log.Info("dataset deleted", "namespace", info.Namespace, "dataset", info.Name)
	writeJSON(w, http.StatusOK, info)
}
