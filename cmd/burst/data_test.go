package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/burstgo/burst/functions/examples/dataset"
)

// TestDataWritesWhatTheAppsRead writes each dataset with `burst data` and reads it back
// with the apps' own readers: the file holds exactly the generated data.
func TestDataWritesWhatTheAppsRead(t *testing.T) {
	dir := t.TempDir()
	data := func(kind, spec string) string {
		t.Helper()
		path := filepath.Join(dir, kind)
		var out, errOut bytes.Buffer
		if code := run(context.Background(), []string{"data", kind, spec, "-o", path}, nil, &out, &errOut); code != 0 {
			t.Fatalf("burst data %s: exit %d: %s", kind, code, errOut.String())
		}
		return path
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
