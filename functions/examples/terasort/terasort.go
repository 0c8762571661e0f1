package terasort

import (
	"cmp"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"github.com/burstgo/burst/comm"
	"github.com/burstgo/burst/functions/examples/dataset"
	"github.com/burstgo/burst/functions/examples/flareinput"
)

// Defaults and limits.
const (
	DefaultSamples = 256
	MaxSamples     = 1 << 16
	// MaxWorkerBytes bounds the records one worker makes or reads (4 GiB), so that a
	// large sort asks for a larger burst rather than exhausting an invoker.
	MaxWorkerBytes = 1 << 32
)

const (
	recSize = dataset.RecordSize
	keySize = dataset.KeySize
)

// Input is the input of terasort (see the package doc).
type Input struct {
	Generate *dataset.Records `json:"generate,omitempty"`
	File     string           `json:"file,omitempty"`
	Dataset  string           `json:"dataset,omitempty"`
	Output   string           `json:"output,omitempty"`
	Samples  int              `json:"samples,omitempty"`
}

// Result is what a rank of terasort answers (see the package doc).
type Result struct {
	Rank     int    `json:"rank"`
	Records  int64  `json:"records"`
	MinKey   string `json:"min_key,omitempty"`
	MaxKey   string `json:"max_key,omitempty"`
	Checksum string `json:"checksum"`
	File     string `json:"file,omitempty"`
	Total    *Total `json:"total,omitempty"`
}

// Total is rank 0's check of the whole output.
type Total struct {
	Records       int64   `json:"records"`
	InputChecksum string  `json:"input_checksum"`
	Checksum      string  `json:"checksum"`
	Sorted        bool    `json:"sorted"`
	Permutation   bool    `json:"permutation"`
	Skew          float64 `json:"skew"`
}

// ParseInput decodes and checks an input.
func ParseInput(raw json.RawMessage) (Input, error) {
	var in Input
	if err := flareinput.Decode("terasort", raw, &in, `{"generate": {"records": 1000000, "seed": 1}} or {"file": "records.bin"} or {"dataset": "records"}`); err != nil {
		return in, err
	}
	in.Samples = cmp.Or(in.Samples, DefaultSamples)
	if err := flareinput.OneSource("terasort", in.Generate != nil, in.File, in.Dataset); err != nil {
		return in, err
	}
	switch {
	case in.Samples < 1 || in.Samples > MaxSamples:
		return in, fmt.Errorf("terasort: %d samples, want 1 to %d", in.Samples, MaxSamples)
	}
	if in.Generate != nil {
		if err := in.Generate.Validate(); err != nil {
			return in, fmt.Errorf("terasort: generate: %w", err)
		}
	}
	return in, nil
}

// Burst is the entry point of the function "terasort".
func Burst(ctx context.Context, w *comm.Worker, input json.RawMessage) (any, error) {
	in, err := ParseInput(input)
	if err != nil {
		return nil, err
	}
	res, _, err := run(ctx, w, in)
	return res, err
}

// key is a record's key as two integers, compared as the bytes are.
type key struct {
	hi uint64
	lo uint16
}

func keyOf(rec []byte) key {
	return key{binary.BigEndian.Uint64(rec), binary.BigEndian.Uint16(rec[8:keySize])}
}

func (a key) compare(b key) int { return cmp.Or(cmp.Compare(a.hi, b.hi), cmp.Compare(a.lo, b.lo)) }

