package functions

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/burstgo/burst/comm"
	"github.com/burstgo/burst/functions/examples/gridsearch"
	"github.com/burstgo/burst/functions/examples/hello"
	"github.com/burstgo/burst/functions/examples/kmeans"
	"github.com/burstgo/burst/functions/examples/kmeansbalanced"
	"github.com/burstgo/burst/functions/examples/pagerank"
	"github.com/burstgo/burst/functions/examples/sleep"
	"github.com/burstgo/burst/functions/examples/terasort"
)

// Func is the ABI of a Burst function: the type of the Burst entry point. It runs once per
// worker; the result is marshalled to JSON, and an error or a panic fails the worker and
// aborts the flare.
type Func func(ctx context.Context, w *comm.Worker, input json.RawMessage) (any, error)

// builtins are the functions linked into the binary, so that `burst serve` is useful with
// no build step. An example joins by adding its package here.
var builtins = map[string]Func{
	"gridsearch":      gridsearch.Burst,
	"hello":           hello.Burst,
	"kmeans":          kmeans.Burst,
	"kmeans-balanced": kmeansbalanced.Burst,
	"pagerank":        pagerank.Burst,
	"sleep":           sleep.Burst,
	"terasort":        terasort.Burst,
}

// Builtin returns the built-in function called name.
func Builtin(name string) (Func, bool) {
	fn, ok := builtins[name]
	return fn, ok
}

// Builtins returns the names of the built-in functions, sorted.
func Builtins() []string {
	names := make([]string, 0, len(builtins))
	for name := range builtins {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}
