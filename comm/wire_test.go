package comm

import (
	"bytes"
	"errors"
	"testing"
	"unsafe"
)

func errorsIs(err, target error) bool { return errors.Is(err, target) }

func uintptrOf(b []byte) uintptr { return uintptr(unsafe.Pointer(&b[0])) }

func frame(h header, payload []byte) []byte {
	b := make([]byte, headerSize+len(payload))
	h.put(b)
	copy(b[headerSize:], payload)
	return b
}

func TestHeaderRoundTrip(t *testing.T) {
	h := header{kind: kindColl, tag: 3, window: 16, flare: flareHash("f1"), src: 7, dst: 1 << 30, seq: 1<<40 + 5, chunk: 2, chunks: 9, total: 9000, offset: 2000}
	b := frame(h, make([]byte, 1000))
	got, p, err := decodeFrame(b)
	if err != nil {
		t.Fatal(err)
	}
	if got != h || len(p) != 1000 {
		t.Fatalf("got %+v (%d bytes), want %+v", got, len(p), h)
	}
	// The layout is fixed and little-endian: spot-check bytes a peer on another host reads.
	if b[0] != 'B' || b[1] != 'U' || b[2] != 1 || b[3] != byte(kindColl) || b[16] != 7 || b[23] != 0x40 {
		t.Fatalf("unexpected layout: % x", b[:headerSize])
	}
}

func TestDecodeFrameErrors(t *testing.T) {
	ok := header{kind: kindP2P, chunks: 1, total: 3}
	tests := []struct {
		name  string
		frame []byte
	}{
		{"empty", nil},
		{"short", make([]byte, headerSize-1)},
		{"bad magic", func() []byte { b := frame(ok, []byte("abc")); b[0] = 'X'; return b }()},
		{"new version", func() []byte { b := frame(ok, []byte("abc")); b[2] = 2; return b }()},
		{"kind 0", frame(header{kind: 0, chunks: 1}, nil)},
		{"unknown kind", frame(header{kind: kindMax, chunks: 1}, nil)},
		{"no chunks", frame(header{kind: kindP2P}, nil)},
		{"chunk past count", frame(header{kind: kindP2P, chunk: 2, chunks: 2, total: 10}, nil)},
		{"payload past total", frame(header{kind: kindP2P, chunk: 0, chunks: 2, total: 2}, []byte("abc"))},
		{"offset past total", frame(header{kind: kindP2P, chunk: 1, chunks: 2, total: 2, offset: 5}, nil)},
		{"single chunk shorter than total", frame(header{kind: kindP2P, chunks: 1, total: 5}, []byte("abc"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := decodeFrame(tt.frame); !errors.Is(err, ErrBadFrame) {
				t.Fatalf("err = %v, want ErrBadFrame", err)
			}
		})
	}
}

func TestBundle(t *testing.T) {
	tests := [][][]byte{
		{},
		{nil},
		{[]byte("a"), nil, []byte("hello, world"), make([]byte, 17)},
	}
	for _, parts := range tests {
		got, err := decodeBundle(encodeBundle(parts))
		if err != nil {
			t.Fatal(err)
		}
		if err := equalParts(got, parts); err != nil {
			t.Fatal(err)
		}
		for i, p := range got {
			if len(p) > 0 && uintptrOf(p)%8 != 0 {
				t.Errorf("part %d is not 8-byte aligned", i)
			}
		}
	}
	for _, bad := range [][]byte{nil, {1, 0, 0, 0, 0, 0, 0, 0}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}} {
		if _, err := decodeBundle(bad); !errors.Is(err, ErrBadFrame) {
			t.Errorf("decodeBundle(% x): err = %v, want ErrBadFrame", bad, err)
		}
	}
}

// FuzzDecodeFrame checks that no input makes the decoder panic or return a payload that
// disagrees with its header. The seeds run with every go test.
func FuzzDecodeFrame(f *testing.F) {
	f.Add(frame(header{kind: kindP2P, chunks: 1, total: 3}, []byte("abc")))
	f.Add(frame(header{kind: kindColl, tag: 2, chunk: 1, chunks: 3, total: 10, offset: 4}, []byte("wxyz")))
	f.Add(frame(header{kind: kindAck, chunks: 1, seq: 8}, nil))
	f.Add(encodeAbort("f", "rank 3: boom"))
	f.Add([]byte("BU"))
	f.Add(make([]byte, headerSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, p, err := decodeFrame(b)
		if err != nil {
			if !errors.Is(err, ErrBadFrame) {
				t.Fatalf("error %v does not wrap ErrBadFrame", err)
			}
			return
		}
		if h.chunk >= h.chunks || h.offset+uint64(len(p)) > h.total {
			t.Fatalf("accepted an inconsistent frame: %+v with %d bytes", h, len(p))
		}
		if !bytes.Equal(frame(h, p), b) {
			t.Fatalf("re-encoding differs")
		}
	})
}

// FuzzDecodeBundle checks the bundle decoder in the same way.
func FuzzDecodeBundle(f *testing.F) {
	f.Add(encodeBundle([][]byte{[]byte("a"), nil, []byte("bcd")}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		parts, err := decodeBundle(b)
		if err != nil {
			return
		}
		n := 0
		for _, p := range parts {
			n += len(p)
		}
		if n > len(b) {
			t.Fatalf("parts add up to %d bytes from %d", n, len(b))
		}
	})
}
