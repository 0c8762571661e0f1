package dataset

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// MaxLine is the longest line the text readers take.
const MaxLine = 1 << 20

// errStop ends a readLines walk early without an error.
var errStop = errors.New("stop")

// readBlock is what a line reader asks its source for at a time: a dataset's reads
// are a round trip each, and a larger block takes its chunks at once.
const readBlock = 1 << 20

// readLines calls fn with each line of part part of parts of src: the lines whose first
// byte lies in the part's byte range, so the parts together read every line once. fn
// gets the line's byte offset (line numbers are unknown past the first part) and the
// line without its "\n" or "\r\n"; the line is only valid during the call.
func readLines(src Source, part, parts int, fn func(offset int64, line []byte) error) error {
	if err := checkPart(part, parts); err != nil {
		return err
	}
	size := src.Size()
	lo, hi := Split(size, parts, part)
	if lo == hi {
		return nil
	}
	pos := lo
	if lo > 0 {
		// Start one byte early: if that byte ends a line, the line at lo is ours, else
		// the line running over lo belongs to the part before.
		pos = lo - 1
	}
	name := src.Name()
	r := bufio.NewReaderSize(io.NewSectionReader(src, pos, size-pos), readBlock)
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
				return nil, fmt.Errorf("dataset: %s: line at byte %d is longer than %d bytes", name, pos, MaxLine)
			}
		}
		return long, err
	}
	if lo > 0 {
		skip, err := next()
		if err != nil && err != io.EOF {
			return fmt.Errorf("dataset: %s: %w", name, err)
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
			return fmt.Errorf("dataset: %s: %w", name, err)
		}
	}
	return nil
}

// excerptLen bounds what an error quotes of a file.
const excerptLen = 40

// excerpt quotes b for an error, escaped, and cut short: a binary file given as a CSV
// must not pour its bytes into a flare's record.
func excerpt(b []byte) string {
	if len(b) <= excerptLen {
		return fmt.Sprintf("%q", b)
	}
	return fmt.Sprintf("%q… (%d bytes)", b[:excerptLen], len(b))
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
			return dst, fmt.Errorf("%s is not a number", excerpt(bytes.TrimSpace(field)))
		}
		if x-x != 0 {
			return dst, fmt.Errorf("%s is not a finite number", excerpt(bytes.TrimSpace(field)))
		}
		dst = append(dst, x)
	}
	return dst, nil
}

// isHeader reports whether the first line of a CSV file names its columns rather than
// holding numbers: none of its fields is a number. A first line with a number among
// words ("1e,2,3") is data with a mistake in it, and its parse says where.
func isHeader(offset int64, line []byte) bool {
	if offset != 0 {
		return false
	}
	for field := range bytes.SplitSeq(line, []byte(",")) {
		if _, err := strconv.ParseFloat(string(bytes.TrimSpace(field)), 64); err == nil {
			return false
		}
	}
	return true
}

// A lineWriter writes the lines of a text file through a buffer. Its first error sticks
// and flush returns it, so that the writers' loops need no error checks.
type lineWriter struct {
	bw   *bufio.Writer
	line []byte // the line being made, without its newline
	err  error
}

func newLineWriter(w io.Writer) *lineWriter {
	return &lineWriter{bw: bufio.NewWriterSize(w, 1<<16)}
}

// end writes the line made so far and a newline, and starts the next line.
func (lw *lineWriter) end() {
	lw.line = append(lw.line, '\n')
	if lw.err == nil {
		_, lw.err = lw.bw.Write(lw.line)
	}
	lw.line = lw.line[:0]
}

// floats writes a line of the numbers of every row, in order, separated by commas, in
// the shortest form that parses back to the very same numbers.
func (lw *lineWriter) floats(rows ...[]float64) {
	for _, row := range rows {
		for _, x := range row {
			if len(lw.line) > 0 {
				lw.line = append(lw.line, ',')
			}
			lw.line = strconv.AppendFloat(lw.line, x, 'g', -1, 64)
		}
	}
	lw.end()
}

// flush writes what the buffer holds and returns the first error.
func (lw *lineWriter) flush() error {
	if lw.err == nil {
		lw.err = lw.bw.Flush()
	}
	if lw.err != nil {
		return fmt.Errorf("dataset: %w", lw.err)
	}
	return nil
}
