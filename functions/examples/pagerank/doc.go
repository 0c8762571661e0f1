// Package pagerank is the Burst function "pagerank": PageRank by power iteration over a
// graph partitioned by rank, the workload where the Burst paper shows the largest gain
// from packing workers together.
//
// Rank r owns the nodes of the r-th block of ids (dataset.Split) and their out-edges.
// Each iteration every rank sums the contributions rank(u)/outdeg(u) of its nodes per
// target node, and one all-to-all delivers them to the targets' owners. Only values
// travel, since the ids were exchanged once before the first iteration, and the
// exchange is pack-aware twice over: inside a pack the parts are handed over in memory,
// and the parts for a rank of another pack are first added up inside the pack (one
// worker of the pack combines them per destination), so one float64 crosses the
// network per (pack, target node) rather than per (rank, target node). That is where
// a larger granularity saves most of the remote traffic. Dangling nodes (no out-edge)
// spread their rank evenly over all nodes. With damping d and n nodes,
//
//	rank'(v) = (1−d)/n + d·(Σ contributions to v + dangling mass/n)
//
// and the iteration stops when the L1 change Σ|rank' − rank| is at most the tolerance,
// or at the iteration bound. The scalar sums (L1 change, dangling mass) travel by
// allgather and are added in rank order, so every rank stops at the same iteration;
// the granularity only regroups the additions (per pack first), so results for
// different granularities agree to rounding.
//
// Input (the same for every rank), with a generated power-law graph (a dataset.Graph;
// each rank makes only its own nodes' edges):
//
//	{"generate": {"nodes": 1000000, "degree": 8, "seed": 7}, "damping": 0.85,
//	 "tolerance": 1e-8, "iterations": 200, "top": 10}
//
// or an edge list that every invoker can read (one "source target" line an edge, ids
// from 0; spaces, tabs or a comma; '#' and '%' comment lines), each rank reading its
// own byte range and the edges then shuffled to their sources' owners by all-to-all:
//
//	{"file": "/data/edges.txt", "nodes": 1000000}
//
// or the same edge list stored in the cluster (`burst data put edges edges.txt`):
//
//	{"dataset": "edges"}
//
// "nodes" is optional for a file or a dataset (default: the largest id + 1). Defaults: damping 0.85,
// tolerance 1e-8, iterations 200, top 10 (at most 10000).
//
// Output: every rank answers its share and its comm counters (w.Counters(), from the
// first collective to the last),
//
//	{"rank": 1, "nodes": 250000, "edges": 1874113, "iterations": 104, "delta": 9.7e-9,
//	 "converged": true, "comm": {"local_messages": 0, ...}}
//
// and rank 0 adds "total_nodes" and "top": the top nodes by PageRank, highest first,
// [{"node": 812, "pagerank": 0.0031}, ...] (ties by lower id).
//
// The whole vector: with "output": DIR, each rank writes DIR/part-RRRRR, a "node
// pagerank" line for each of its nodes in node order (the parts, in rank order, are
// every node), and answers its part's path as "file".
package pagerank
