package functions

import (
	"errors"
	"fmt"
	"testing"
)

func TestErrorCode(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{ErrNotPlugin, "not_plugin"},
		{fmt.Errorf("%w: an ELF", ErrNotPlugin), "not_plugin"},
		{fmt.Errorf("%w: -trimpath", ErrMismatch), "mismatch"},
		{fmt.Errorf("%w: x", ErrNoBurst), "no_burst"},
		{fmt.Errorf("%w: func()", ErrBadSignature), "bad_signature"},
		{fmt.Errorf("%w: panic", ErrLoad), "load_failed"},
		{errors.New("disk full"), "internal"},
	}
	for _, tt := range tests {
		if got := ErrorCode(tt.err); got != tt.want {
			t.Errorf("ErrorCode(%v) = %q, want %q", tt.err, got, tt.want)
		}
		if tt.want != "" && tt.want != "internal" && !errors.Is(tt.err, codeError(tt.want)) {
			t.Errorf("codeError(%q) does not match %v", tt.want, tt.err)
		}
	}
	if err := codeError("nonsense"); err != nil {
		t.Errorf("codeError(nonsense) = %v, want nil", err)
	}
}
