package comm

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"unsafe"
)

// An Op combines two contributions to a reduction: a holds ranks before b's. It must be
// associative; it need not be commutative, since contributions are always combined in
// rank order. It must not change a or b (they may be other workers' buffers) and returns
// the combination.
type Op func(a, b []byte) []byte

// combiner is how a reduction combines; own says that a is the middleware's own buffer,
// which may be overwritten.
type combiner interface {
	combine(a []byte, own bool, b []byte) ([]byte, error)
}

type opCombiner Op

func (c opCombiner) combine(a []byte, _ bool, b []byte) ([]byte, error) { return c(a, b), nil }

type nopCombiner struct{}

func (nopCombiner) combine(a []byte, _ bool, _ []byte) ([]byte, error) { return a, nil }

// Reduce combines every worker's data with op, in rank order, and returns the result at
// root; the others get nil. Within a pack the agent combines first, so only one partial
// result per pack crosses the network. For floating-point data the result can differ in
// the last bits between granularities, as in MPI, since the grouping changes.
func (w *Worker) Reduce(ctx context.Context, root int, data []byte, op Op) ([]byte, error) {
	if err := w.checkRank(root, "root"); err != nil {
		return nil, err
	}
	if op == nil {
		return nil, fmt.Errorf("%w: nil op", ErrBadArgument)
	}
	return w.reduce(ctx, w.nextColl(), root, data, opCombiner(op))
}

// AllReduce combines every worker's data with op, in rank order, and returns the result
// at every worker. Workers of a pack get the very same slice.
func (w *Worker) AllReduce(ctx context.Context, data []byte, op Op) ([]byte, error) {
	if op == nil {
		return nil, fmt.Errorf("%w: nil op", ErrBadArgument)
	}
	return w.allReduce(ctx, data, opCombiner(op))
}

func (w *Worker) allReduce(ctx context.Context, data []byte, c combiner) ([]byte, error) {
	r, err := w.reduce(ctx, w.nextColl(), 0, data, c)
	if err != nil {
		return nil, err
	}
	m, err := w.broadcast(ctx, w.nextColl(), 0, message{data: r})
	return m.data, err
}

func (w *Worker) reduce(ctx context.Context, seq uint64, root int, data []byte, c combiner) ([]byte, error) {
	p := w.p
	rootPack := p.packOf(root)
	local, err := w.collectLocal(ctx, seq, p.agent(p.index, root), data)
	if err != nil || local == nil {
		return nil, err
	}
	acc, err := fold(c, local)
	if err != nil {
		return nil, err
	}
	if p.index != rootPack {
		return nil, w.send(ctx, kindColl, tagRemote, seq, root, message{data: acc.data})
	}
	partials := make([]message, p.packs)
	partials[p.index] = acc
	for q := range p.packs {
		if q == rootPack {
			continue
		}
		if partials[q], err = w.recv(ctx, kindColl, tagRemote, seq, p.leader(q)); err != nil {
			return nil, err
		}
	}
	acc, err = fold(c, partials)
	return acc.data, err
}

// fold combines ms in order.
func fold(c combiner, ms []message) (message, error) {
	if f, ok := c.(folder); ok && len(ms) > 2 {
		return f.fold(ms)
	}
	acc := ms[0]
	for _, m := range ms[1:] {
		data, err := c.combine(acc.data, acc.owned, m.data)
		if err != nil {
			return message{}, err
		}
		acc = message{data: data, owned: true}
	}
	return acc, nil
}

// Number is an element type that the typed helpers reduce.
type Number interface {
	~int | ~int8 | ~int16 | ~int32 | ~int64 |
		~uint | ~uint8 | ~uint16 | ~uint32 | ~uint64 |
		~float32 | ~float64
}

// Sum, Min and Max are the usual element operations for the typed helpers.
func Sum[T Number](a, b T) T { return a + b }

// Min returns the smaller of a and b.
func Min[T Number](a, b T) T { return min(a, b) }

// Max returns the larger of a and b.
func Max[T Number](a, b T) T { return max(a, b) }

// elementwise combines two equally long slices of T element by element, in place when it
// owns the left one.
type elementwise[T Number] struct{ op func(a, b T) T }

