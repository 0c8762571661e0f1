package flareinput

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/burstgo/burst/comm"
	"github.com/burstgo/burst/functions"
	"github.com/burstgo/burst/functions/examples/dataset"
	"github.com/burstgo/burst/functions/examples/flaretest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type params struct {
	K    int    `json:"k"`
	File string `json:"file,omitempty"`
}

func TestDecode(t *testing.T) {
	tests := []struct {
		raw  string
		want params
		err  string
	}{
		{`{"k": 3}`, params{K: 3}, ""},
		{` {"k": 3, "file": "x"} `, params{K: 3, File: "x"}, ""},
		{``, params{}, `f: no input: want {"k": 1}`},
		{` null `, params{}, "no input"},
		{`{"k": 3, "kk": 1}`, params{}, `unknown field "kk"`},
		{`{"k": "3"}`, params{}, "cannot unmarshal"},
		{`{"k": 3} {"k": 4}`, params{}, "data after"},
		{`[1]`, params{}, "cannot unmarshal"},
	}
	for _, tt := range tests {
		var got params
		err := Decode("f", json.RawMessage(tt.raw), &got, `{"k": 1}`)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: got %v, want an error with %q", tt.raw, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%q: got %+v, %v; want %+v", tt.raw, got, err, tt.want)
		}
	}
}

func TestAgree(t *testing.T) {
	tests := []struct {
		name string
		k    func(rank int) int
		err  string
	}{
		{"same", func(int) int { return 5 }, ""},
		{"rank 3 differs", func(r int) int { return 5 + r/3 }, "rank 3's input differs from rank 0's"},
	}
	for _, tt := range tests {
		for _, l := range []flaretest.Layout{{Size: 1, Granularity: 1}, {Size: 4, Granularity: 2}} {
			_, _, err := flaretest.Run(t, l, flaretest.Memory, func(ctx context.Context, w *comm.Worker) (int, error) {
				return 0, Agree(ctx, w, "f", params{K: tt.k(w.Rank())})
			})
			wantErr := tt.err != "" && l.Size > 3
			if wantErr != (err != nil) || wantErr && !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s, %v: got %v, want %s", tt.name, l, err, fmt.Sprint(tt.err))
			}
		}
	}
}

func TestOneSource(t *testing.T) {
	tests := []struct {
		generate   bool
		file, data string
		ok         bool
	}{
		{true, "", "", true},
		{false, "f", "", true},
		{false, "", "d", true},
		{false, "", "", false},
		{true, "f", "", false},
		{false, "f", "d", false},
		{true, "f", "d", false},
	}
	for _, tt := range tests {
		err := OneSource("f", tt.generate, tt.file, tt.data)
		if tt.ok != (err == nil) || err != nil && !strings.Contains(err.Error(), `want exactly one of "generate", "file" and "dataset"`) {
			t.Errorf("%+v: %v", tt, err)
		}
	}
}

// stored is a dataset held in memory, as a test's stand-in for the cluster's.
type stored struct {
	*bytes.Reader
	version string
}

func (s stored) Name() string { return "dataset d" }
func (s stored) ID() string   { return s.version }

// TestOpen opens a file and datasets on every rank of a flare of two, as the apps do:
// the ranks read the same bytes, or fail saying why.
func TestOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.csv")
	if err := os.WriteFile(path, []byte("1,2\n3,4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// versions gives each rank's version of dataset d; nil, no datasets at all.
	withDatasets := func(ctx context.Context, rank int, versions []string) context.Context {
		if versions == nil {
			return ctx
		}
		return functions.WithDatasets(ctx, func(_ context.Context, name string) (functions.Dataset, error) {
			if name != "d" {
				return nil, fmt.Errorf("no dataset %q", name)
			}
			return stored{bytes.NewReader([]byte("5,6\n")), versions[rank]}, nil
		})
	}
	for _, tt := range []struct {
		file, data string
		versions   []string
		want       []float64
		err        string
	}{
		{path, "", []string{"v", "v"}, []float64{1, 2, 3, 4}, ""},
		{"", "d", []string{"v", "v"}, []float64{5, 6}, ""},
		{"", "d", []string{"v0", "v1"}, nil, "rank 1 opened dataset d of 4 bytes, version v1, but rank 0 dataset d of 4 bytes, version v0: a dataset replaced"},
		{"", "e", []string{"v", "v"}, nil, `no dataset "e"`},
		{"", "d", nil, nil, "not the context of a flare's worker"},
		{path + ".missing", "", nil, nil, "no such file"},
	} {
		results, _, err := flaretest.Run(t, flaretest.Layout{Size: 2, Granularity: 1}, flaretest.Memory, func(ctx context.Context, w *comm.Worker) ([]float64, error) {
			src, close, err := Open(withDatasets(ctx, w.Rank(), tt.versions), w, tt.file, tt.data)
			if err != nil {
				return nil, err
			}
			defer close()
			got, _, err := dataset.ReadPoints(src, 0, 1)
			return got, err
		})
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q %q: got %v, want %q", tt.file, tt.data, err, tt.err)
			}
			continue
		}
		if err != nil || !slices.Equal(results[0], tt.want) || !slices.Equal(results[1], tt.want) {
			t.Errorf("%q %q: read %v, %v", tt.file, tt.data, results, err)
		}
	}
}
