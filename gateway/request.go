package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/burstgo/burst/control"
)

// A FlareRequest is the body of POST /flares.
type FlareRequest struct {
	Function string `json:"function"`
	// Size is the burst size N; missing means 1.
	Size *int `json:"size"`
	// Granularity is the pack size g; missing means Size, one pack.
	Granularity *int `json:"granularity"`
	// Input goes to every worker, unless Inputs gives one per rank.
	Input  json.RawMessage   `json:"input,omitempty"`
	Inputs []json.RawMessage `json:"inputs,omitempty"`
	// Timeout bounds the flare from its creation, queueing included; missing means
	// the gateway's default.
	Timeout *control.Duration `json:"timeout"`
	// Backend is the transport between packs: nats (the default), jetstream or memory
	// (every pack on one invoker).
	Backend control.Backend `json:"backend,omitempty"`
	// Join runs the packs placed together on one invoker as one pack, sharing memory;
	// missing means the gateway's default (Options.Join).
	Join *bool `json:"join,omitempty"`
}

// flareSpec is a checked FlareRequest.
type flareSpec struct {
	function    string
	size        int
	granularity int
	input       json.RawMessage
	inputs      []json.RawMessage
	timeout     time.Duration
	backend     control.Backend
	join        bool
	// timeoutGiven says whether the request set the timeout.
	timeoutGiven bool
	// builtin and limits are set once the function is found: a built-in runs only on
	// the invokers that advertise it, and every flare carries its function's limits.
	builtin bool
	limits  control.Limits
}

func (s flareSpec) packs() int { return (s.size + s.granularity - 1) / s.granularity }

// limits of a request that do not depend on the cluster. The body's size is bounded by
// the handler's reader.
type limits struct {
	defaultTimeout time.Duration
	maxTimeout     time.Duration
	join           bool // the default of Join
}

// decodeFlareRequest reads and checks a POST /flares body. Unknown fields are refused,
// so that a misspelt option does not pass silently.
func decodeFlareRequest(r io.Reader, l limits) (flareSpec, error) {
	var req FlareRequest
	if err := decodeJSON(r, &req); err != nil {
		return flareSpec{}, err
	}
	return req.check(l)
}

// decodeJSON reads one JSON value into v, refusing unknown fields and anything after it.
func decodeJSON(r io.Reader, v any) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return bodyError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			return bodyError(err)
		}
		return errorf(http.StatusBadRequest, CodeBadJSON, "bad JSON: more than one value in the body")
	}
	return nil
}

func bodyError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "body is larger than %d bytes", mbe.Limit)
	}
	if errors.Is(err, io.EOF) {
		return errorf(http.StatusBadRequest, CodeBadJSON, "bad JSON: empty body")
	}
	// encoding/json's errors start with "json: ", which says again what the code says.
	return errorf(http.StatusBadRequest, CodeBadJSON, "bad JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// checkName checks the name of a function or a key.
func checkName(kind, name string) error {
	if !nameRE.MatchString(name) {
		return errorf(http.StatusBadRequest, CodeBadName, "%s name %q: want 1 to 64 letters, digits, '-' or '_'", kind, name)
	}
	return nil
}

func (req *FlareRequest) check(l limits) (flareSpec, error) {
	bad := func(format string, args ...any) (flareSpec, error) {
		return flareSpec{}, errorf(http.StatusBadRequest, CodeBadRequest, format, args...)
	}
	s := flareSpec{function: req.Function, size: 1, backend: req.Backend, timeout: l.defaultTimeout}
	if req.Function == "" {
		return bad("function is missing")
	}
	if err := checkName("function", req.Function); err != nil {
		return flareSpec{}, err
	}
	if req.Size != nil {
		s.size = *req.Size
	}
	if s.size <= 0 {
		return bad("size %d: want at least 1", s.size)
	}
	if s.size > maxSize {
		return bad("size %d: want at most %d", s.size, maxSize)
	}
	s.granularity = s.size
	if req.Granularity != nil {
		s.granularity = *req.Granularity
	}
	if s.granularity <= 0 || s.granularity > s.size {
		return bad("granularity %d: want 1 to the size, %d", s.granularity, s.size)
	}
	if req.Inputs != nil {
		if req.Input != nil {
			return bad("give input (one for all) or inputs (one per rank), not both")
		}
		if len(req.Inputs) != s.size {
			return bad("%d inputs for size %d: want one per rank", len(req.Inputs), s.size)
		}
		s.inputs = req.Inputs
		for i, in := range s.inputs {
			if in == nil {
				s.inputs[i] = json.RawMessage("null")
			}
		}
	} else if req.Input != nil {
		s.input = compact(req.Input)
	}
	if req.Timeout != nil {
		s.timeout, s.timeoutGiven = time.Duration(*req.Timeout), true
		if s.timeout <= 0 || s.timeout > l.maxTimeout {
			return bad("timeout %s: want more than 0 and at most %s", s.timeout, l.maxTimeout)
		}
	}
	s.join = l.join
	if req.Join != nil {
		s.join = *req.Join
	}
	switch s.backend {
	case "":
		s.backend = control.BackendNATS
	case control.BackendNATS, control.BackendJetStream, control.BackendMemory:
	default:
		return bad("unknown backend %q: want %s, %s or %s", s.backend, control.BackendNATS, control.BackendJetStream, control.BackendMemory)
	}
	return s, nil
}

// maxSize bounds a flare's size whatever the cluster, so that a typo cannot make the
// gateway allocate a record of billions of workers.
const maxSize = 1 << 20

func compact(in json.RawMessage) json.RawMessage {
	var b bytes.Buffer
	if err := json.Compact(&b, in); err != nil {
		return in
	}
	return b.Bytes()
}

// String describes the spec for logs.
func (s flareSpec) String() string {
	if s.join {
		return fmt.Sprintf("%s N=%d g=%d %s joined", s.function, s.size, s.granularity, s.backend)
	}
	return fmt.Sprintf("%s N=%d g=%d %s", s.function, s.size, s.granularity, s.backend)
}
