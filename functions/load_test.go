package functions

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/burstgo/burst/comm"
)

// helloWant is what hello answers on two workers in packs of one with input {"x":1}.
var helloWant = []string{
	`{"rank":0,"size":2,"pack":0,"input":{"x":1}}`,
	`{"rank":1,"size":2,"pack":1,"input":{"x":1}}`,
}

func TestLoadHello(t *testing.T) {
	fn, err := Load(builtPlugin(t, helloSrc))
	if err != nil {
		t.Fatal(err)
	}
	got, err := runFunc(t, t.Context(), fn, 2, 1, json.RawMessage(`{"x":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, helloWant) {
		t.Errorf("plugin hello answered\n%v\nwant\n%v", got, helloWant)
	}
}

func TestLoadSleep(t *testing.T) {
	fn, err := Load(builtPlugin(t, sleepSrc))
	if err != nil {
		t.Fatal(err)
	}
	got, err := runFunc(t, t.Context(), fn, 2, 1, json.RawMessage(`{"duration":"2ms"}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{`{"rank":0,"slept":"2ms"}`, `{"rank":1,"slept":"2ms"}`}; !slices.Equal(got, want) {
		t.Errorf("plugin sleep answered %v, want %v", got, want)
	}
}

// TestLoadNewVersion is the "new version without restart" fact: a second build of changed
// source loads beside the first in the same process, and each keeps its own code.
func TestLoadNewVersion(t *testing.T) {
	v1, err := Load(builtPlugin(t, helloSrc))
	if err != nil {
		t.Fatal(err)
	}
	v2, err := Load(builtPlugin(t, helloV2Src))
	if err != nil {
		t.Fatalf("second version: %v", err)
	}
	again, err := Load(builtPlugin(t, helloSrc))
	if err != nil {
		t.Fatalf("first version again: %v", err)
	}
	want2 := []string{
		`{"hello":{"rank":0,"size":2,"pack":0,"input":{"x":1}},"version":2}`,
		`{"hello":{"rank":1,"size":2,"pack":1,"input":{"x":1}},"version":2}`,
	}
	for _, c := range []struct {
		name string
		fn   Func
		want []string
	}{{"v1", v1, helloWant}, {"v2", v2, want2}, {"v1 again", again, helloWant}} {
		got, err := runFunc(t, t.Context(), c.fn, 2, 1, json.RawMessage(`{"x":1}`))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s answered\n%v\nwant\n%v", c.name, got, c.want)
		}
	}
}

func TestLoadBurstVariable(t *testing.T) {
	fn, err := Load(builtPlugin(t, burstVarSrc))
	if err != nil {
		t.Fatal(err)
	}
	got, err := runFunc(t, t.Context(), fn, 2, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{`{"rank":0,"var":true}`, `{"rank":1,"var":true}`}; !slices.Equal(got, want) {
		t.Errorf("answered %v, want %v", got, want)
	}
}

func TestLoadRefuses(t *testing.T) {
	tests := []struct {
		name     string
		path     func(t *testing.T) string
		want     error
		wantText string
	}{
		{"no Burst", func(t *testing.T) string { return builtPlugin(t, noBurstSrc) }, ErrNoBurst, "want func Burst("},
		{"wrong signature", func(t *testing.T) string { return builtPlugin(t, badSigSrc) }, ErrBadSignature, "Burst is func(string) (string, error)"},
		{"random bytes", func(t *testing.T) string { return randomFile(t, 1024) }, ErrNotPlugin, ""},
		{"ELF not built by Go", func(t *testing.T) string { return elfNotGo(t) }, ErrNotPlugin, ""},
		{"Go program", func(t *testing.T) string { return goProgram(t) }, ErrNotPlugin, "-buildmode=exe"},
		// Refused before plugin.Open, which would leave the process unable to load
		// later plugins: the hello load below shows it did not.
		{"-trimpath toggled", func(t *testing.T) string { return trimpathMismatch(t) }, ErrMismatch, "-trimpath"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fn, err := Load(tt.path(t))
			if !errors.Is(err, tt.want) || fn != nil {
				t.Fatalf("Load: %v, %v; want nil, %v", fn != nil, err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("Load: %q does not say %q", err, tt.wantText)
			}
		})
	}
	if _, err := Load(builtPlugin(t, helloV2Src)); err != nil {
		t.Errorf("a good plugin after the refused ones: %v", err)
	}
}

func TestOpenError(t *testing.T) {
	tests := []struct {
		msg  string
		want error
	}{
		{`plugin.Open("x"): plugin was built with a different version of package internal/goarch`, ErrMismatch},
		{`plugin.Open("x"): plugin already loaded`, ErrLoad},
		{`plugin.Open("x"): realloc(): invalid pointer`, ErrLoad},
	}
	for _, tt := range tests {
		if err := openError(errors.New(tt.msg)); !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("openError(%q) = %v, want it to wrap %v and keep the message", tt.msg, err, tt.want)
		}
	}
}

func TestBurstFunc(t *testing.T) {
	f := func(context.Context, *comm.Worker, json.RawMessage) (any, error) { return "f", nil }
	named := Func(f)
	var nilVar func(context.Context, *comm.Worker, json.RawMessage) (any, error)
	tests := []struct {
		name    string
		sym     any
		wantErr string
	}{
		{"function", f, ""},
		{"Func", named, ""},
		{"variable", &f, ""},
		{"Func variable", &named, ""},
		{"nil variable", &nilVar, "nil variable"},
		{"other function", func(context.Context, json.RawMessage) (any, error) { return nil, nil }, "Burst is func(context.Context, json.RawMessage) (interface {}, error)"},
		{"int variable", new(int), "Burst is *int"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fn, err := burstFunc(tt.sym)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if got, _ := fn(t.Context(), nil, nil); got != "f" {
					t.Errorf("the function returned %v, want f", got)
				}
				return
			}
			if !errors.Is(err, ErrBadSignature) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("burstFunc: %v, want ErrBadSignature saying %q", err, tt.wantErr)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	hello := builtPlugin(t, helloSrc)
	want, err := Inspect(hello)
	if err != nil {
		t.Fatal(err)
	}
	info, err := Check(hello)
	if err != nil || info.Digest != want.Digest {
		t.Errorf("Check(hello) = %s, %v; want digest %s", info.Digest, err, want.Digest)
	}
	info, err = Check(builtPlugin(t, noBurstSrc))
	if !errors.Is(err, ErrNoBurst) || info.Digest == "" {
		t.Errorf("Check(noburst) = %+v, %v; want its info and ErrNoBurst", info, err)
	}
}
