package functions

import (
	"context"
	"debug/buildinfo"
	"encoding/json"
	"fmt"
	"plugin"
	"strings"

	"github.com/burstgo/burst/comm"
)

// Load opens the plugin at path and returns its Burst. Opening runs the plugin's init
// code in this process, so only an invoker, or a child process checking a new plugin,
// should call it.
//
// plugin.Open remembers plugins by file path: a second Load of a path gives the plugin
// first loaded from it, even if the file changed since. Keep one content per path, as a
// store that names files by digest does.
//
// Load first compares the plugin's build info with this binary's, as Inspect does,
// because a plugin.Open that fails on a package version leaves that plugin's symbols
// behind and makes later plugins fail too. It returns an error wrapping ErrNoBurst if
// the plugin exports no Burst, ErrBadSignature if Burst is not a Func (a function, or a
// variable holding one), and ErrNotPlugin, ErrMismatch or ErrLoad when the plugin
// cannot be opened.
func Load(path string) (Func, error) {
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotPlugin, err)
	}
	if err := checkPlugin(bi); err != nil {
		return nil, err
	}
	p, err := plugin.Open(path)
	if err != nil {
		return nil, openError(err)
	}
	sym, err := p.Lookup("Burst")
	if err != nil {
		return nil, fmt.Errorf("%w: want func Burst(context.Context, *comm.Worker, json.RawMessage) (any, error) in its package main", ErrNoBurst)
	}
	return burstFunc(sym)
}

// openError classifies an error of plugin.Open.
func openError(err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "different version of package"):
		return fmt.Errorf("%w: %v (this binary, or a plugin loaded before, has another version)", ErrMismatch, err)
	case strings.Contains(msg, "plugin already loaded"):
		return fmt.Errorf("%w: %v: a plugin built from the same package path is loaded; build it with `burst fn build`, which gives each content its own path", ErrLoad, err)
	}
	return fmt.Errorf("%w: %v", ErrLoad, err)
}

// burstFunc turns the symbol Burst into a Func: a function of the ABI's type, or a
// variable of that type (plugin.Lookup gives variables as pointers).
func burstFunc(sym plugin.Symbol) (Func, error) {
	var fn Func
	switch s := sym.(type) {
	case func(context.Context, *comm.Worker, json.RawMessage) (any, error):
		fn = s
	case Func:
		fn = s
	case *func(context.Context, *comm.Worker, json.RawMessage) (any, error):
		fn = *s
	case *Func:
		fn = *s
	default:
		return nil, fmt.Errorf("%w: Burst is %T, want func(context.Context, *comm.Worker, json.RawMessage) (any, error)", ErrBadSignature, sym)
	}
	if fn == nil {
		return nil, fmt.Errorf("%w: Burst is a nil variable", ErrBadSignature)
	}
	return fn, nil
}

// Check inspects the plugin at path and then loads it, to prove that this binary can run
// it: what `burst fn check` does in a child process before a plugin is registered. The
// errors are those of Inspect and Load.
func Check(path string) (Info, error) {
	info, err := Inspect(path)
	if err != nil {
		return info, err
	}
	if _, err := Load(path); err != nil {
		return info, err
	}
	return info, nil
}
