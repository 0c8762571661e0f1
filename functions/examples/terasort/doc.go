// Package terasort is the Burst function "terasort": a sample sort of 100-byte records
// by their 10-byte keys, the TeraSort benchmark's layout (see dataset.Records).
//
// Each rank makes or reads its share of the records, and then:
//
//  1. sample: it picks "samples" keys evenly spaced in its share, and rank 0 gathers
//     them all;
//  2. splitters: rank 0 sorts the samples, takes size−1 splitters at even quantiles and
//     broadcasts them;
//  3. shuffle: each rank sends every record to the rank whose key range holds it (the
//     number of splitters ≤ its key), in one all-to-all;
//  4. local sort: each rank sorts what it received, so that rank r's records all come
//     before rank r+1's.
//
// A checksum proves the output is a sorted permutation of the input: each record hashes
// to 64 bits (CRC-32C and CRC-32 of its 100 bytes, side by side) and a set of records
// sums its hashes mod 2⁶⁴, an order-free fingerprint, as gensort's valsort does. Rank 0
// gathers every rank's input and output fingerprints and counts, checks that they
// match, that every rank's output is in order and that each rank's largest key is at
// most the next rank's smallest, and fails the flare if not.
//
// Input (the same for every rank), with generated records (a dataset.Records; each rank
// makes only its own):
//
//	{"generate": {"records": 10000000, "seed": 1}, "samples": 256}
//
// or a file of raw records that every invoker can read, each rank reading its share:
//
//	{"file": "/data/records.bin", "output": "/data/sorted"}
//
// or the same records stored in the cluster (`burst data put records records.bin`),
// each rank reading its byte range from whichever host it runs on:
//
//	{"dataset": "records"}
//
// "samples" is the number of keys each rank samples (default 256, at most 65536).
// "output", optional, is a directory (created if missing) where rank r writes its sorted
// records as part-RRRRR (r on five digits); reading the parts in order gives the whole
// sorted file.
//
// Output: every rank answers
//
//	{"rank": 1, "records": 4999731, "min_key": "7fff3a…", "max_key": "ffffe0…",
//	 "checksum": "2b1d0c…", "file": "/data/sorted/part-00001"}
//
// with its keys in hex (absent when it holds no record), and rank 0 adds "total":
// {"records", "input_checksum", "checksum", "sorted": true, "permutation": true,
// "skew"}, skew being the largest rank's share over the mean share.
package terasort
