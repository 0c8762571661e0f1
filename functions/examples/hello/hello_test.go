package hello

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/burstgo/burst/comm"
)

func TestBurst(t *testing.T) {
	tests := []struct {
		input string
		want  []string
	}{
		{`{"x":1}`, []string{
			`{"rank":0,"size":3,"pack":0,"input":{"x":1}}`,
			`{"rank":1,"size":3,"pack":0,"input":{"x":1}}`,
			`{"rank":2,"size":3,"pack":1,"input":{"x":1}}`,
		}},
		{`  "as given" `, []string{
			`{"rank":0,"size":3,"pack":0,"input":"as given"}`,
			`{"rank":1,"size":3,"pack":0,"input":"as given"}`,
			`{"rank":2,"size":3,"pack":1,"input":"as given"}`,
		}},
		{``, []string{
			`{"rank":0,"size":3,"pack":0,"input":null}`,
			`{"rank":1,"size":3,"pack":0,"input":null}`,
			`{"rank":2,"size":3,"pack":1,"input":null}`,
		}},
	}
	for _, tt := range tests {
		g, err := comm.NewGroup(t.Context(), comm.Config{Flare: "hello-test", Size: 3, Granularity: 2, Transport: comm.NewMemoryTransport()})
		if err != nil {
			t.Fatal(err)
		}
		got := make([]string, 3)
		err = g.Run(t.Context(), func(ctx context.Context, w *comm.Worker) error {
			r, err := Burst(ctx, w, json.RawMessage(tt.input))
			if err != nil {
				return err
			}
			b, err := json.Marshal(r)
			got[w.Rank()] = string(b)
			return err
		})
		if cerr := g.Close(); cerr != nil {
			t.Error(cerr)
		}
		if err != nil {
			t.Fatal(err)
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("input %q, rank %d answered %s, want %s", tt.input, i, got[i], tt.want[i])
			}
		}
	}
}
