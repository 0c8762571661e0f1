package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/burstgo/burst/functions"
)

// The registry: the built-ins that the invokers advertise in their heartbeats, and
// plugins registered by PUT /functions/{name}. A plugin is checked in a child process (`burst fn check`), since
// opening it runs its init code, and stored once by digest; a new upload under the same
// name is a new version, and flares started after it run it, with no restart. Deleting
// a function keeps its plugin in the object store: flares in flight may still fetch it.

// errCheckTimeout ends a plugin check that outlived Options.CheckTimeout.
var errCheckTimeout = errors.New("gateway: plugin check timed out")

// builtins returns the names of the built-in functions that the joined invokers
// advertise. Called with g.mu held.
func (g *Gateway) builtins() map[string]bool {
	out := make(map[string]bool)
	for _, st := range g.invokers {
		if st.joined {
			for _, name := range st.hb.Builtins {
				out[name] = true
			}
		}
	}
	return out
}

// isBuiltin reports whether an invoker that has joined advertises the built-in name, and
// whether any invoker has joined at all.
func (g *Gateway) isBuiltin(name string) (builtin, anyInvoker bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, st := range g.invokers {
		if st.joined {
			anyInvoker = true
			if slices.Contains(st.hb.Builtins, name) {
				return true, true
			}
		}
	}
	return false, anyInvoker
}

// lookupFunction finds a function by name for a flare of namespace: a built-in of the
// invokers first, then the namespace's registry.
func (g *Gateway) lookupFunction(ctx context.Context, namespace, name string) (FunctionRecord, error) {
	builtin, anyInvoker := g.isBuiltin(name)
	if builtin {
		return FunctionRecord{Name: name, Builtin: true}, nil
	}
	f, _, err := g.store.function(ctx, namespace, name)
	switch {
	case errors.Is(err, errNotStored) && !anyInvoker:
		// The built-ins come with the invokers.
		return FunctionRecord{}, errorf(http.StatusServiceUnavailable, CodeNoInvokers, "no function %q registered, and no invoker has joined to offer built-ins", name)
	case errors.Is(err, errNotStored):
		return FunctionRecord{}, errorf(http.StatusNotFound, CodeUnknownFunction, "no function %q: see GET /functions", name)
	}
	return f, err
}

func (g *Gateway) listFunctions(w http.ResponseWriter, r *http.Request) {
	fs, err := g.store.allFunctions(r.Context(), principalOf(r).namespace)
	if err != nil {
		writeError(w, r, err)
		return
	}
	g.mu.Lock()
	names := g.builtins()
	g.mu.Unlock()
	for name := range names {
		fs = append(fs, FunctionRecord{Name: name, Builtin: true})
	}
	slices.SortFunc(fs, func(a, b FunctionRecord) int { return strings.Compare(a.Name, b.Name) })
	writeJSON(w, http.StatusOK, map[string]any{"functions": fs})
}

func (g *Gateway) getFunction(w http.ResponseWriter, r *http.Request) {
	name := functionName(r)
	f, err := g.lookupFunction(r.Context(), principalOf(r).namespace, name)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, f)
}

func (g *Gateway) deleteFunction(w http.ResponseWriter, r *http.Request) {
	name := functionName(r)
	if builtin, _ := g.isBuiltin(name); builtin {
		writeError(w, r, errorf(http.StatusConflict, CodeBuiltin, "%s is built into the invokers and cannot be deleted", name))
		return
	}
	ns := principalOf(r).namespace
	f, err := g.lookupFunction(r.Context(), ns, name)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if err := g.store.deleteFunction(r.Context(), ns, name); err != nil {
		writeError(w, r, err)
		return
	}
	g.log.Info("function deleted", "namespace", ns, "function", name, "version", f.Version)
	writeJSON(w, http.StatusOK, f)
}

// putFunction registers the plugin in the body under the name of the path.
func (g *Gateway) putFunction(w http.ResponseWriter, r *http.Request) {
	name := functionName(r)
	if builtin, _ := g.isBuiltin(name); builtin {
		writeError(w, r, errorf(http.StatusConflict, CodeBuiltin, "%s is a built-in function; register the plugin under another name", name))
		return
	}
	limits, err := parseLimits(r.URL.Query(), g.opts.FunctionLimits, g.opts.MaxFunctionLimits)
	if err != nil {
		writeError(w, r, err)
		return
	}
	tmp, err := os.CreateTemp(g.opts.TempDir, "burst-upload-*.so")
	if err != nil {
		writeError(w, r, err)
		return
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), http.MaxBytesReader(w, r.Body, g.opts.MaxPlugin))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		writeError(w, r, errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "plugin is larger than %d bytes", mbe.Limit))
		return
	case err != nil:
		writeError(w, r, errorf(http.StatusBadRequest, CodeBadRequest, "reading the plugin: %v", err))
		return
	case n == 0:
		writeError(w, r, errorf(http.StatusBadRequest, CodeBadRequest, "empty body: send the plugin .so, as with curl --data-binary @f.so"))
		return
	}
	digest := hex.EncodeToString(h.Sum(nil))

	ctx, cancel := context.WithTimeoutCause(r.Context(), g.opts.CheckTimeout, errCheckTimeout)
	info, err := functions.CheckInChild(ctx, g.opts.Exe, tmp.Name())
	if err != nil && errors.Is(context.Cause(ctx), errCheckTimeout) {
		// The plugin's doing, as when its init code blocks, not the gateway's.
		err = fmt.Errorf("%w: the check did not finish within %s (does the plugin's init code block?)", functions.ErrLoad, g.opts.CheckTimeout)
	}
	cancel()
	if err != nil {
		code := functions.ErrorCode(err)
		if code == "internal" {
			writeError(w, r, errorf(http.StatusInternalServerError, CodeInternal, "checking the plugin: %v", err))
			return
		}
		writeError(w, r, errorf(http.StatusUnprocessableEntity, code, "%v", err))
		return
	}

	ok, err := g.store.hasPlugin(r.Context(), digest)
	if err == nil && !ok {
		var in *os.File
		if in, err = os.Open(tmp.Name()); err == nil {
			err = g.store.putPlugin(r.Context(), digest, in)
			in.Close()
		}
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	ns := principalOf(r).namespace
	prev, rev, err := g.store.function(r.Context(), ns, name)
	if err != nil && !errors.Is(err, errNotStored) {
		writeError(w, r, err)
		return
	}
	if rev != 0 && prev.Digest == digest && prev.Limits == limits {
		writeJSON(w, http.StatusOK, prev) // the same plugin and limits again: nothing changes
		return
	}
	f := FunctionRecord{
		Name: name, Namespace: ns, Version: prev.Version + 1, Digest: digest, GoVersion: info.GoVersion,
		Settings: buildSettings(info.Settings), Bytes: n, Created: time.Now().UTC(), Limits: limits,
	}
	if err := g.store.putFunction(r.Context(), f, rev); err != nil {
		if errors.Is(err, errConflict) {
			writeError(w, r, errorf(http.StatusConflict, CodeConflict, "%s was registered meanwhile; try again", name))
			return
		}
		writeError(w, r, err)
		return
	}
	g.log.Info("function registered", "namespace", ns, "function", name, "version", f.Version, "digest", digest)
	status := http.StatusOK
	if rev == 0 {
		status = http.StatusCreated
	}
	writeJSON(w, status, f)
}

// buildSettings are the plugin's build settings the registry shows, without -ldflags,
// whose -X flags may set secrets.
func buildSettings(all map[string]string) map[string]string {
	out := maps.Clone(all)
	delete(out, "-ldflags")
	return out
}
