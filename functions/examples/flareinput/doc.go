// Package flareinput reads the JSON input of the example functions: strictly (an
// unknown field is an error, not a silently ignored typo) and the same at every rank.
//
// A flare's ranks usually share one input, but the gateway also takes one input per
// rank; the examples' ranks must agree on their parameters, or they would call
// different collectives and wait for each other until the flare's timeout. Agree turns
// that into an immediate, clear error.
package flareinput
