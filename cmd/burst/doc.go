// Command burst is the one binary of the Burst platform.
//
//	burst serve                        embedded NATS with JetStream, the gateway and one invoker
//	burst gateway [--nats URL]         the HTTP gateway alone
//	burst invoker --nats URL           an invoker that joins a cluster
//	burst fn build DIR -o f.so         build a function as a plugin this binary loads
//	burst fn check f.so                check a plugin, as the gateway does in a child process
//
// Every setting comes from the environment (BURST_HTTP_ADDR, BURST_DATA_DIR,
// BURST_NATS_PORT, BURST_NATS_URL, BURST_INVOKER_SLOTS, ...), and a flag overrides it.
// A newcomer runs `go run ./cmd/burst serve` and then
//
//	curl -s -X POST 'localhost:8080/flares?wait=true' -d '{"function":"hello","size":8,"granularity":4}'
//
// SIGINT or SIGTERM shut the server down gracefully: flares in flight end as cancelled and
// their records are written before the process exits.
package main
