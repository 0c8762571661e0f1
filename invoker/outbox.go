package invoker

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/burstgo/burst/control"
)

// The outbox delivers a pack's events to the gateway through the JetStream stream
// control.EventStream, in the order they were queued, and retries what the stream did not
// acknowledge until it does: while the gateway or the NATS server is away, packs keep
// running and their events wait here. Each message has an id (Nats-Msg-Id), so a retry of
// one that was stored after all is dropped by the stream's duplicate window.
//
// A retry can put an event behind one queued after it; the gateway does not depend on
// the order (control.Event.Reports).

const (
	// outboxBatch bounds the publishes in flight at once.
	outboxBatch = 1024
	// ackTimeout is how long a publish waits for the stream's acknowledgement before it
	// is tried again.
	ackTimeout = 5 * time.Second
	// maxQueuedLogs bounds the bytes of log events waiting: past it, log events are
	// dropped and counted, never a pack's start or end.
	maxQueuedLogs = 64 << 20
	retryMin      = 50 * time.Millisecond
	retryMax      = 2 * time.Second
)

type outbox struct {
	nc         *nats.Conn
	js         jetstream.JetStream
	log        *slog.Logger
	maxPayload int
	// prefix makes message ids unique to this invoker process.
	prefix string

	mu          sync.Mutex
	queue       []outMsg
	seq         uint64
	logBytes    int
	droppedLogs int
	pending     map[control.PackRef]int // events queued or in flight, by pack
	idle        *sync.Cond              // signalled when the queue and flight are empty
	inFlight    int
	wake        chan struct{}
}

type outMsg struct {
	msg  *nats.Msg
	pack control.PackRef
	logs bool
}

func newOutbox(nc *nats.Conn, log *slog.Logger) (*outbox, error) {
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(ackTimeout), jetstream.WithPublishAsyncMaxPending(2*outboxBatch))
	if err != nil {
		return nil, fmt.Errorf("invoker: jetstream: %w", err)
	}
	o := &outbox{
		nc:         nc,
		js:         js,
		maxPayload: int(nc.MaxPayload()),
		log:        log,
		prefix:     nats.NewInbox()[len(nats.InboxPrefix):],
		pending:    make(map[control.PackRef]int),
		wake:       make(chan struct{}, 1),
	}
	o.idle = sync.NewCond(&o.mu)
	return o, nil
}

// add queues ev, marshalled, for delivery. An event over the NATS payload limit could
// never be delivered and is refused.
func (o *outbox) add(ev control.Event) error {
	b, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	if len(b) > o.maxPayload-1024 {
		return fmt.Errorf("invoker: %s event of %d bytes is over the NATS payload limit of %d", ev.Kind, len(b), o.maxPayload)
	}
	o.mu.Lock()
	logs := ev.Kind == control.EventLogs
	if logs && o.logBytes+len(b) > maxQueuedLogs {
		o.droppedLogs += len(ev.Lines)
		o.mu.Unlock()
		return nil
	}
	o.seq++
	m := nats.NewMsg(control.EventSubject(ev.Flare, ev.Invoker))
	m.Data = b
	m.Header.Set(jetstream.MsgIDHeader, o.prefix+"."+strconv.FormatUint(o.seq, 10))
	k := control.PackRef{Flare: ev.Flare, Pack: ev.Pack}
	o.queue = append(o.queue, outMsg{msg: m, pack: k, logs: logs})
	o.pending[k]++
	if logs {
		o.logBytes += len(b)
	}
	o.mu.Unlock()
	select {
	case o.wake <- struct{}{}:
	default:
	}
	return nil
}

// owed returns the packs with events not yet in the stream.
func (o *outbox) owed() []control.PackRef {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := make([]control.PackRef, 0, len(o.pending))
	for k := range o.pending {
		out = append(out, k)
	}
	return out
}

// run delivers queued events until stop is closed.
func (o *outbox) run(stop <-chan struct{}) {
	wait := retryMin
	for {
		o.mu.Lock()
		n := min(len(o.queue), outboxBatch)
		batch := o.queue[:n:n]
		o.queue = o.queue[n:]
		o.inFlight = n
		dropped := o.droppedLogs
		o.droppedLogs = 0
		o.mu.Unlock()
		if dropped > 0 {
			o.log.Warn("log lines dropped: the events could not be delivered fast enough", "lines", dropped)
		}
		if n == 0 {
			select {
			case <-stop:
				return
			case <-o.wake:
				continue
			}
		}
		failed, err := o.publish(batch)
		o.mu.Lock()
		o.inFlight = 0
		for _, m := range batch[:len(batch)-len(failed)] {
			o.delivered(m)
		}
		if len(failed) > 0 {
			// Back to the head of the queue, in their order.
			o.queue = append(failed[:len(failed):len(failed)], o.queue...)
		}
		// Wake drain: it re-checks the queue and the connection.
		o.idle.Broadcast()
		o.mu.Unlock()
		if len(failed) == 0 {
			wait = retryMin
			continue
		}
		o.log.Warn("events not delivered yet; retrying", "events", len(failed), "in", wait, "err", err)
		select {
		case <-stop:
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, retryMax)
	}
}

// publish sends batch and waits for the stream's answers. It returns the messages from
// the first that failed on, which are all sent again: the duplicates among them are
// dropped by their ids.
func (o *outbox) publish(batch []outMsg) ([]outMsg, error) {
	if o.nc.IsClosed() {
		// Nothing can go out any more. (An async publish on a closed connection would
		// also leave nats.go's reconnect watcher waiting for ever.)
		return batch, nats.ErrConnectionClosed
	}
	futures := make([]jetstream.PubAckFuture, len(batch))
	var first error
	firstFailed := len(batch)
	for i, m := range batch {
		f, err := o.js.PublishMsgAsync(m.msg)
		if err != nil {
			first, firstFailed = err, i
			break
		}
		futures[i] = f
	}
	for i, f := range futures[:firstFailed] {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			if i < firstFailed {
				first, firstFailed = err, i
			}
		}
	}
	if firstFailed == len(batch) {
		return nil, nil
	}
	// The ones after a failure may have been stored; keeping the order on the retry is
	// worth a few duplicates that the stream drops.
	return batch[firstFailed:], first
}

// delivered forgets a message the stream has. Called with o.mu held.
func (o *outbox) delivered(m outMsg) {
	if o.pending[m.pack]--; o.pending[m.pack] <= 0 {
		delete(o.pending, m.pack)
	}
	if m.logs {
		o.logBytes -= len(m.msg.Data)
	}
}

// drain waits until every queued event is delivered, or ctx ends, or the connection is
// closed for good.
func (o *outbox) drain(ctx context.Context) {
	stop := context.AfterFunc(ctx, func() {
		o.mu.Lock()
		o.idle.Broadcast()
		o.mu.Unlock()
	})
	defer stop()
	o.mu.Lock()
	defer o.mu.Unlock()
	for (len(o.queue) > 0 || o.inFlight > 0) && ctx.Err() == nil && !o.nc.IsClosed() {
		o.idle.Wait()
	}
	if n := len(o.queue) + o.inFlight; n > 0 {
		o.log.Warn("events not delivered", "events", n)
	}
}
