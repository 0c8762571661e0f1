package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"
)

// An Error is an API failure: an HTTP status and a stable code that clients can test,
// with a message for people. It is written as {"error":{"code":"...","message":"..."}}.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	// RetryAfter, for a 429, is sent as the Retry-After header (whole seconds, at
	// least 1).
	RetryAfter time.Duration `json:"-"`
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

// Codes of the API's errors.
const (
	CodeBadJSON         = "bad_json"
	CodeBadRequest      = "bad_request"
	CodeBadName         = "bad_name"
	CodeTooLarge        = "too_large"
	CodeUnknownFunction = "unknown_function"
	CodeUnknownFlare    = "unknown_flare"
	CodeUnknownDataset  = "unknown_dataset"
	CodeNotFound        = "not_found"
	CodeUnauthorized    = "unauthorized"
	CodeForbidden       = "forbidden"
	CodeMethod          = "method_not_allowed"
	CodeBuiltin         = "builtin"
	CodeConflict        = "conflict"
	CodeFlareEnded      = "flare_ended"
	CodeNoInvokers      = "no_invokers"
	CodeNoCapacity      = "no_capacity"
	CodeQueueFull       = "queue_full"
	CodeRateLimited     = "rate_limited"
	CodeOverLimit       = "over_limit"
	CodeShuttingDown    = "shutting_down"
	CodeNotReady        = "not_ready"
	CodeInternal        = "internal"
)

func errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal","message":"response is not JSON"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
	w.Write([]byte("\n"))
}

// writeError writes err as the API's error body; an error that is not an *Error is an
// internal one. The cause of a 5xx goes to the request log.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = errorf(http.StatusInternalServerError, CodeInternal, "%v", err)
	}
	if e.Status >= 500 {
		if rl, ok := r.Context().Value(requestLogKey).(*requestLog); ok {
			rl.err = err
		}
	}
	if e.Status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(e.RetryAfter.Seconds())))))
	}
	writeJSON(w, e.Status, map[string]*Error{"error": e})
}
