package terasort

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/burstgo/burst/comm"
	"github.com/burstgo/burst/functions/examples/dataset"
	"github.com/burstgo/burst/functions/examples/flaretest"
)

// reference sorts every record sequentially by key, stably, written apart from the
// package's code.
func reference(records []byte) []byte {
	n := len(records) / dataset.RecordSize
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	rec := func(i int) []byte { return records[i*dataset.RecordSize : (i+1)*dataset.RecordSize] }
	slices.SortStableFunc(idx, func(a, b int) int { return bytes.Compare(rec(a)[:dataset.KeySize], rec(b)[:dataset.KeySize]) })
	out := make([]byte, 0, len(records))
	for _, i := range idx {
		out = append(out, rec(i)...)
	}
	return out
}

// fingerprint is the checksum's definition, computed apart.
func fingerprint(records []byte) string {
	var s uint64
	for i := 0; i < len(records); i += dataset.RecordSize {
		r := records[i : i+dataset.RecordSize]
		s += uint64(crc32.Checksum(r, crc32.MakeTable(crc32.Castagnoli)))<<32 | uint64(crc32.ChecksumIEEE(r))
	}
	return fmt.Sprintf("%016x", s)
}

// sortFlare sorts on a flare and returns every rank's result and the ranks' outputs put
// together in rank order.
func sortFlare(t *testing.T, l flaretest.Layout, b flaretest.Backend, in Input) ([]Result, []byte) {
	t.Helper()
	results, all, _, err := flaretest.RunParts(t, l, b, func(ctx context.Context, w *comm.Worker) (Result, []byte, error) {
		return run(ctx, w, in)
	})
	if err != nil {
		t.Fatalf("%v: %v", l, err)
	}
	return results, all
}

// checkResults checks the ranks' answers against the reference output.
func checkResults(t *testing.T, results []Result, want []byte, inputSum string) {
	t.Helper()
	tot := results[0].Total
	wantSum := fingerprint(want)
	if tot == nil || !tot.Sorted || !tot.Permutation || tot.Checksum != wantSum || tot.InputChecksum != inputSum ||
		tot.Records != int64(len(want)/dataset.RecordSize) {
		t.Fatalf("rank 0's total %+v, want checksum %s of %d records", tot, wantSum, len(want)/dataset.RecordSize)
	}
	at := 0
	for _, r := range results {
		if r.Rank != 0 && r.Total != nil {
			t.Errorf("rank %d answered a total", r.Rank)
		}
		mine := want[at : at+int(r.Records)*dataset.RecordSize]
		at += len(mine)
		if r.Checksum != fingerprint(mine) {
			t.Errorf("rank %d: checksum %s, want %s", r.Rank, r.Checksum, fingerprint(mine))
		}
		if r.Records > 0 && (r.MinKey != fmt.Sprintf("%x", mine[:10]) || r.MaxKey != fmt.Sprintf("%x", mine[len(mine)-100:len(mine)-90])) {
			t.Errorf("rank %d: keys %s to %s", r.Rank, r.MinKey, r.MaxKey)
		}
	}
}

func TestTeraSortMatchesReference(t *testing.T) {
	tests := []struct {
		name string
		in   Input
	}{
		{"records", Input{Generate: &dataset.Records{N: 5000, Seed: 1}, Samples: 64}},
		{"few samples", Input{Generate: &dataset.Records{N: 3001, Seed: 2}, Samples: 1}},
		{"fewer records than ranks", Input{Generate: &dataset.Records{N: 3, Seed: 3}, Samples: 256}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			records := tt.in.Generate.Generate(0, tt.in.Generate.N)
			want := reference(records)
			inSum := fingerprint(records)
			bySize := map[int][]byte{}
			for _, l := range flaretest.Layouts {
				results, got := sortFlare(t, l, flaretest.Memory, tt.in)
				if !bytes.Equal(got, want) {
					t.Fatalf("size %d, g %d: the output is not the reference's sorted records", l.Size, l.Granularity)
				}
				checkResults(t, results, want, inSum)
				// The split between ranks does not depend on the granularity either.
				var counts []byte
				for _, r := range results {
					counts = fmt.Appendf(counts, "%d,", r.Records)
				}
				if prev, ok := bySize[l.Size]; ok && !bytes.Equal(prev, counts) {
					t.Errorf("size %d, g %d: shares %s, g 1 gave %s", l.Size, l.Granularity, counts, prev)
				}
				bySize[l.Size] = counts
			}
		})
	}
}

