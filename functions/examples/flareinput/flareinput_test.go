package flareinput

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/burstgo/burst/comm"
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
