// Package dataset makes and reads the data of Burst's example functions: seeded
// generators for points (k-means), graphs (PageRank), 100-byte records (TeraSort) and
// regression samples (grid search), and readers for the matching file formats.
//
// Every generated item depends only on the dataset's seed and the item's index, never
// on the items before it, so rank r of a flare makes just its own share
// (Split(n, size, r)) and the union over ranks is the same dataset whatever the burst
// size. A flare's input is thus a few numbers of JSON however big the data is, and a
// test makes the whole dataset with the same code for its sequential reference.
//
// The readers split their Source, a file (OpenFile) or a dataset stored in the cluster
// (functions.OpenDataset), the same way, by byte ranges: part r of n reads the lines
// (or records) that start in the r-th n-th of it, so every worker reads its share in
// parallel and no line is read twice or lost. Writers make files in the same formats,
// for a CLI or a test:
//
//	points.csv   one point a line, coordinates separated by commas
//	edges.txt    one edge a line, "source target" (spaces, tabs or a comma)
//	records.bin  raw 100-byte records, a 10-byte key first
//	samples.csv  one sample a line, features then the target
package dataset
