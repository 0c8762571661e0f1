// Package kmeansbalanced is the Burst function "kmeans-balanced": k-means whose clusters
// have equal sizes within one point (n/k each, the first n mod k clusters one more),
// for when groups must be even: shards, teams, delivery rounds.
//
// The method is Lloyd's iteration (package kmeans, same loop, same allreduce of sums
// and counts) with a balanced assignment step by greedy sequential filling: clusters
// are filled one after the other, 0 to k-2, and cluster j takes, among the points not
// yet placed, the cap_j points with the smallest regret key
//
//	key(x) = d(x, c_j)² − min over the clusters l > j of d(x, c_l)²
//
// that is the points that lose least (or gain most) by joining j rather than their best
// remaining option; cluster k-1 takes the rest. The sizes are thus exact by
// construction. It is a heuristic, not the optimal balanced assignment (Malinen and
// Fränti's Hungarian-method balanced k-means), and the iteration is not guaranteed to
// reach a fixed point, so the iteration bound matters more than for plain k-means.
//
// Picking the cap_j smallest keys over every rank's points is a distributed selection:
// keys are mapped to ordered 64-bit integers and their value is found one byte at a
// time, most significant first, by an allreduce of a 256-bucket histogram of the
// candidates (8 allreduces of 2 KiB); points whose key equals the threshold are taken
// in rank order, then point order, by an allgather of the ranks' tie counts. The result
// is the one a sequential filling over all points in order gives, whatever the burst
// size and granularity. Each worker holds the distances of its points to every
// centroid, so its points × k is at most kmeans.MaxWorkerFloats (2²⁸).
//
// Input and output are those of kmeans (see package kmeans): {"k": 8, "generate":
// {...}} or {"k": 8, "file": "points.csv"} or {"k": 8, "dataset": "points"}, plus "iterations" (default 100), "tolerance"
// (default 0) and "centroids"; rank 0 answers the model, with sizes that differ by at
// most one and the inertia of the balanced assignment, and the other ranks their share
// of the points.
package kmeansbalanced
