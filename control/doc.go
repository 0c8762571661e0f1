// Package control is the protocol between the gateway and its invokers: the subjects,
// the messages and their version. It imports nothing of the project, so that both sides
// (and tools that watch the bus) share it without pulling in each other.
//
// # Version
//
// Version is an integer level, as nats-server's INFO proto: every Heartbeat and
// Assignment carries it, and a peer of another level is refused rather than half
// understood. A gateway lists a refused invoker on GET /invokers with the reason and
// places nothing on it; an invoker answers an assignment of another level with an error.
// Raise Version whenever a message changes in a way an older peer would misread.
//
// # Subjects
//
//	burst.ctl.heartbeat.<invoker>  Heartbeat, every Heartbeat.Interval
//	burst.ctl.discover             empty: every invoker answers with a Heartbeat at once
//	burst.ctl.bye.<invoker>        Heartbeat of an invoker that shuts down
//	burst.ctl.cancel               Cancel, to every invoker
//	burst.ctl.assign.<invoker>     Assignment → AssignReply, request and reply
//	burst.ctl.packs.<invoker>      empty → PacksReply: the packs an invoker still runs or owes events of
//	burst.evt.<flare>.<invoker>    Event, published to the JetStream stream EventStream
//	burst.<flare>.>                the flare's comm traffic (package comm)
//
// Every subject an invoker publishes on ends in its id, and the gateway takes a message
// only when that id is the one in the message: on a closed bus, where an invoker may
// publish only on its own subjects, no invoker can speak for another.
//
// The two request subjects are the endpoints of a NATS micro service named ServiceName
// on every invoker, so `nats micro ls` and `nats micro stats` show the invokers, their
// versions and how many assignments each took.
//
// # A closed bus
//
// On a bus that takes no anonymous connection, an invoker joins as InvokerUser(id) with a
// join key made for that id, and may publish only on its own subjects (and the JetStream
// calls its events and plugins need); it cannot write the buckets of records or
// functions. The packs of a flare talk over connections of FlareUser(flare), whose
// password is the Assignment's Credential, and which reach only FlareSubjects(flare).
//
// # Events
//
// A pack's events are durable: the invoker publishes them to the JetStream stream
// EventStream and retries until the stream has them, keeping them while the gateway or the
// NATS server is away; the gateway reads them with an ordered consumer. They come in this
// order for one pack: started (every worker runs), logs (while lines come), workers (the
// workers' ends, only when they do not all fit in the ended event, numbered by Part) and
// ended, which says how many workers events came before it (Reports), so that a gateway
// that sees them out of order, or twice, after a retry still counts each once.
//
// # Durations
//
// Every duration on the wire is a Duration: a Go duration string ("1m30s"); a number of
// seconds is read too.
package control