func (e elementwise[T]) combine(a []byte, own bool, b []byte) ([]byte, error) {
	if len(a) != len(b) {
		return nil, fmt.Errorf("%w: reduction of slices of %d and %d bytes", ErrBadArgument, len(a), len(b))
	}
	out := a
	if !own || !aligned[T](a) {
		out = make([]byte, len(a))
	}
	x, y, z := Elements[T](a), Elements[T](b), Elements[T](out)
	op := e.op
	for i := range z {
		z[i] = op(x[i], y[i])
	}
	return out, nil
}

// folder is a combiner that folds many contributions at once.
type folder interface {
	fold(ms []message) (message, error)
}

// parallelElements is the slice length from which a pack's fold is split across cores.
const parallelElements = 1 << 15

// fold combines every contribution element by element in one pass, rank order kept
// for each element, split into segments that run on all cores: the workers of a pack
// share memory, so the pack's agent reads their buffers directly.
func (e elementwise[T]) fold(ms []message) (message, error) {
	n := len(ms[0].data)
	ins := make([][]T, len(ms))
	for i, m := range ms {
		if len(m.data) != n {
			return message{}, fmt.Errorf("%w: reduction of slices of %d and %d bytes", ErrBadArgument, n, len(m.data))
		}
		ins[i] = Elements[T](m.data)
	}
	out := make([]byte, n)
	z := Elements[T](out)
	op := e.op
	segment := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			acc := ins[0][i]
			for _, in := range ins[1:] {
				acc = op(acc, in[i])
			}
			z[i] = acc
		}
	}
	parts := min(runtime.GOMAXPROCS(0), len(z)/parallelElements)
	if parts <= 1 {
		segment(0, len(z))
		return message{data: out, owned: true}, nil
	}
	var wg sync.WaitGroup
	for p := range parts {
		lo, hi := p*len(z)/parts, (p+1)*len(z)/parts
		wg.Go(func() { segment(lo, hi) })
	}
	wg.Wait()
	return message{data: out, owned: true}, nil
}

// ReduceSlice combines every worker's slice element by element with op and returns the
// result at root (nil elsewhere). All slices must have the same length.
func ReduceSlice[T Number](ctx context.Context, w *Worker, root int, data []T, op func(a, b T) T) ([]T, error) {
	if err := w.checkRank(root, "root"); err != nil {
		return nil, err
	}
	if err := checkEndian(); err != nil {
		return nil, err
	}
	r, err := w.reduce(ctx, w.nextColl(), root, Bytes(data), elementwise[T]{op})
	if err != nil || r == nil {
		return nil, err
	}
	return Elements[T](r), nil
}

// AllReduceSlice combines every worker's slice element by element with op and returns
// the result at every worker. The result is read-only: workers of a pack share it.
func AllReduceSlice[T Number](ctx context.Context, w *Worker, data []T, op func(a, b T) T) ([]T, error) {
	if err := checkEndian(); err != nil {
		return nil, err
	}
	r, err := w.allReduce(ctx, Bytes(data), elementwise[T]{op})
	if err != nil {
		return nil, err
	}
	return Elements[T](r), nil
}

// Bytes views a slice of numbers as its bytes, without copying.
func Bytes[T Number](s []T) []byte {
	if len(s) == 0 {
		return []byte{}
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), len(s)*int(unsafe.Sizeof(s[0])))
}

// Elements views bytes as a slice of numbers, without copying when b is aligned for T
// (the middleware's own buffers are); else it copies. Trailing bytes that do not make a
// whole element are left out.
func Elements[T Number](b []byte) []T {
	var zero T
	size := int(unsafe.Sizeof(zero))
	n := len(b) / size
	if n == 0 {
		return []T{}
	}
	if !aligned[T](b) {
		out := make([]T, n)
		copy(Bytes(out), b)
		return out
	}
	return unsafe.Slice((*T)(unsafe.Pointer(&b[0])), n)
}

// aligned reports whether b can be viewed as []T in place.
func aligned[T Number](b []byte) bool {
	var zero T
	return len(b) == 0 || uintptr(unsafe.Pointer(&b[0]))%unsafe.Alignof(zero) == 0
}

var errBigEndian = errors.New("comm: typed helpers need a little-endian host: the wire is little-endian")

func checkEndian() error {
	x := uint16(1)
	if *(*byte)(unsafe.Pointer(&x)) != 1 {
		return errBigEndian
	}
	return nil
}
