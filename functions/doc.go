// Package functions is Burst's function ABI: the built-in functions linked into the
// binary, and the Go plugins users bring, built, checked and loaded.
//
// # The ABI
//
// A function is a package main that exports
//
//	func Burst(ctx context.Context, w *comm.Worker, input json.RawMessage) (any, error)
//
// (a variable of that type also works). It runs once per worker of a flare, in its own
// goroutine, with the worker's rank, pack and collectives in w. The result is marshalled
// to JSON; an error or a panic fails the worker and aborts the flare. ctx is cancelled when
// the flare times out or is cancelled, and a function that blocks must give up then.
// OpenDataset(ctx, name) opens a dataset stored in the cluster (`burst data put`) for
// reading by byte range, from whichever host the worker runs on.
//
// Built-in functions are linked into a binary and handed to its invoker by name; the
// burst binary's are the example apps (package functions/examples). This package does
// not import them, so that the gateway, which checks plugins with it, links no app.
//
// # Plugins
//
// Go plugins load only into a binary built the same way, and a failed load can break the
// process for later ones. Burst owns that problem:
//
//   - `burst fn build DIR -o f.so` (Build) builds DIR with the go command of this binary's
//     toolchain and this binary's own build settings, read from debug.ReadBuildInfo: a
//     binary from `go run` has no -trimpath, a release binary may, and a plugin built the
//     other way fails with "plugin was built with a different version of package". DIR
//     must sit in a module that requires this binary's modules at the same versions; a
//     directory inside the burst module itself always does.
//   - It builds from the file list, `go build -buildmode=plugin f1.go f2.go`, never from a
//     package path: the go command names such a plugin after a hash of its files, so a
//     new version of a function loads beside the old one in a running invoker, whereas two
//     builds of one package path cannot both load ("plugin already loaded") and renaming
//     with -ldflags=-pluginpath breaks symbol lookup. Keep a function's code in its one
//     package main directory: a helper package of its own that changes between versions
//     would be a second version of one package in one process, which cannot load.
//   - Registration reads the plugin's build info with debug/buildinfo, without loading it
//     (Inspect), and compares it with this binary's: Go version, the settings that change
//     compiled code, and the version of every module both use. A mismatch is refused with
//     an error naming it (ErrMismatch), which the gateway answers with 422.
//   - Opening a plugin runs its init code in the process that opens it. The gateway never
//     does: it runs `burst fn check f.so` in a child process (CheckInChild), which
//     inspects and loads the plugin (Check) and prints one JSON line; a panic or a hang
//     in init ends the child, not the gateway. Invokers then Load plugins, which checks
//     the build info again, since an invoker may run another build of Burst.
//   - plugin.Open remembers plugins by file path, so keep one content per path: store
//     plugins under their digest (Info.Digest).
//
// Errors wrap sentinel errors (ErrNotPlugin, ErrMismatch, ErrNoBurst, ErrBadSignature,
// ErrLoad) whose codes (ErrorCode) travel through the child's JSON line unchanged.
//
// A test binary compiles its package with that package's _test.go files, so a plugin
// that imports package P cannot be loaded from P's own tests ("different version of
// package P"). The plugins here import comm and the examples, never this package, which
// is why this package's tests can load them.
package functions