// Many equal keys, all in one part of the input: equal keys all go to one rank, and the
// output is still a sorted permutation.
func TestTeraSortDuplicateKeys(t *testing.T) {
	records := (dataset.Records{N: 2000, Seed: 4}).Generate(0, 2000)
	for i := range 1500 {
		copy(records[i*100:i*100+10], "SAMEKEY!!!")
	}
	path := flaretest.TempFile(t, "dup.bin", string(records))
	want := reference(records)
	for _, l := range []flaretest.Layout{{Size: 4, Granularity: 2}, {Size: 8, Granularity: 1}} {
		results, got := sortFlare(t, l, flaretest.Memory, Input{File: path, Samples: 16})
		if !bytes.Equal(sortedKeys(got), sortedKeys(want)) || fingerprint(got) != fingerprint(want) {
			t.Fatalf("size %d: the output is not a sorted permutation", l.Size)
		}
		checkResults(t, results, got, fingerprint(records))
		holders := 0
		for _, r := range results {
			if r.Records > 0 && r.MinKey <= fmt.Sprintf("%x", "SAMEKEY!!!") && r.MaxKey >= fmt.Sprintf("%x", "SAMEKEY!!!") {
				holders++
			}
		}
		if holders != 1 || results[0].Total.Skew < 1.5 {
			t.Errorf("size %d: %d ranks hold the repeated key, skew %v", l.Size, holders, results[0].Total.Skew)
		}
	}
}

// sortedKeys returns the keys of records, in their order (records with equal keys may
// come in any order).
func sortedKeys(records []byte) []byte {
	var keys []byte
	for i := 0; i < len(records); i += 100 {
		keys = append(keys, records[i:i+10]...)
	}
	return keys
}

// A file of records, read in parts, sorts into output parts that make the sorted file.
func TestTeraSortFileToFiles(t *testing.T) {
	gen := dataset.Records{N: 4321, Seed: 5}
	path := flaretest.TempFileOf(t, "in.bin", func(w io.Writer) error {
		_, err := gen.WriteTo(w)
		return err
	})
	records := gen.Generate(0, gen.N)
	want := reference(records)
	out := filepath.Join(t.TempDir(), "sorted", "deeper")
	results, _ := sortFlare(t, flaretest.Layout{Size: 4, Granularity: 2}, flaretest.Memory, Input{File: path, Output: out, Samples: 100})
	var joined []byte
	for r, res := range results {
		if res.File != filepath.Join(out, fmt.Sprintf("part-%05d", r)) {
			t.Errorf("rank %d wrote %q", r, res.File)
		}
		b, err := os.ReadFile(res.File)
		if err != nil {
			t.Fatal(err)
		}
		joined = append(joined, b...)
	}
	if !bytes.Equal(joined, want) {
		t.Error("the output parts do not make the sorted file")
	}
	checkResults(t, results, want, fingerprint(records))
}

