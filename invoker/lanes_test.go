package invoker

import (
	"flag"
	"testing"
)

// A function host gets the invoker's lanes through its flags, but for the port: an
// invoker's fixed port is its own, a host takes a free one.
func TestLaneHostArgs(t *testing.T) {
	o := LaneOptions{Host: "10.0.0.2:6300", CertFile: "c.pem", KeyFile: "k.pem", CAFile: "ca.pem"}
	fs := flag.NewFlagSet("host", flag.ContinueOnError)
	parsed := laneFlags(fs)
	if err := fs.Parse(o.hostArgs()); err != nil {
		t.Fatal(err)
	}
	want := o
	want.Host = "10.0.0.2"
	if got := parsed(); got != want {
		t.Errorf("the host's lanes %+v, want %+v", got, want)
	}
	off := flag.NewFlagSet("host", flag.ContinueOnError)
	parsed = laneFlags(off)
	if err := off.Parse(LaneOptions{Off: true}.hostArgs()); err != nil || !parsed().Off {
		t.Errorf("lanes off: %+v, %v", parsed(), err)
	}
}
