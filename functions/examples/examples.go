// Package examples gathers the example apps as built-in functions: the burst binary hands
// Builtins to its invoker, so that `burst serve` is useful with no build step. Each app
// is an importable package of its own, with a few-line package main in its plugin
// directory that builds the same code as a plugin.
package examples

import (
	"github.com/burstgo/burst/functions"
	"github.com/burstgo/burst/functions/examples/gridsearch"
	"github.com/burstgo/burst/functions/examples/hello"
	"github.com/burstgo/burst/functions/examples/kmeans"
	"github.com/burstgo/burst/functions/examples/kmeansbalanced"
	"github.com/burstgo/burst/functions/examples/pagerank"
	"github.com/burstgo/burst/functions/examples/sleep"
	"github.com/burstgo/burst/functions/examples/terasort"
)

// Builtins returns the example apps by function name. An app joins by adding its
// package here.
func Builtins() map[string]functions.Func {
	return map[string]functions.Func{
		"gridsearch":      gridsearch.Burst,
		"hello":           hello.Burst,
		"kmeans":          kmeans.Burst,
		"kmeans-balanced": kmeansbalanced.Burst,
		"pagerank":        pagerank.Burst,
		"sleep":           sleep.Burst,
		"terasort":        terasort.Burst,
	}
}
