// Package cluster runs the NATS server that a Burst node embeds: the client listener,
// JetStream's file store under the node's data directory, and routes to the servers of
// other nodes. NATS clustering is Burst's distributed engine; there is no broker of
// Burst's own.
//
// It is apart from comm so that a function's plugin, which links comm, does not link
// the server too.
package cluster
