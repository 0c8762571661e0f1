package functions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/burstgo/burst/comm"
)

var flareSeq atomic.Int64

// runFunc runs fn as a flare of size workers in packs of granularity on the memory
// transport, every worker with the same input, and returns each rank's result as JSON.
func runFunc(t testing.TB, ctx context.Context, fn Func, size, granularity int, input json.RawMessage) ([]string, error) {
	t.Helper()
	g, err := comm.NewGroup(ctx, comm.Config{
		Flare:       fmt.Sprintf("functions-test-%d", flareSeq.Add(1)),
		Size:        size,
		Granularity: granularity,
		Transport:   comm.NewMemoryTransport(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := g.Close(); err != nil {
			t.Error(err)
		}
	}()
	results := make([]string, size)
	err = g.Run(ctx, func(ctx context.Context, w *comm.Worker) error {
		r, err := fn(ctx, w, input)
		if err != nil {
			return err
		}
		b, err := json.Marshal(r)
		results[w.Rank()] = string(b)
		return err
	})
	return results, err
}

func TestBuiltins(t *testing.T) {
	names := Builtins()
	if !slices.IsSorted(names) {
		t.Errorf("Builtins() = %v, not sorted", names)
	}
	for _, want := range []string{"hello", "sleep"} {
		if !slices.Contains(names, want) {
			t.Errorf("Builtins() = %v, want %q among them", names, want)
		}
	}
	for _, name := range names {
		if fn, ok := Builtin(name); !ok || fn == nil {
			t.Errorf("Builtin(%q) = %v, %v; want a function", name, fn, ok)
		}
	}
	if fn, ok := Builtin("nope"); ok || fn != nil {
		t.Errorf("Builtin(nope) = %v, %v; want nil, false", fn, ok)
	}
}

func TestBuiltinHello(t *testing.T) {
	hello, _ := Builtin("hello")
	tests := []struct {
		name              string
		size, granularity int
		input             string
		want              []string
	}{
		{"two packs of one", 2, 1, `{"x":1}`, []string{
			`{"rank":0,"size":2,"pack":0,"input":{"x":1}}`,
			`{"rank":1,"size":2,"pack":1,"input":{"x":1}}`,
		}},
		{"uneven packs", 3, 2, `[1,"a"]`, []string{
			`{"rank":0,"size":3,"pack":0,"input":[1,"a"]}`,
			`{"rank":1,"size":3,"pack":0,"input":[1,"a"]}`,
			`{"rank":2,"size":3,"pack":1,"input":[1,"a"]}`,
		}},
		{"no input", 1, 1, ``, []string{`{"rank":0,"size":1,"pack":0,"input":null}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := runFunc(t, t.Context(), hello, tt.size, tt.granularity, json.RawMessage(tt.input))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("results\n got %v\nwant %v", got, tt.want)
			}
		})
	}
}

func TestBuiltinSleep(t *testing.T) {
	sleep, _ := Builtin("sleep")
	tests := []struct {
		input   string
		want    string // rank 0's result
		wantErr string
	}{
		{`{"duration":"15ms"}`, `{"rank":0,"slept":"15ms"}`, ""},
		{`"1ms"`, `{"rank":0,"slept":"1ms"}`, ""},
		{``, `{"rank":0,"slept":"0s"}`, ""},
		{`null`, `{"rank":0,"slept":"0s"}`, ""},
		{`{"duration":"soon"}`, "", `invalid duration`},
		{`{}`, "", `no "duration"`},
		{`42`, "", `input must be`},
		{`"-1s"`, "", `want 0 to`},
		{`"25h"`, "", `want 0 to`},
	}
	for _, tt := range tests {
		t.Run(tt.input, func(t *testing.T) {
			got, err := runFunc(t, t.Context(), sleep, 2, 1, json.RawMessage(tt.input))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got[0] != tt.want {
				t.Errorf("rank 0 answered %s, want %s", got[0], tt.want)
			}
		})
	}
}

func TestBuiltinSleepCancelled(t *testing.T) {
	sleep, _ := Builtin("sleep")
	ctx, cancel := context.WithCancel(t.Context())
	// Cancel once both workers are surely asleep; the test does not depend on when.
	go func() {
		time.Sleep(20 * time.Millisecond)
		cancel()
	}()
	_, err := runFunc(t, ctx, sleep, 2, 1, json.RawMessage(`"1h"`))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
}
