package comm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
)

// The wire header is fixed-size, versioned and little-endian, whatever the host:
//
//	[0:2]   magic "BU"
//	[2]     version
//	[3]     kind
//	[4:6]   tag (a step inside one collective)
//	[6:8]   the sender's flow-control window, in frames (data frames only)
//	[8:16]  flare hash (FNV-64a of the flare id)
//	[16:20] source rank
//	[20:24] destination rank
//	[24:32] sequence
//	[32:36] chunk index
//	[36:40] chunk count
//	[40:48] total payload length of the whole message
//	[48:56] offset of this chunk's payload in the whole message
//
// then the chunk's payload. 56 is a multiple of 8, so a payload that starts right after
// the header in a freshly allocated frame stays 8-byte aligned for typed views.
const (
	headerSize  = 56
	wireVersion = 1
	magic0      = 'B'
	magic1      = 'U'
)

// kind says what a frame carries.
type kind uint8

const (
	kindP2P   kind = iota + 1 // Send/Recv
	kindColl                  // a collective's data; tag tells the step
	kindAck                   // flow-control credit: seq holds the count of data frames received
	kindHello                 // a pack has subscribed; seq = 0 asks for an answer, 1 is the answer
	kindAbort                 // the flare failed; the payload is the cause
	kindMax
)

