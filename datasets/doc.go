// Package datasets keeps datasets in the cluster's JetStream, so that a flare's workers
// read their data from whichever host they run on: `burst data put NAME FILE` stores
// one, and an app's input names it as {"dataset": "NAME"}.
//
// A dataset is a stream of chunks, a subject each, and a manifest:
//
//	burst.data.<namespace>.<name>                     the manifest (Info, as JSON)
//	burst.data.<namespace>.<name>.<version>.<chunk>   chunk 0, 1, … of one upload
//
// A worker reads any byte range by asking for the chunks that hold it, each by a direct
// get of its subject: any server holding a copy of the stream answers, the nearest
// first, and no consumer is made. JetStream's object store, which holds its chunks on
// one subject per object, reads an object from the start only; hence a stream of our
// own. An upload writes its chunks under a new version, then the manifest, then drops
// the versions before it, so that a reader sees the old dataset or the new one, whole.
//
// The Store (the gateway's side) writes, lists and deletes; Open (a worker's side) reads
// over any connection whose permissions include ReadPermission of its namespace.
package datasets
