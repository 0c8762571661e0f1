// Package kmeans is the Burst function "kmeans": Lloyd's k-means over points
// partitioned by rank. Each rank holds its share of the points; every iteration each
// rank assigns its points to the nearest centroid and sums them per cluster, one
// allreduce of the sums, counts and inertia gives every rank the new centroids, and the
// loop ends when no centroid moves more than the tolerance or after the iteration bound.
//
// Input (the same for every rank), with the points generated from a seed:
//
//	{"k": 8, "generate": {"points": 1000000, "dims": 2, "clusters": 8, "spread": 1, "seed": 42},
//	 "iterations": 100, "tolerance": 0}
//
// or read from a CSV file that every invoker can read (one point a line, coordinates
// separated by commas; blank lines, '#' comments and a header line are skipped), each
// rank reading its own byte range of it:
//
//	{"k": 8, "file": "/data/points.csv"}
//
// or from the same CSV stored in the cluster (`burst data put points points.csv`),
// each rank reading its byte range from whichever host it runs on:
//
//	{"k": 8, "dataset": "points"}
//
// "generate" is a dataset.Points. "iterations" bounds the updates (default 100,
// at most 100000); "tolerance" is the largest distance a centroid may still move for the
// run to stop early (default 0: stop once the assignment no longer changes, which
// Lloyd's algorithm reaches in finitely many steps). "centroids" (k rows of dims
// numbers) sets the initial centroids; by default they are the dataset's first k
// points.
//
// Output: rank 0 answers the model,
//
//	{"rank": 0, "points": 125000, "total_points": 1000000, "centroids": [[x, y], ...],
//	 "sizes": [124988, ...], "inertia": 1999123.4, "iterations": 12, "converged": true}
//
// where centroids are the final ones, sizes and inertia (the sum of squared distances of
// the points to their nearest centroid) are measured against them, and converged says
// the tolerance was met before the iteration bound. The other ranks answer
// {"rank": r, "points": n}, their share of the points.
//
// Run is the algorithm with a pluggable assignment step, which the balanced variant
// (package kmeansbalanced) reuses.
package kmeans