func (a key) String() string {
	var b [keySize]byte
	binary.BigEndian.PutUint64(b[:], a.hi)
	binary.BigEndian.PutUint16(b[8:], a.lo)
	return hex.EncodeToString(b[:])
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Fingerprint sums the 64-bit hashes of records (CRC-32C and CRC-32 of each, side by
// side) mod 2⁶⁴: the same for any order of the same records.
func Fingerprint(records []byte) uint64 {
	var s uint64
	for i := 0; i+recSize <= len(records); i += recSize {
		r := records[i : i+recSize]
		s += uint64(crc32.Checksum(r, castagnoli))<<32 | uint64(crc32.ChecksumIEEE(r))
	}
	return s
}

// run sorts and returns the rank's result and its sorted records.
func run(ctx context.Context, w *comm.Worker, in Input) (Result, []byte, error) {
	if err := flareinput.Agree(ctx, w, "terasort", in); err != nil {
		return Result{}, nil, err
	}

	records, err := load(ctx, w, in)
	if err != nil {
		return Result{}, nil, err
	}
	mine := summary{inRecords: int64(len(records) / recSize), inSum: Fingerprint(records)}
	splitters, err := pickSplitters(ctx, w, records, in.Samples)
	if err != nil {
		return Result{}, nil, err
	}
	log := w.Logger()
	log.Debug("terasort: splitters", "records", mine.inRecords)
	got, err := w.AllToAll(ctx, partition(records, splitters, w.Size()))
	if err != nil {
		return Result{}, nil, err
	}
	log.Debug("terasort: shuffled")
	sorted := sortParts(got)
	log.Debug("terasort: sorted", "records", len(sorted)/recSize)

	mine.records = int64(len(sorted) / recSize)
	mine.sum = Fingerprint(sorted)
	mine.sorted = true
	for i := recSize; i < len(sorted); i += recSize {
		if keyOf(sorted[i-recSize:]).compare(keyOf(sorted[i:])) > 0 {
			mine.sorted = false
			break
		}
	}
	res := Result{Rank: w.Rank(), Records: mine.records, Checksum: fmt.Sprintf("%016x", mine.sum)}
	if len(sorted) > 0 {
		mine.min, mine.max = keyOf(sorted), keyOf(sorted[len(sorted)-recSize:])
		res.MinKey, res.MaxKey = mine.min.String(), mine.max.String()
	}
	if in.Output != "" {
		if res.File, err = writePart(in.Output, w.Rank(), sorted); err != nil {
			return Result{}, nil, err
		}
	}
	all, err := w.Gather(ctx, 0, mine.encode())
	if err != nil {
		return Result{}, nil, err
	}
	if w.Rank() == 0 {
		if res.Total, err = check(all); err != nil {
			return Result{}, nil, err
		}
	}
	return res, sorted, nil
}

// load makes or reads the rank's share of the records.
func load(ctx context.Context, w *comm.Worker, in Input) ([]byte, error) {
	if g := in.Generate; g != nil {
		lo, hi := dataset.Split(g.N, w.Size(), w.Rank())
		if (hi-lo)*recSize > MaxWorkerBytes {
			return nil, fmt.Errorf("terasort: %d records per worker is too many: use a larger burst", hi-lo)
		}
		return g.Generate(lo, hi), nil
	}
	src, close, err := flareinput.Open(ctx, w, in.File, in.Dataset)
	if err != nil {
		return nil, fmt.Errorf("terasort: %w", err)
	}
	defer close()
	if src.Size()/int64(w.Size()) > MaxWorkerBytes {
		return nil, fmt.Errorf("terasort: %d bytes per worker is too many: use a larger burst", src.Size()/int64(w.Size()))
	}
	records, err := dataset.ReadRecords(src, w.Rank(), w.Size())
	if err != nil {
		return nil, fmt.Errorf("terasort: %w", err)
	}
	return records, nil
}

// pickSplitters samples keys evenly spaced in the rank's records, gathers the samples
// at rank 0, which sorts them and broadcasts size−1 splitters at even quantiles.
func pickSplitters(ctx context.Context, w *comm.Worker, records []byte, samples int) ([]key, error) {
	n := len(records) / recSize
	s := min(samples, n)
	sample := make([]byte, 0, s*keySize)
	for i := range s {
		at := (i * n / s) * recSize
		sample = append(sample, records[at:at+keySize]...)
	}
	all, err := w.Gather(ctx, 0, sample)
	if err != nil {
		return nil, err
	}
	var enc []byte
	if w.Rank() == 0 {
		var keys []key
		for _, b := range all {
			for i := 0; i+keySize <= len(b); i += keySize {
				keys = append(keys, keyOf(b[i:]))
			}
		}
		slices.SortFunc(keys, key.compare)
		enc = make([]byte, 0, (w.Size()-1)*keySize)
		for i := 1; i < w.Size(); i++ {
			var k key // no sample at all (no record at all): any splitter will do
			if len(keys) > 0 {
				k = keys[i*len(keys)/w.Size()]
			}
			enc = binary.BigEndian.AppendUint64(enc, k.hi)
			enc = binary.BigEndian.AppendUint16(enc, k.lo)
		}
	}
	enc, err = w.Broadcast(ctx, 0, enc)
	if err != nil {
		return nil, err
	}
	if len(enc) != (w.Size()-1)*keySize {
		return nil, fmt.Errorf("terasort: %d bytes of splitters for %d ranks", len(enc), w.Size())
	}
	splitters := make([]key, w.Size()-1)
	for i := range splitters {
		splitters[i] = keyOf(enc[i*keySize:])
	}
	return splitters, nil
}

// partition orders the records in place by destination, the rank whose range holds
// the key (the number of splitters ≤ the key), and returns each rank's part: views of
// records, which thus belongs to the middleware afterwards. In place, so that the input
// needs no second buffer (an American flag sort pass: each record is swapped straight
// into its destination's region).
func partition(records []byte, splitters []key, size int) [][]byte {
	n := len(records) / recSize
	dest := make([]int32, n)
	counts := make([]int, size+1)
	for i := range n {
		k := keyOf(records[i*recSize:])
		d := sort.Search(len(splitters), func(j int) bool { return splitters[j].compare(k) > 0 })
		dest[i] = int32(d)
		counts[d+1]++
	}
	for d := range size {
		counts[d+1] += counts[d]
	}
	next := slices.Clone(counts[:size])
	var tmp [recSize]byte
	for d := range size {
		for next[d] < counts[d+1] {
			i := next[d]
			e := int(dest[i])
			if e == d {
				next[d]++
				continue
			}
			// Swap record i into the next free slot of its destination e.
			j := next[e]
			next[e]++
			copy(tmp[:], records[j*recSize:(j+1)*recSize])
			copy(records[j*recSize:(j+1)*recSize], records[i*recSize:(i+1)*recSize])
			copy(records[i*recSize:(i+1)*recSize], tmp[:])
			dest[i], dest[j] = dest[j], dest[i]
		}
	}
	parts := make([][]byte, size)
	for d := range parts {
		parts[d] = records[counts[d]*recSize : counts[d+1]*recSize]
	}
	return parts
}

// entry is one record of a bucket in the sort: its key and its index in the bucket.
type entry struct {
	hi  uint64
	idx uint32
	lo  uint16
}

// maxBuckets bounds the buckets of sortParts' first pass.
const maxBuckets = 1 << 12

// sortParts sorts the records of every part into one new buffer (the parts are
// read-only: other workers of the pack may hold them), stably: equal keys keep the
// order of the parts, then of their positions. A first pass scatters the records into
// up to 4096 buckets by the top bits of their key (relative to the smallest key: a
// rank's keys lie in its splitters' range), streaming through memory; each bucket,
// small enough for the caches, is then sorted by an index sort. A single index sort
// over everything gathers records at random from the whole buffer, and took most of
// the time.
func sortParts(parts [][]byte) []byte {
	n := 0
	minHi, maxHi := uint64(1<<64-1), uint64(0)
	for _, p := range parts {
		for i := 0; i+recSize <= len(p); i += recSize {
			hi := binary.BigEndian.Uint64(p[i:])
			minHi, maxHi = min(minHi, hi), max(maxHi, hi)
			n++
		}
	}
	if n == 0 {
		return []byte{}
	}
	shift := 0
	for (maxHi-minHi)>>shift >= maxBuckets {
		shift++
	}
	bucket := func(rec []byte) int { return int((binary.BigEndian.Uint64(rec) - minHi) >> shift) }
	starts := make([]int, maxBuckets+1)
	for _, p := range parts {
		for i := 0; i+recSize <= len(p); i += recSize {
			starts[bucket(p[i:])+1]++
		}
	}
	largest := 0
	for b := range maxBuckets {
		largest = max(largest, starts[b+1])
		starts[b+1] += starts[b]
	}
	out := make([]byte, n*recSize)
	next := slices.Clone(starts[:maxBuckets])
	for _, p := range parts {
		for i := 0; i+recSize <= len(p); i += recSize {
			b := bucket(p[i:])
			copy(out[next[b]*recSize:], p[i:i+recSize])
			next[b]++
		}
	}
	entries := make([]entry, 0, largest)
	tmp := make([]byte, largest*recSize)
	for b := range maxBuckets {
		lo, hi := starts[b], starts[b+1]
		if hi-lo < 2 {
			continue
		}
		region := out[lo*recSize : hi*recSize]
		entries = entries[:0]
		for i := 0; i < len(region); i += recSize {
			k := keyOf(region[i:])
			entries = append(entries, entry{hi: k.hi, lo: k.lo, idx: uint32(len(entries))})
		}
		slices.SortFunc(entries, func(a, b entry) int {
			return cmp.Or(cmp.Compare(a.hi, b.hi), cmp.Compare(a.lo, b.lo), cmp.Compare(a.idx, b.idx))
		})
		t := tmp[:len(region)]
		for i, e := range entries {
			copy(t[i*recSize:(i+1)*recSize], region[int(e.idx)*recSize:])
		}
		copy(region, t)
	}
	return out
}

// writePart writes the rank's sorted records to dir/part-RRRRR.
func writePart(dir string, rank int, sorted []byte) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("terasort: output: %w", err)
	}
	path := filepath.Join(dir, fmt.Sprintf("part-%05d", rank))
	if err := os.WriteFile(path, sorted, 0o644); err != nil {
		return "", fmt.Errorf("terasort: output: %w", err)
	}
	return path, nil
}

