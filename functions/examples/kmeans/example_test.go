package kmeans_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/burstgo/burst/comm"
	"github.com/burstgo/burst/functions/examples/kmeans"
)

// Eight workers in two packs cluster 100 000 generated points; rank 0 answers the model.
func Example() {
	ctx := context.Background()
	g, err := comm.NewGroup(ctx, comm.Config{Flare: "kmeans-example", Size: 8, Granularity: 4, Transport: comm.NewMemoryTransport()})
	if err != nil {
		panic(err)
	}
	defer g.Close()
	input := json.RawMessage(`{"k": 3, "generate": {"points": 100000, "clusters": 3, "spread": 0.5, "seed": 7}}`)
	var model kmeans.Model
	err = g.Run(ctx, func(ctx context.Context, w *comm.Worker) error {
		res, err := kmeans.Burst(ctx, w, input)
		if m, ok := res.(kmeans.Model); ok {
			model = m
		}
		return err
	})
	if err != nil {
		panic(err)
	}
	fmt.Println("points:", model.Total, "converged:", model.Converged)
	fmt.Println("sizes:", model.Sizes)
	// Output:
	// points: 100000 converged: true
	// sizes: [33103 33415 33482]
}
