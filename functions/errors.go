package functions

import "errors"

// Sentinel errors of the plugin path. Each has a code, the word `burst fn check` prints
// and the gateway puts in its 422 answers.
var (
	// ErrNotPlugin means the file is not a Go plugin: random bytes, an ELF that Go did not
	// build, or a Go program built with another -buildmode.
	ErrNotPlugin = errors.New("not a Go plugin")
	// ErrMismatch means the plugin was built differently from this binary (Go version,
	// build settings, module versions), so loading it would fail; the error's text names
	// what differs.
	ErrMismatch = errors.New("plugin does not match this binary")
	// ErrNoBurst means the plugin exports no Burst.
	ErrNoBurst = errors.New("plugin exports no Burst")
	// ErrBadSignature means the plugin's Burst has the wrong type; the error's text names
	// the type it has.
	ErrBadSignature = errors.New("plugin's Burst has the wrong signature")
	// ErrLoad means the plugin could not be opened for another reason: its init code
	// panicked or hung, or a plugin with the same plugin path is already loaded.
	ErrLoad = errors.New("plugin cannot be loaded")
)

// Codes of the sentinel errors, in the order ErrorCode tries them.
var codes = []struct {
	err  error
	code string
}{
	{ErrNotPlugin, "not_plugin"},
	{ErrMismatch, "mismatch"},
	{ErrNoBurst, "no_burst"},
	{ErrBadSignature, "bad_signature"},
	{ErrLoad, "load_failed"},
}

// ErrorCode returns the code of the sentinel error that err wraps: "not_plugin",
// "mismatch", "no_burst", "bad_signature" or "load_failed"; "internal" for any other
// error, one that says nothing about the plugin; "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	for _, c := range codes {
		if errors.Is(err, c.err) {
			return c.code
		}
	}
	return "internal"
}

// codeError returns the sentinel error of code, or nil for an unknown code.
func codeError(code string) error {
	for _, c := range codes {
		if c.code == code {
			return c.err
		}
	}
	return nil
}
