package dataset_test

import (
	"fmt"

	"github.com/burstgo/burst/functions/examples/dataset"
)

// Rank 2 of a flare of 4 makes its own quarter of a million points, and nothing else:
// the same points as the whole dataset's rows 500000 to 749999.
func ExampleSplit() {
	pts := dataset.Points{N: 1000000, Dims: 2, Seed: 42}
	lo, hi := dataset.Split(pts.N, 4, 2)
	mine := pts.Generate(lo, hi)
	fmt.Println(lo, hi, len(mine))
	fmt.Println(mine[0] == pts.Generate(500000, 500001)[0])
	// Output:
	// 500000 750000 500000
	// true
}
