package invoker

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/burstgo/burst/datasets"
	"github.com/burstgo/burst/functions"
)

// A datasetOpener opens the datasets of a pack's flare's namespace for its workers
// (functions.OpenDataset), over a connection it dials at the first open: most packs
// read none.
type datasetOpener struct {
	namespace string
	// dial returns the connection to read over and its release.
	dial func() (*datasets.Conn, func(), error)

	mu      sync.Mutex
	dialed  bool
	conn    *datasets.Conn
	release func()
	err     error
}

// open implements functions.OpenDataset.
func (o *datasetOpener) open(ctx context.Context, name string) (functions.Dataset, error) {
	if o.namespace == "" {
		return nil, errors.New("datasets: the pack's assignment names no namespace")
	}
	o.mu.Lock()
	if !o.dialed {
		o.dialed = true
		o.conn, o.release, o.err = o.dial()
	}
	conn, err := o.conn, o.err
	o.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("datasets: %w", err)
	}
	r, err := datasets.Open(ctx, conn, o.namespace, name)
	if errors.Is(err, datasets.ErrNotFound) {
		return nil, fmt.Errorf("no dataset %q in namespace %s: see burst data ls", name, o.namespace)
	}
	if err != nil {
		return nil, err
	}
	return r, nil
}

// close lets go of the connection, once the pack's workers have returned.
func (o *datasetOpener) close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.release != nil {
		o.release()
		o.release = nil
	}
}
