package dataset

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRecordsLayout(t *testing.T) {
	r := Records{N: 300, Seed: 4}
	all := r.Generate(0, r.N)
	if len(all) != 300*RecordSize {
		t.Fatalf("%d bytes, want %d", len(all), 300*RecordSize)
	}
	rec := all[255*RecordSize : 256*RecordSize]
	if !bytes.Equal(rec[10:12], []byte{0, 0x11}) || string(rec[12:44]) != "000000000000000000000000000000FF" ||
		!bytes.Equal(rec[44:48], []byte{0x88, 0x99, 0xAA, 0xBB}) || !bytes.Equal(rec[96:], []byte{0xCC, 0xDD, 0xEE, 0xFF}) {
		t.Errorf("record 255 is laid out wrong: % x", rec)
	}
	keys := map[string]bool{}
	for i := range r.N {
		keys[string(all[i*RecordSize:i*RecordSize+KeySize])] = true
	}
	if len(keys) != 300 {
		t.Errorf("%d distinct keys of 300", len(keys))
	}
	for _, parts := range []int{1, 4, 7} {
		if !bytes.Equal(inParts(r.N, parts, r.Generate), all) {
			t.Errorf("%d parts do not make the whole dataset", parts)
		}
	}
}

func TestRecordsRoundTrip(t *testing.T) {
	r := Records{N: 40000, Seed: 8}
	path := filepath.Join(t.TempDir(), "records.bin")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := r.WriteTo(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil || n != r.N*RecordSize {
		t.Fatalf("WriteTo: %d bytes, %v", n, err)
	}
	want := r.Generate(0, r.N)
	for _, parts := range []int{1, 3, 16} {
		var got []byte
		for part := range parts {
			b, err := ReadRecords(open(t, path), part, parts)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, b...)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%d parts: records read differ from those written", parts)
		}
	}
}

func TestReadRecordsErrors(t *testing.T) {
	tests := []struct {
		name, content string
		want          string
	}{
		{"partial record", strings.Repeat("x", 150), "not a whole number"},
		{"empty is fine", "", ""},
	}
	for _, tt := range tests {
		path := writeFile(t, "r.bin", tt.content)
		b, err := ReadRecords(path, 0, 2)
		if tt.want == "" {
			if err != nil || len(b) != 0 {
				t.Errorf("%s: got %d bytes, %v", tt.name, len(b), err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want %q", tt.name, err, tt.want)
		}
	}
	if err := (Records{N: 0}).Validate(); err == nil {
		t.Error("zero records validated")
	}
}

// The filler is a letter per 4 bytes, starting at the index's letter and wrapping.
func TestRecordsFiller(t *testing.T) {
	r := Records{N: 30, Seed: 1}
	all := r.Generate(0, r.N)
	for i := range r.N {
		rec := all[i*RecordSize : (i+1)*RecordSize]
		for j := range 48 {
			if want := 'A' + byte((i+int64(j/4))%26); rec[48+j] != want {
				t.Fatalf("record %d, filler byte %d is %q, want %q", i, j, rec[48+j], want)
			}
		}
	}
}
