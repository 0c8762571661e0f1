package dataset

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
)

// MaxLine is the longest line the text readers take.
const MaxLine = 1 << 20

// Split returns the share [lo, hi) of part among parts nearly equal blocks of n items,
// in order: part r holds items n·r/parts up to n·(r+1)/parts.
func Split(n int64, parts, part int) (lo, hi int64) {
	return splitAt(n, parts, part), splitAt(n, parts, part+1)
}

// splitAt is n·i/parts without overflow for any n and i ≤ parts < 2³¹.
func splitAt(n int64, parts, i int) int64 {
	p, k := int64(parts), int64(i)
	return n/p*k + n%p*k/p
}

func checkPart(parts, part int) error {
	if parts < 1 || part < 0 || part >= parts {
		return fmt.Errorf("dataset: part %d of %d", part, parts)
	}
	return nil
}

// errStop ends a readLines walk early without an error.
var errStop = errors.New("stop")

// readLines calls fn with each line of part part of parts of the file at path: the lines
// whose first byte lies in the part's byte range, so the parts together read every line
// once. fn gets the line's byte offset (line numbers are unknown past the first part)
// and the line without its "\n" or "\r\n"; the line is only valid during the call.
func readLines(path string, part, parts int, fn func(offset int64, line []byte) error) error {
	if err := checkPart(parts, part); err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("dataset: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("dataset: %w", err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("dataset: %s is not a regular file", path)
	}
	lo, hi := Split(st.Size(), parts, part)
	if lo == hi {
		return nil
	}
	pos := lo
	if lo > 0 {
		// Start one byte early: if that byte ends a line, the line at lo is ours, else
		// the line running over lo belongs to the part before.
		pos = lo - 1
	}
	if _, err := f.Seek(pos, io.SeekStart); err != nil {
		return fmt.Errorf("dataset: %w", err)
	}
	r := bufio.NewReaderSize(f, 1<<16)
	var long []byte
	next := func() ([]byte, error) {
		line, err := r.ReadSlice('\n')
		if !errors.Is(err, bufio.ErrBufferFull) {
			return line, err
		}
		long = append(long[:0], line...)
		for errors.Is(err, bufio.ErrBufferFull) {
			line, err = r.ReadSlice('\n')
			long = append(long, line...)
			if len(long) > MaxLine {
				return nil, fmt.Errorf("dataset: %s: line at byte %d is longer than %d bytes", path, pos, MaxLine)
			}
		}
		return long, err
	}
	if lo > 0 {
		skip, err := next()
		if err != nil && err != io.EOF {
			return fmt.Errorf("dataset: %s: %w", path, err)
		}
		pos += int64(len(skip))
	}
	for pos < hi {
		line, err := next()
		if len(line) > 0 {
			n := len(line)
			line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
			if ferr := fn(pos, line); ferr != nil {
				if ferr == errStop {
					return nil
				}
				return ferr
			}
			pos += int64(n)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("dataset: %s: %w", path, err)
		}
	}
	return nil
}

// skippable reports whether a line is blank or a comment ('#' or '%' first).
func skippable(line []byte) bool {
	line = bytes.TrimSpace(line)
	return len(line) == 0 || line[0] == '#' || line[0] == '%'
}

// parseFloats appends the comma-separated numbers of line to dst.
func parseFloats(dst []float64, line []byte) ([]float64, error) {
	for field := range bytes.SplitSeq(line, []byte(",")) {
		x, err := strconv.ParseFloat(string(bytes.TrimSpace(field)), 64)
		if err != nil {
			return dst, fmt.Errorf("%q is not a number", bytes.TrimSpace(field))
		}
		if x-x != 0 {
			return dst, fmt.Errorf("%q is not a finite number", bytes.TrimSpace(field))
		}
		dst = append(dst, x)
	}
	return dst, nil
}

// isHeader reports whether the first line of a CSV file names its columns rather than
// holding numbers.
func isHeader(offset int64, line []byte) bool {
	if offset != 0 {
		return false
	}
	first, _, _ := bytes.Cut(line, []byte(","))
	_, err := strconv.ParseFloat(string(bytes.TrimSpace(first)), 64)
	return err != nil
}
