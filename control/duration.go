package control

import (
	"encoding/json"
	"errors"
	"time"
)

// A Duration is a time.Duration that JSON shows as a Go duration string ("1m30s") and
// reads from such a string or from a number of seconds.
type Duration time.Duration

// ErrBadDuration is the error of a JSON value that is neither a duration string nor a
// number of seconds.
var ErrBadDuration = errors.New(`want a duration such as "30s" or a number of seconds`)

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads "1m30s" or 90.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		*d = Duration(v)
		return nil
	}
	var secs float64
	if err := json.Unmarshal(b, &secs); err != nil {
		return ErrBadDuration
	}
	const limit = float64(1<<62) / float64(time.Second)
	if secs > limit || secs < -limit {
		return ErrBadDuration
	}
	*d = Duration(secs * float64(time.Second))
	return nil
}

// String is the Go duration string.
func (d Duration) String() string { return time.Duration(d).String() }
