package dataset

import (
	"fmt"
	"os"
	"path/filepath"
)

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

// openPart opens the file at path, which must be a regular file, to read part part of
// parts of it, and returns it and its size.
func openPart(path string, part, parts int) (*os.File, int64, error) {
	if parts < 1 || part < 0 || part >= parts {
		return nil, 0, fmt.Errorf("dataset: part %d of %d", part, parts)
	}
	f, err := os.Open(path)
	if err != nil && !filepath.IsAbs(path) {
		// Where a relative path led: the working directory of the process that runs
		// the worker (the invoker, or its function host), not the client's.
		wd, _ := os.Getwd()
		return nil, 0, fmt.Errorf("dataset: %w (a relative path, from the worker's directory %s)", err, wd)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("dataset: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("dataset: %w", err)
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, 0, fmt.Errorf("dataset: %s is not a regular file", path)
	}
	return f, st.Size(), nil
}
