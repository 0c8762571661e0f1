package dataset

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// A Source is what the readers read: a file (OpenFile), or a dataset stored in the
// cluster (functions.OpenDataset gives one). A reader of part r of n asks it for that
// part's byte range only, and a line reader for at most a read block past it, where
// its last line ends.
type Source interface {
	io.ReaderAt
	// Size is the source's size in bytes.
	Size() int64
	// Name names the source in errors.
	Name() string
}

// A File is a regular file opened as a Source.
type File struct {
	f    *os.File
	size int64
}

var _ Source = (*File)(nil)

// OpenFile opens the regular file at path. A relative path is from the working
// directory of the process that calls it (on a flare, the invoker's or its function
// host's, not the client's), and an error opening one says so.
func OpenFile(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil && !filepath.IsAbs(path) {
		wd, _ := os.Getwd()
		return nil, fmt.Errorf("dataset: %w (a relative path, from the worker's directory %s)", err, wd)
	}
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("dataset: %w", err)
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("dataset: %s is not a regular file", path)
	}
	return &File{f: f, size: st.Size()}, nil
}

// ReadAt implements io.ReaderAt.
func (f *File) ReadAt(p []byte, off int64) (int, error) { return f.f.ReadAt(p, off) }

// Size is the file's size when it was opened.
func (f *File) Size() int64 { return f.size }

// Name is the file's path.
func (f *File) Name() string { return f.f.Name() }

// Close closes the file.
func (f *File) Close() error { return f.f.Close() }

// checkPart checks that part is one of parts.
func checkPart(part, parts int) error {
	if parts < 1 || part < 0 || part >= parts {
		return fmt.Errorf("dataset: part %d of %d", part, parts)
	}
	return nil
}
