package gateway

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/burstgo/burst/control"
	"github.com/burstgo/burst/datasets"
	"github.com/burstgo/burst/functions/examples/dataset"
)

// TestDatasets stores the data of the five example apps as datasets and runs each app
// on the file and on the dataset, in one pack and in two, on an invoker that joined the
// closed bus with a key: its packs read over their flare's own connection, with the
// flare's permissions, and an uploaded kmeans reads from a function host. The answers
// agree byte for byte.
func TestDatasets(t *testing.T) {
	c := newCluster(t, clusterOptions{slots: []int{}, gateway: Options{MaxDataset: 8 << 20}})
	key := c.joinKey("joined")
	c.addInvokerOpts("joined", invokerOpts{slots: 16, joinKey: key.Secret, isolation: control.IsolationProcess})
	c.waitInvokers(1)
	dir := t.TempDir()
	stored := map[string][]byte{}
	put := func(name string, write func(io.Writer) error) {
		t.Helper()
		var buf bytes.Buffer
		if err := write(&buf); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		info := call[datasets.Info](c, "PUT", "/datasets/"+name, buf.Bytes(), http.StatusCreated)
		if info.Name != name || info.Size != int64(buf.Len()) || info.Namespace != DefaultNamespace || info.SHA256 == "" {
			t.Fatalf("stored %s: %+v", name, info)
		}
		stored[name] = buf.Bytes()
	}
	put("points", dataset.Points{N: 3000, Dims: 3, Seed: 1}.WriteCSV)
	put("edges", dataset.Graph{Nodes: 2000, Seed: 2}.WriteEdgeList)
	put("records", func(w io.Writer) error { _, err := dataset.Records{N: 5000, Seed: 3}.WriteTo(w); return err })
	put("samples", dataset.Regression{Samples: 300, Features: 2, Seed: 4}.WriteCSV)

	call[FunctionRecord](c, "PUT", "/functions/kmeansp", mustRead(t, plugin(t, "functions/examples/kmeans/plugin")), http.StatusCreated)
	apps := []struct {
		function, data string
		input          map[string]any
	}{
		{"kmeans", "points", map[string]any{"k": 4, "iterations": 10}},
		{"kmeansp", "points", map[string]any{"k": 4, "iterations": 10}},
		{"kmeans-balanced", "points", map[string]any{"k": 4, "iterations": 3}},
		{"pagerank", "edges", map[string]any{"iterations": 20}},
		{"terasort", "records", map[string]any{"samples": 16}},
		{"gridsearch", "samples", map[string]any{"degrees": []int{1, 2}, "folds": 3}},
	}
	results := func(app string, size, granularity int, input map[string]any) string {
		t.Helper()
		rec := c.run(map[string]any{"function": app, "size": size, "granularity": granularity, "input": input})
		if rec.Status != control.StatusSucceeded {
			t.Fatalf("%s on %v: %s: %s", app, input, rec.Status, rec.Error)
		}
		res := call[struct{ Results []map[string]any }](c, "GET", "/flares/"+rec.ID+"/results", nil, http.StatusOK).Results
		for _, r := range res {
			delete(r, "comm") // the input's own bytes differ, in the broadcast that checks it
		}
		return mustJSON(t, res)
	}
	for _, app := range apps {
		for _, layout := range [][2]int{{1, 1}, {4, 2}} {
			onFile, onDataset := map[string]any{"file": filepath.Join(dir, app.data)}, map[string]any{"dataset": app.data}
			for k, v := range app.input {
				onFile[k], onDataset[k] = v, v
			}
			want := results(app.function, layout[0], layout[1], onFile)
			if got := results(app.function, layout[0], layout[1], onDataset); got != want {
				t.Errorf("%s in %d packs: on the dataset\n%.400s\non the file\n%.400s", app.function, layout[0]/layout[1], got, want)
			}
		}
	}

	// A dataset that is not there fails the flare, saying where it looked.
	rec := c.run(map[string]any{"function": "terasort", "size": 2, "granularity": 1, "input": map[string]any{"dataset": "nope"}})
	if rec.Status != control.StatusFailed || !strings.Contains(rec.Error, `no dataset "nope" in namespace default`) {
		t.Errorf("an unknown dataset: %s %q", rec.Status, rec.Error)
	}

	// The API: a list, a manifest, the bytes back, a replacement, errors that keep
	// what is stored, a delete.
	list := call[struct{ Datasets []datasets.Info }](c, "GET", "/datasets", nil, http.StatusOK).Datasets
	if len(list) != 4 || list[0].Name != "edges" || list[3].Name != "samples" {
		t.Errorf("GET /datasets: %+v", list)
	}
	resp, body := c.send("GET", "/datasets/records/content", nil)
	points := call[datasets.Info](c, "GET", "/datasets/records", nil, http.StatusOK)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, stored["records"]) || resp.Header.Get("Digest") != "sha-256="+points.SHA256 {
		t.Errorf("GET content: %d, %d bytes, digest %q", resp.StatusCode, len(body), resp.Header.Get("Digest"))
	}
	c.apiError("PUT", "/datasets/points", bytes.Repeat([]byte("1,2\n"), 3<<20), http.StatusRequestEntityTooLarge, CodeTooLarge)
	c.apiError("PUT", "/datasets/a.b", "1\n", http.StatusBadRequest, CodeBadName)
	c.apiError("GET", "/datasets/nope", nil, http.StatusNotFound, CodeUnknownDataset)
	c.apiError("GET", "/datasets/nope/content", nil, http.StatusNotFound, CodeUnknownDataset)
	resp, body = c.send("GET", "/datasets/points/content", nil)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, stored["points"]) {
		t.Errorf("points after a refused upload: %d, %d bytes", resp.StatusCode, len(body))
	}
	again := call[datasets.Info](c, "PUT", "/datasets/samples", "1,2,3\n4,5,6\n", http.StatusOK)
	if again.Size != 12 {
		t.Errorf("replaced: %+v", again)
	}
	if gone := call[datasets.Info](c, "DELETE", "/datasets/samples", nil, http.StatusOK); gone.Version != again.Version {
		t.Errorf("deleted %+v, want %+v", gone, again)
	}
	c.apiError("GET", "/datasets/samples", nil, http.StatusNotFound, CodeUnknownDataset)
	c.apiError("DELETE", "/datasets/samples", nil, http.StatusNotFound, CodeUnknownDataset)
}

