package dataset

import (
	"bufio"
	"fmt"
	"io"
)

// TeraSort's record layout.
const (
	RecordSize = 100
	KeySize    = 10
	MaxRecords = 1 << 40
)

// Records describes seeded TeraSort records, laid out as gensort's binary records are:
// a 10-byte random key, the bytes 00 11, the record's index as 32 hex digits, 88 99 AA
// BB, 48 filler bytes and CC DD EE FF. (The keys are not gensort's own.) As JSON:
//
//	{"records": 10000000, "seed": 1}
type Records struct {
	N    int64  `json:"records"`
	Seed uint64 `json:"seed"`
}

// Validate checks r.
func (r Records) Validate() error {
	if r.N < 1 || r.N > MaxRecords {
		return fmt.Errorf("dataset: %d records, want 1 to %d", r.N, int64(MaxRecords))
	}
	return nil
}

// Generate returns records lo..hi-1, RecordSize bytes each.
func (r Records) Generate(lo, hi int64) []byte {
	out := make([]byte, (hi-lo)*RecordSize)
	r.fill(out, lo)
	return out
}

const hexDigits = "0123456789ABCDEF"

// fill writes records from index lo on into buf, len(buf)/RecordSize of them.
func (r Records) fill(buf []byte, lo int64) {
	for i := 0; i+RecordSize <= len(buf); i += RecordSize {
		idx := uint64(lo) + uint64(i/RecordSize)
		rec := buf[i : i+RecordSize]
		s := newStream(r.Seed, saltRecord, idx)
		a, b := s.uint64(), s.uint64()
		for j := range 8 {
			rec[j] = byte(a >> (56 - 8*j))
		}
		rec[8], rec[9] = byte(b>>56), byte(b>>48)
		rec[10], rec[11] = 0x00, 0x11
		for j := range 16 {
			rec[12+j] = '0'
		}
		for j := range 16 {
			rec[28+j] = hexDigits[idx>>(60-4*j)&0xf]
		}
		copy(rec[44:48], "\x88\x99\xAA\xBB")
		letter := byte(idx % 26)
		for j := 48; j < 96; j += 4 {
			c := 'A' + letter
			rec[j], rec[j+1], rec[j+2], rec[j+3] = c, c, c, c
			if letter++; letter == 26 {
				letter = 0
			}
		}
		copy(rec[96:100], "\xCC\xDD\xEE\xFF")
	}
}

// WriteTo writes every record to w.
func (r Records) WriteTo(w io.Writer) (int64, error) {
	if err := r.Validate(); err != nil {
		return 0, err
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	buf := make([]byte, 1<<14*RecordSize)
	var n int64
	for lo := int64(0); lo < r.N; lo += 1 << 14 {
		b := buf[:min(r.N-lo, 1<<14)*RecordSize]
		r.fill(b, lo)
		m, err := bw.Write(b)
		n += int64(m)
		if err != nil {
			return n, fmt.Errorf("dataset: %w", err)
		}
	}
	if err := bw.Flush(); err != nil {
		return n, fmt.Errorf("dataset: %w", err)
	}
	return n, nil
}

// ReadRecords reads part part of parts of a file of raw records (RecordSize bytes each,
// no separators; the size must be a multiple of RecordSize): the records of
// Split(records, parts, part).
func ReadRecords(src Source, part, parts int) ([]byte, error) {
	if err := checkPart(part, parts); err != nil {
		return nil, err
	}
	size := src.Size()
	if size%RecordSize != 0 {
		return nil, fmt.Errorf("dataset: %s has %d bytes, not a whole number of %d-byte records", src.Name(), size, RecordSize)
	}
	lo, hi := Split(size/RecordSize, parts, part)
	out := make([]byte, (hi-lo)*RecordSize)
	if _, err := src.ReadAt(out, lo*RecordSize); err != nil && !(err == io.EOF && hi == lo) {
		return nil, fmt.Errorf("dataset: %s: %w", src.Name(), err)
	}
	return out, nil
}
