package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/burstgo/burst/datasets"
	"github.com/burstgo/burst/functions/examples/dataset"
)

// TestDataWritesWhatTheAppsRead writes each dataset with `burst data` and reads it back
// with the apps' own readers: the file holds exactly the generated data.
func TestDataWritesWhatTheAppsRead(t *testing.T) {
	dir := t.TempDir()
	data := func(kind, spec string) dataset.Source {
		t.Helper()
		path := filepath.Join(dir, kind)
		var out, errOut bytes.Buffer
		if code := run(context.Background(), []string{"data", kind, spec, "-o", path}, nil, &out, &errOut); code != 0 {
			t.Fatalf("burst data %s: exit %d: %s", kind, code, errOut.String())
		}
		f, err := dataset.OpenFile(path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}

	pts := dataset.Points{N: 50, Dims: 3, Seed: 4}
	got, dims, err := dataset.ReadPoints(data("points", `{"points":50,"dims":3,"seed":4}`), 0, 1)
	want := pts.WithDefaults().Generate(0, 50)
	if err != nil || dims != 3 || len(got) != len(want) {
		t.Fatalf("points: %d values of %d dims, %v; want %d", len(got), dims, err, len(want))
	}
	for i := range got {
		if d := got[i] - want[i]; d > 1e-12 || d < -1e-12 {
			t.Fatalf("points: value %d = %v, want %v", i, got[i], want[i])
		}
	}

	recs, err := dataset.ReadRecords(data("records", `{"records":20,"seed":2}`), 0, 1)
	if err != nil || !bytes.Equal(recs, dataset.Records{N: 20, Seed: 2}.Generate(0, 20)) {
		t.Fatalf("records differ from the generator's (%d bytes, %v)", len(recs), err)
	}

	g := dataset.Graph{Nodes: 30, Seed: 5}.WithDefaults()
	src, dst, err := dataset.ReadEdges(data("graph", `{"nodes":30,"seed":5}`), 0, 1)
	offsets, targets := g.Generate(0, 30)
	if err != nil || len(src) != len(targets) || len(dst) != len(targets) {
		t.Fatalf("graph: %d edges, %v; want %d", len(src), err, len(targets))
	}
	for u := range int64(30) {
		for e := offsets[u]; e < offsets[u+1]; e++ {
			if src[e] != uint32(u) || dst[e] != targets[e] {
				t.Fatalf("graph: edge %d is %d->%d, want %d->%d", e, src[e], dst[e], u, targets[e])
			}
		}
	}

	x, y, features, err := dataset.ReadSamples(data("samples", `{"samples":40,"features":2,"seed":3}`))
	if err != nil || features != 2 || len(y) != 40 || len(x) != 80 {
		t.Fatalf("samples: %d features, %d targets, %v", features, len(y), err)
	}
}

func TestDataErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"data", "stars", "{}", "-o", filepath.Join(dir, "x")}, "unknown dataset"},
		{[]string{"data", "points", `{"points":5}`}, "-o FILE"},
		{[]string{"data", "points", `{"points":5,"dim":2}`, "-o", filepath.Join(dir, "p")}, `unknown field "dim"`},
		{[]string{"data", "points", `{"points":0}`, "-o", filepath.Join(dir, "p")}, "points"},
		{[]string{"data", "records", `not json`, "-o", filepath.Join(dir, "r")}, "spec"},
	}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), tt.args, nil, &out, &errOut); code == 0 || !strings.Contains(errOut.String(), tt.want) {
			t.Errorf("%v: exit %d, %q; want an error naming %q", tt.args, code, errOut.String(), tt.want)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("failed runs left files: %v", entries)
	}
}

// TestDatasetCommands stores a file made by burst data with burst data put, runs an
// app on it by name, and lists, reads back and deletes it, as a script would.
func TestDatasetCommands(t *testing.T) {
	url, _ := serve(t, t.TempDir())
	api := "--api=" + url
	file := filepath.Join(t.TempDir(), "records.bin")
	if code, _, errOut := burstCmd([]string{"data", "records", `{"records":30000,"seed":5}`, "-o", file}); code != 0 {
		t.Fatalf("data records: %s", errOut)
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := burstCmd([]string{"data", "put", "recs", file, "-o", "json", api})
	var info datasets.Info
	if code != 0 || json.Unmarshal([]byte(out), &info) != nil || info.Size != int64(len(want)) || info.Name != "recs" {
		t.Fatalf("data put: exit %d\n%s\n%s", code, out, errOut)
	}
	sum := sha256.Sum256(want)
	if info.SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("stored sha256 %s, want %x", info.SHA256, sum)
	}
	if !strings.Contains(errOut, "recs: stored 2.9 MiB in ") {
		t.Errorf("the progress's last line: %q", errOut)
	}
	code, out, errOut = burstCmd([]string{"flare", "run", "terasort", "--size", "4", "--granularity", "2", "--input", `{"dataset":"recs"}`, "-o", "json", api})
	if code != 0 || !strings.Contains(out, `"permutation": true`) || !strings.Contains(out, `"records": 30000`) {
		t.Errorf("terasort on the dataset: exit %d\n%s\n%s", code, out, errOut)
	}
	if code, out, _ := burstCmd([]string{"data", "ls", api}); code != 0 || !strings.Contains(out, "recs") || !strings.Contains(out, "2.9 MiB") {
		t.Errorf("data ls: exit %d\n%s", code, out)
	}
	if code, out, _ := burstCmd([]string{"data", "get", "recs", api}); code != 0 || !strings.Contains(out, info.SHA256) {
		t.Errorf("data get: exit %d\n%s", code, out)
	}
	if code, out, _ := burstCmd([]string{"data", "cat", "recs", api}); code != 0 || out != string(want) {
		t.Errorf("data cat: exit %d, %d bytes, same %v", code, len(out), out == string(want))
	}
	if code, _, errOut := burstCmd([]string{"data", "rm", "recs", api}); code != 0 || !strings.Contains(errOut, "deleted dataset recs") {
		t.Errorf("data rm: exit %d, %q", code, errOut)
	}
	for _, tc := range []struct {
		args []string
		says string
	}{
		{[]string{"data", "get", "recs"}, `no dataset "recs"`},
		{[]string{"data", "rm", "recs"}, `no dataset "recs"`},
		{[]string{"data", "put", "recs", file + ".missing"}, "no such file"},
		{[]string{"data", "put", "recs", t.TempDir()}, "not a regular file"},
		{[]string{"data", "put", "a.b", file}, "dataset name"},
	} {
		if code, _, errOut := burstCmd(append(tc.args, api)); code != 1 || !strings.Contains(errOut, tc.says) {
			t.Errorf("%v: exit %d, %q; want 1 and %q", tc.args, code, errOut, tc.says)
		}
	}
}