// check catches every way an output can be wrong.
func TestCheck(t *testing.T) {
	k := func(s string) key { return keyOf([]byte(s)) }
	good := []summary{
		{inRecords: 3, records: 2, inSum: 10, sum: 7, sorted: true, min: k("aaaaaaaaaa"), max: k("bbbbbbbbbb")},
		{inRecords: 1, records: 0, inSum: 5, sum: 0, sorted: true},
		{inRecords: 0, records: 2, inSum: 0, sum: 8, sorted: true, min: k("bbbbbbbbbb"), max: k("cccccccccc")},
	}
	tests := []struct {
		name   string
		change func(s []summary)
		want   string
	}{
		{"good", func([]summary) {}, ""},
		{"lost record", func(s []summary) { s[2].records = 1 }, "not a permutation"},
		{"changed record", func(s []summary) { s[0].sum++ }, "not a permutation"},
		{"unsorted rank", func(s []summary) { s[2].sorted = false }, "rank 2's output is not in order"},
		{"overlap", func(s []summary) { s[0].max = k("bbbbbbbbbc") }, "comes before"},
	}
	for _, tt := range tests {
		s := slices.Clone(good)
		tt.change(s)
		var enc [][]byte
		for _, x := range s {
			enc = append(enc, x.encode())
		}
		tot, err := check(enc)
		if tt.want == "" {
			if err != nil || tot.Records != 4 || tot.Skew != 1.5 || tot.Checksum != fmt.Sprintf("%016x", 15) {
				t.Errorf("%s: %+v, %v", tt.name, tot, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want %q", tt.name, err, tt.want)
		}
	}
	if _, err := check([][]byte{{1, 2}}); err == nil {
		t.Error("a short summary passed")
	}
}

func TestTeraSortOverNATS(t *testing.T) {
	nats := flaretest.NATS(t)
	// Enough records that the shuffle crosses the chunk size (1 MiB).
	gen := dataset.Records{N: 40000, Seed: 6}
	records := gen.Generate(0, gen.N)
	want := reference(records)
	results, got := sortFlare(t, flaretest.Layout{Size: 4, Granularity: 2}, nats, Input{Generate: &gen, Samples: 256})
	if !bytes.Equal(got, want) {
		t.Fatal("the output is not the reference's")
	}
	checkResults(t, results, want, fingerprint(records))
}

func TestBurst(t *testing.T) {
	results, err := flaretest.Burst(t, flaretest.Layout{Size: 2, Granularity: 1}, Burst, `{"generate": {"records": 1000, "seed": 1}}`)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(results[0])
	for _, field := range []string{`"total":{"records":1000`, `"sorted":true`, `"permutation":true`, `"min_key":"`, `"checksum":"`} {
		if !strings.Contains(string(b), field) {
			t.Errorf("rank 0 answered %s, without %s", b, field)
		}
	}
	partial := flaretest.TempFile(t, "partial.bin", strings.Repeat("\x00", 250))
	notDir := flaretest.TempFile(t, "file", "")
	tests := []struct{ name, input, want string }{
		{"no input", ``, "no input"},
		{"unknown field", `{"file": "x", "sample": 3}`, "unknown field"},
		{"both sources", `{"file": "x", "generate": {"records": 5}}`, "exactly one"},
		{"samples", `{"file": "x", "samples": -1}`, "samples"},
		{"no records", `{"generate": {"records": 0}}`, "0 records"},
		{"missing file", `{"file": "/nonexistent/records.bin"}`, "no such file"},
		{"partial record", `{"file": "` + partial + `"}`, "not a whole number"},
		{"output not a directory", `{"generate": {"records": 10}, "output": "` + notDir + `"}`, "output"},
	}
	for _, tt := range tests {
		_, err := flaretest.Burst(t, flaretest.Layout{Size: 2, Granularity: 1}, Burst, tt.input)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want an error with %q", tt.name, err, tt.want)
		}
	}
}

// sortParts sorts whatever the spread of the keys, empty parts and all.
func TestSortParts(t *testing.T) {
	rec := func(k string, tag byte) []byte {
		r := make([]byte, 100)
		copy(r, k)
		r[99] = tag
		return r
	}
	tests := []struct {
		name  string
		parts [][][]byte // records of each part
	}{
		{"empty", [][][]byte{{}, {}}},
		{"one", [][][]byte{{rec("aaaaaaaaaa", 1)}}},
		{"full range", [][][]byte{{rec("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 1), rec("\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", 2)}, {}, {rec("\x80zzzzzzzzz", 3)}}},
		{"only the last bytes differ", [][][]byte{{rec("kkkkkkkkk\x03", 1), rec("kkkkkkkkk\x01", 2)}, {rec("kkkkkkkkk\x02", 3), rec("kkkkkkkkk\x01", 4)}}},
	}
	for _, tt := range tests {
		var parts [][]byte
		var all []byte
		for _, p := range tt.parts {
			parts = append(parts, bytes.Join(p, nil))
			all = append(all, bytes.Join(p, nil)...)
		}
		if got, want := sortParts(parts), reference(all); !bytes.Equal(got, want) {
			t.Errorf("%s: got %q, want %q", tt.name, sortedKeys(got), sortedKeys(want))
		}
	}
}

// partition puts every record in the part of its splitter range, losing none.
func TestPartition(t *testing.T) {
	records := (dataset.Records{N: 5000, Seed: 7}).Generate(0, 5000)
	in := fingerprint(records)
	splitters := []key{keyOf([]byte("\x40\x00\x00\x00\x00\x00\x00\x00\x00\x00")), keyOf([]byte("\x40\x00\x00\x00\x00\x00\x00\x00\x00\x00")), keyOf([]byte("\xc0\x00\x00\x00\x00\x00\x00\x00\x00\x00"))}
	parts := partition(records, splitters, 4)
	var joined []byte
	for d, p := range parts {
		for i := 0; i < len(p); i += 100 {
			k := keyOf(p[i:])
			if d > 0 && k.compare(splitters[d-1]) < 0 || d < 3 && k.compare(splitters[d]) >= 0 {
				t.Fatalf("key %s in part %d", k, d)
			}
		}
		joined = append(joined, p...)
	}
	if len(parts[1]) != 0 || len(joined) != 500000 || fingerprint(joined) != in {
		t.Errorf("parts of %d, %d, %d, %d bytes; fingerprint %s, want %s", len(parts[0]), len(parts[1]), len(parts[2]), len(parts[3]), fingerprint(joined), in)
	}
}