// A namespace's datasets are its own: another namespace neither lists nor reads them,
// and its flares look in their own namespace.
func TestDatasetNamespaces(t *testing.T) {
	c := newCluster(t, clusterOptions{slots: []int{8}})
	root := c.as(call[NewKey](c, "POST", "/keys", map[string]any{"role": "admin"}, http.StatusCreated).Secret)
	call[Namespace](root, "PUT", "/namespaces/team", map[string]any{}, http.StatusCreated)
	team := c.as(call[NewKey](root, "POST", "/keys", map[string]any{"role": "developer", "namespace": "team"}, http.StatusCreated).Secret)
	runner := c.as(call[NewKey](root, "POST", "/keys", map[string]any{"role": "runner", "namespace": "team"}, http.StatusCreated).Secret)
	if info := call[datasets.Info](team, "PUT", "/datasets/pts", "1,2\n3,4\n5,6\n", http.StatusCreated); info.Namespace != "team" {
		t.Errorf("stored in %q", info.Namespace)
	}
	runner.apiError("PUT", "/datasets/pts", "1,2\n", http.StatusForbidden, CodeForbidden)
	root.apiError("GET", "/datasets/pts", nil, http.StatusNotFound, CodeUnknownDataset)
	if list := call[struct{ Datasets []datasets.Info }](root, "GET", "/datasets", nil, http.StatusOK).Datasets; len(list) != 0 {
		t.Errorf("the default namespace lists %+v", list)
	}
	in := map[string]any{"function": "kmeans", "size": 2, "granularity": 1, "input": map[string]any{"k": 2, "dataset": "pts"}}
	if rec := call[Record](runner, "POST", "/flares?wait=true", in, http.StatusOK); rec.Status != control.StatusSucceeded {
		t.Errorf("team's flare on its dataset: %s %q", rec.Status, rec.Error)
	}
	if rec := call[Record](root, "POST", "/flares?wait=true", in, http.StatusOK); rec.Status != control.StatusFailed || !strings.Contains(rec.Error, `no dataset "pts" in namespace default`) {
		t.Errorf("default's flare on team's dataset: %s %q", rec.Status, rec.Error)
	}

	// dataset_bytes bounds a namespace's datasets together; a replacement counts
	// instead of the one it replaces, and what is refused keeps nothing.
	call[Namespace](root, "PUT", "/namespaces/team", map[string]any{"limits": map[string]any{"dataset_bytes": 20}}, http.StatusOK)
	msg := team.apiError("PUT", "/datasets/more", "1,2\n3,4\n5,\n", http.StatusRequestEntityTooLarge, CodeOverLimit)
	if !strings.Contains(msg, "may hold 8 bytes more") {
		t.Errorf("over the namespace's bound: %q", msg)
	}
	team.apiError("GET", "/datasets/more", nil, http.StatusNotFound, CodeUnknownDataset)
	if info := call[datasets.Info](team, "PUT", "/datasets/pts", "1,2\n3,4\n5,6\n7,8\n90\n", http.StatusOK); info.Size != 19 {
		t.Errorf("a replacement within the bound: %+v", info)
	}
	call[datasets.Info](team, "PUT", "/datasets/one", "1", http.StatusCreated)
	team.apiError("PUT", "/datasets/two", "1", http.StatusRequestEntityTooLarge, CodeOverLimit)
	// The default namespace has no such bound.
	call[datasets.Info](root, "PUT", "/datasets/big", strings.Repeat("1,2\n", 100), http.StatusCreated)
}