func (k kind) String() string {
	switch k {
	case kindP2P:
		return "p2p"
	case kindColl:
		return "collective"
	case kindAck:
		return "ack"
	case kindHello:
		return "hello"
	case kindAbort:
		return "abort"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// header is the decoded form of a frame's header.
type header struct {
	kind   kind
	tag    uint16
	window uint16
	flare  uint64
	src    uint32
	dst    uint32
	seq    uint64
	chunk  uint32
	chunks uint32
	total  uint64
	offset uint64
}

// ErrBadFrame is returned by decodeFrame for anything that is not a well-formed frame of
// this wire version.
var ErrBadFrame = errors.New("comm: bad frame")

func (h *header) put(b []byte) {
	_ = b[headerSize-1]
	b[0], b[1], b[2], b[3] = magic0, magic1, wireVersion, byte(h.kind)
	binary.LittleEndian.PutUint16(b[4:], h.tag)
	binary.LittleEndian.PutUint16(b[6:], h.window)
	binary.LittleEndian.PutUint64(b[8:], h.flare)
	binary.LittleEndian.PutUint32(b[16:], h.src)
	binary.LittleEndian.PutUint32(b[20:], h.dst)
	binary.LittleEndian.PutUint64(b[24:], h.seq)
	binary.LittleEndian.PutUint32(b[32:], h.chunk)
	binary.LittleEndian.PutUint32(b[36:], h.chunks)
	binary.LittleEndian.PutUint64(b[40:], h.total)
	binary.LittleEndian.PutUint64(b[48:], h.offset)
}

// decodeFrame checks a frame and splits it into header and payload. The payload aliases
// the frame.
func decodeFrame(b []byte) (header, []byte, error) {
	if len(b) < headerSize {
		return header{}, nil, fmt.Errorf("%w: %d bytes, shorter than the %d-byte header", ErrBadFrame, len(b), headerSize)
	}
	h, err := decodeHeader(b, len(b)-headerSize)
	if err != nil {
		return h, nil, err
	}
	return h, b[headerSize:], nil
}

// decodeHeader checks the header at the start of b, of a frame whose payload has n
// bytes.
func decodeHeader(b []byte, n int) (header, error) {
	var h header
	if b[0] != magic0 || b[1] != magic1 {
		return h, fmt.Errorf("%w: bad magic %#x %#x", ErrBadFrame, b[0], b[1])
	}
	if b[2] != wireVersion {
		return h, fmt.Errorf("%w: wire version %d, want %d", ErrBadFrame, b[2], wireVersion)
	}
	h.kind = kind(b[3])
	if h.kind == 0 || h.kind >= kindMax {
		return h, fmt.Errorf("%w: unknown kind %d", ErrBadFrame, b[3])
	}
	h.tag = binary.LittleEndian.Uint16(b[4:])
	h.window = binary.LittleEndian.Uint16(b[6:])
	h.flare = binary.LittleEndian.Uint64(b[8:])
	h.src = binary.LittleEndian.Uint32(b[16:])
	h.dst = binary.LittleEndian.Uint32(b[20:])
	h.seq = binary.LittleEndian.Uint64(b[24:])
	h.chunk = binary.LittleEndian.Uint32(b[32:])
	h.chunks = binary.LittleEndian.Uint32(b[36:])
	h.total = binary.LittleEndian.Uint64(b[40:])
	h.offset = binary.LittleEndian.Uint64(b[48:])
	switch {
	case h.chunks == 0:
		return h, fmt.Errorf("%w: zero chunk count", ErrBadFrame)
	case h.chunk >= h.chunks:
		return h, fmt.Errorf("%w: chunk %d of %d", ErrBadFrame, h.chunk, h.chunks)
	case h.offset > h.total || uint64(n) > h.total-h.offset:
		return h, fmt.Errorf("%w: chunk [%d, +%d) outside a %d-byte message", ErrBadFrame, h.offset, n, h.total)
	case h.chunks == 1 && uint64(n) != h.total:
		return h, fmt.Errorf("%w: single chunk of %d bytes in a %d-byte message", ErrBadFrame, n, h.total)
	}
	return h, nil
}

// flareHash names a flare in the fixed header.
func flareHash(flare string) uint64 {
	f := fnv.New64a()
	f.Write([]byte(flare))
	return f.Sum64()
}

// A bundle packs several byte slices into one message, so that a pack sends one remote
// message where it would otherwise send one per worker:
//
//	[0:8]        count n
//	[8:8+8n]     lengths
//	then each part, padded to a multiple of 8 bytes so typed views stay aligned.
//
// A nil part and an empty part are the same on the wire. bundleVector lays one out,
// encodeBundle copies it into one slice and decodeBundle reads it back.

func pad8(n int) int { return (n + 7) &^ 7 }

// zeros pads bundle parts.
var zeros [8]byte

// A vector is a message made of pieces, sent as if they were one slice: a bundle goes
// out without first being copied into one buffer.
type vector [][]byte

func (v vector) size() int {
	n := 0
	for _, b := range v {
		n += len(b)
	}
	return n
}

// bundleVector lays parts out as a bundle, without copying them.
func bundleVector(parts [][]byte) vector {
	head := make([]byte, 8+8*len(parts))
	binary.LittleEndian.PutUint64(head, uint64(len(parts)))
	v := make(vector, 1, 1+2*len(parts))
	v[0] = head
	for i, p := range parts {
		binary.LittleEndian.PutUint64(head[8+8*i:], uint64(len(p)))
		if len(p) > 0 {
			v = append(v, p)
		}
		if pad := pad8(len(p)) - len(p); pad > 0 {
			v = append(v, zeros[:pad])
		}
	}
	return v
}

// reader copies a vector's bytes out in order.
type reader struct {
	v   vector
	off int // in v[0]
}

// read fills dst with the next len(dst) bytes.
func (r *reader) read(dst []byte) {
	for len(dst) > 0 {
		n := copy(dst, r.v[0][r.off:])
		dst = dst[n:]
		if r.off += n; r.off == len(r.v[0]) {
			r.v, r.off = r.v[1:], 0
		}
	}
}

// next returns the next n bytes as slices of the vector, without copying them.
func (r *reader) next(n int) [][]byte {
	var out [][]byte
	for n > 0 {
		b := r.v[0][r.off:]
		if len(b) > n {
			b = b[:n]
		}
		out = append(out, b)
		n -= len(b)
		if r.off += len(b); r.off == len(r.v[0]) {
			r.v, r.off = r.v[1:], 0
		}
	}
	return out
}

func encodeBundle(parts [][]byte) []byte {
	v := bundleVector(parts)
	b := make([]byte, v.size())
	(&reader{v: v}).read(b)
	return b
}

// decodeBundle returns the parts of a bundle; they alias b.
func decodeBundle(b []byte) ([][]byte, error) {
	if len(b) < 8 {
		return nil, fmt.Errorf("%w: bundle of %d bytes", ErrBadFrame, len(b))
	}
	n := binary.LittleEndian.Uint64(b)
	if n > uint64(len(b)-8)/8 {
		return nil, fmt.Errorf("%w: bundle claims %d parts in %d bytes", ErrBadFrame, n, len(b))
	}
	parts := make([][]byte, n)
	off := uint64(8 + 8*n)
	for i := range parts {
		l := binary.LittleEndian.Uint64(b[8+8*i:])
		if l > uint64(len(b)) || off+l > uint64(len(b)) {
			return nil, fmt.Errorf("%w: bundle part %d overruns", ErrBadFrame, i)
		}
		parts[i] = b[off : off+l : off+l]
		off += uint64(pad8(int(l)))
	}
	return parts, nil
}