// summary is what rank 0 gathers from each rank to check the sort.
type summary struct {
	inRecords, records int64
	inSum, sum         uint64
	sorted             bool
	min, max           key
}

const summarySize = 4*8 + 1 + 2*keySize

func (s summary) encode() []byte {
	b := make([]byte, 0, summarySize)
	b = binary.LittleEndian.AppendUint64(b, uint64(s.inRecords))
	b = binary.LittleEndian.AppendUint64(b, uint64(s.records))
	b = binary.LittleEndian.AppendUint64(b, s.inSum)
	b = binary.LittleEndian.AppendUint64(b, s.sum)
	if s.sorted {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	for _, k := range []key{s.min, s.max} {
		b = binary.BigEndian.AppendUint64(b, k.hi)
		b = binary.BigEndian.AppendUint16(b, k.lo)
	}
	return b
}

func decodeSummary(b []byte) (summary, error) {
	if len(b) != summarySize {
		return summary{}, fmt.Errorf("terasort: a summary of %d bytes, want %d", len(b), summarySize)
	}
	return summary{
		inRecords: int64(binary.LittleEndian.Uint64(b)),
		records:   int64(binary.LittleEndian.Uint64(b[8:])),
		inSum:     binary.LittleEndian.Uint64(b[16:]),
		sum:       binary.LittleEndian.Uint64(b[24:]),
		sorted:    b[32] == 1,
		min:       keyOf(b[33:]),
		max:       keyOf(b[33+keySize:]),
	}, nil
}

// check verifies, from every rank's summary, that the output is a sorted permutation of
// the input, and fails if not.
func check(all [][]byte) (*Total, error) {
	t := &Total{Sorted: true, Permutation: true}
	var inRecords int64
	var inSum, sum uint64
	var largest int64
	var prev *summary
	for r, b := range all {
		s, err := decodeSummary(b)
		if err != nil {
			return nil, err
		}
		inRecords += s.inRecords
		t.Records += s.records
		inSum += s.inSum
		sum += s.sum
		largest = max(largest, s.records)
		if !s.sorted {
			return nil, fmt.Errorf("terasort: rank %d's output is not in order", r)
		}
		if s.records == 0 {
			continue
		}
		if prev != nil && prev.max.compare(s.min) > 0 {
			return nil, fmt.Errorf("terasort: rank %d's smallest key %s comes before the largest key %s of an earlier rank", r, s.min, prev.max)
		}
		prev = &s
	}
	t.InputChecksum, t.Checksum = fmt.Sprintf("%016x", inSum), fmt.Sprintf("%016x", sum)
	if inRecords != t.Records || inSum != sum {
		return nil, fmt.Errorf("terasort: the output (%d records, checksum %s) is not a permutation of the input (%d records, checksum %s)",
			t.Records, t.Checksum, inRecords, t.InputChecksum)
	}
	if t.Records > 0 {
		t.Skew = float64(largest) * float64(len(all)) / float64(t.Records)
	}
	return t, nil
}
