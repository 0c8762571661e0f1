package comm_test

import (
	"context"
	"fmt"

	"github.com/burstgo/burst/comm"
)

// Eight workers in two packs of four sum their ranks, and rank 0 gathers a greeting
// from each.
func Example() {
	ctx := context.Background()
	g, err := comm.NewGroup(ctx, comm.Config{
		Flare: "example", Size: 8, Granularity: 4, Transport: comm.NewMemoryTransport(),
	})
	if err != nil {
		panic(err)
	}
	defer g.Close()
	err = g.Run(ctx, func(ctx context.Context, w *comm.Worker) error {
		sum, err := comm.AllReduceSlice(ctx, w, []int64{int64(w.Rank())}, comm.Sum[int64])
		if err != nil {
			return err
		}
		hello := fmt.Sprintf("rank %d in pack %d", w.Rank(), w.Pack())
		all, err := w.Gather(ctx, 0, []byte(hello))
		if err != nil {
			return err
		}
		if w.Rank() == 0 {
			fmt.Println("sum of ranks:", sum[0])
			fmt.Println(string(all[0]), "/", string(all[7]))
		}
		return nil
	})
	if err != nil {
		panic(err)
	}
	fmt.Println("remote messages:", g.Counters().RemoteMessages)
	// Output:
	// sum of ranks: 28
	// rank 0 in pack 0 / rank 7 in pack 1
	// remote messages: 3
}
