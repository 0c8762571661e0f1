package dataset

import (
	"math"
	"math/bits"
)

// A stream is a small deterministic random generator for one item of a dataset
// (SplitMix64). Its numbers depend only on the seed, a salt naming what is made and the
// item's index, which is what lets any rank make any item on its own.
type stream struct{ s uint64 }

// Salts keep the streams of the different things made from one seed apart.
const (
	saltPoint uint64 = iota + 1
	saltCenter
	saltNode
	saltRecord
	saltSample
	saltCoef
)

func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func newStream(seed, salt, index uint64) stream {
	return stream{s: mix64(mix64(seed^salt*0x9e3779b97f4a7c15) ^ mix64(index+1))}
}

func (r *stream) uint64() uint64 {
	r.s += 0x9e3779b97f4a7c15
	return mix64(r.s)
}

// float64 returns a number in [0, 1).
func (r *stream) float64() float64 { return float64(r.uint64()>>11) / (1 << 53) }

// open returns a number in (0, 1], safe for a logarithm or a negative power.
func (r *stream) open() float64 { return float64(r.uint64()>>11+1) / (1 << 53) }

// norm returns a standard normal number (Box-Muller; the second number is dropped so
// that every call uses the same amount of the stream).
func (r *stream) norm() float64 {
	u, v := r.open(), r.float64()
	return math.Sqrt(-2*math.Log(u)) * math.Cos(2*math.Pi*v)
}

// intn returns a number in [0, n), n > 0 (Lemire's multiply-shift; the tiny bias is of
// no matter for test data).
func (r *stream) intn(n uint64) uint64 {
	hi, _ := bits.Mul64(r.uint64(), n)
	return hi
}
