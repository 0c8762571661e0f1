package comm

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Subjects of a flare's traffic: burst.<flare>.<pack> carries frames to a pack,
// burst.<flare>.abort the aborts.
func packSubject(flare string, pack int) string { return "burst." + flare + "." + strconv.Itoa(pack) }
func abortSubject(flare string) string          { return "burst." + flare + ".abort" }

// encodeAbort makes the frame that carries an abort's cause.
func encodeAbort(flare, cause string) []byte {
	h := header{kind: kindAbort, flare: flareHash(flare), chunks: 1, total: uint64(len(cause))}
	b := make([]byte, headerSize+len(cause))
	h.put(b)
	copy(b[headerSize:], cause)
	return b
}

// callbacks guards a link's callbacks, so that none runs after Close returns.
type callbacks struct {
	mu     sync.RWMutex
	closed bool
}

func (c *callbacks) run(f func()) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if !c.closed {
		f()
	}
}

func (c *callbacks) close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
}

// own reports whether m came on subject itself. JetStream delivers a stream's message,
// with its stored subject, to whatever reply subject a consumer's fetch names: a
// subscriber that takes only messages published on its own subject cannot be fed
// another flare's stored messages that way.
func own(m *nats.Msg, subject string) bool { return m.Subject == subject }

// subscribeAbort listens for the flare's aborts.
func subscribeAbort(nc *nats.Conn, flare string, guard *callbacks, abort func(string)) (*nats.Subscription, error) {
	subject := abortSubject(flare)
	return nc.Subscribe(subject, func(m *nats.Msg) {
		if !own(m, subject) {
			return
		}
		if h, cause, err := decodeFrame(m.Data); err == nil && h.kind == kindAbort {
			guard.run(func() { abort(string(cause)) })
		}
	})
}

// Interface guards.
var (
	_ Transport = (*natsTransport)(nil)
	_ Link      = (*natsLink)(nil)
	_ Transport = (*jetStreamTransport)(nil)
	_ Link      = (*jetStreamLink)(nil)
)

// NewNATSTransport returns the core NATS transport over nc: a subscription per pack, at
// most once delivery, flow control by the packs' credits. Connect nc in process
// (ConnectInProcess) when the server runs in the same process.
func NewNATSTransport(nc *nats.Conn) Transport { return &natsTransport{nc: nc} }

type natsTransport struct{ nc *nats.Conn }

func (t *natsTransport) Name() string                             { return "nats" }
func (t *natsTransport) MaxFrame() int                            { return int(t.nc.MaxPayload()) }
func (t *natsTransport) StartFlare(context.Context, string) error { return nil }
func (t *natsTransport) EndFlare(context.Context, string) error   { return nil }

func (t *natsTransport) Open(ctx context.Context, flare string, pack int, deliver func([]byte), abort func(string)) (Link, error) {
	l := &natsLink{nc: t.nc, flare: flare}
	var err error
	subject := packSubject(flare, pack)
	l.data, err = t.nc.Subscribe(subject, func(m *nats.Msg) {
		if !own(m, subject) {
			return
		}
		l.guard.run(func() { deliver(m.Data) })
	})
	if err != nil {
		return nil, err
	}
	// The packs' credits bound what is in flight, so the client need not drop.
	if err := l.data.SetPendingLimits(-1, -1); err != nil {
		l.data.Unsubscribe()
		return nil, err
	}
	l.abort, err = subscribeAbort(t.nc, flare, &l.guard, abort)
	if err != nil {
		l.data.Unsubscribe()
		return nil, err
	}
	// Make sure the server has the subscriptions before anyone is told we listen.
	if err := t.nc.FlushTimeout(10 * time.Second); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

type natsLink struct {
	nc    *nats.Conn
	flare string
	data  *nats.Subscription
	abort *nats.Subscription

	guard callbacks
}

func (l *natsLink) Send(_ context.Context, pack int, frame []byte) error {
	return l.nc.Publish(packSubject(l.flare, pack), frame)
}

func (l *natsLink) Abort(cause string) error {
	if err := l.nc.Publish(abortSubject(l.flare), encodeAbort(l.flare, cause)); err != nil {
		return err
	}
	return l.nc.Flush()
}

func (l *natsLink) Close() error {
	l.guard.close()
	return errors.Join(l.data.Unsubscribe(), l.abort.Unsubscribe())
}

// JetStreamOptions tunes the JetStream transport.
type JetStreamOptions struct {
	// Memory keeps flares' streams in memory instead of the file store: faster, but a
	// flare does not survive a server restart.
	Memory bool
	// Replicas is the streams' replication factor in a cluster; zero means 1.
	Replicas int
}

// NewJetStreamTransport returns the durable transport: a work-queue stream per flare
// (BURST_<flare>, subjects burst.<flare>.*), a durable, explicitly acknowledged consumer
// per pack, and deduplication by message id, so nothing is lost or doubled if a client
// reconnects. EndFlare deletes the stream.
func NewJetStreamTransport(nc *nats.Conn, o JetStreamOptions) (Transport, error) {
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	if o.Replicas == 0 {
		o.Replicas = 1
	}
	return &jetStreamTransport{nc: nc, js: js, opts: o}, nil
}

type jetStreamTransport struct {
	nc   *nats.Conn
	js   jetstream.JetStream
	opts JetStreamOptions
}

func streamName(flare string) string { return "BURST_" + flare }

func (t *jetStreamTransport) Name() string  { return "jetstream" }
func (t *jetStreamTransport) MaxFrame() int { return int(t.nc.MaxPayload()) - 256 } // room for JetStream's headers

func (t *jetStreamTransport) EndFlare(ctx context.Context, flare string) error {
	err := t.js.DeleteStream(ctx, streamName(flare))
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil
	}
	return err
}

// StartFlare makes the flare's stream, for packs whose connections may only use it (a
// closed bus's flare users: a stream names the subjects it takes, and a flare may not
// name another's).
func (t *jetStreamTransport) StartFlare(ctx context.Context, flare string) error {
	_, err := t.createStream(ctx, flare)
	return err
}

func (t *jetStreamTransport) createStream(ctx context.Context, flare string) (jetstream.Stream, error) {
	storage := jetstream.FileStorage
	if t.opts.Memory {
		storage = jetstream.MemoryStorage
	}
	stream, err := t.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:      streamName(flare),
		Subjects:  []string{"burst." + flare + ".*"},
		Retention: jetstream.WorkQueuePolicy,
		Storage:   storage,
		Replicas:  t.opts.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", streamName(flare), err)
	}
	return stream, nil
}

func (t *jetStreamTransport) Open(ctx context.Context, flare string, pack int, deliver func([]byte), abort func(string)) (Link, error) {
	stream, err := t.js.Stream(ctx, streamName(flare))
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		stream, err = t.createStream(ctx, flare)
	}
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", streamName(flare), err)
	}
	cons, err := stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:       "pack" + strconv.Itoa(pack),
		FilterSubject: packSubject(flare, pack),
		AckPolicy:     jetstream.AckExplicitPolicy,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		MaxAckPending: 4096,
	})
	if err != nil {
		return nil, fmt.Errorf("consumer of pack %d: %w", pack, err)
	}
	l := &jetStreamLink{t: t, flare: flare}
	l.abort, err = subscribeAbort(t.nc, flare, &l.guard, abort)
	if err != nil {
		return nil, err
	}
	l.consume, err = cons.Consume(func(m jetstream.Msg) {
		l.guard.run(func() { deliver(m.Data()) })
		m.Ack()
	}, jetstream.PullMaxBytes(64<<20))
	if err != nil {
		l.abort.Unsubscribe()
		return nil, err
	}
	return l, nil
}

type jetStreamLink struct {
	t       *jetStreamTransport
	flare   string
	abort   *nats.Subscription
	consume jetstream.ConsumeContext

	guard callbacks
}

func (l *jetStreamLink) Send(ctx context.Context, pack int, frame []byte) error {
	var opts []jetstream.PublishOpt
	if h, _, err := decodeFrame(frame); err == nil && (h.kind == kindP2P || h.kind == kindColl) {
		// Data frames are unique by their header, so a retried publish is dropped.
		opts = append(opts, jetstream.WithMsgID(fmt.Sprintf("%d.%d.%d.%d.%d.%d", h.kind, h.tag, h.src, h.dst, h.seq, h.chunk)))
	}
	// A server restart or a cluster leader change makes a publish fail, or go
	// unanswered, for a moment: each attempt gets a short deadline of its own, and
	// attempts go on until the caller gives up. The message id makes a retry of a
	// frame that did get stored a no-op.
	for wait := 10 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		attempt, cancel := context.WithTimeout(ctx, publishAttempt)
		_, err := l.t.js.Publish(attempt, packSubject(l.flare, pack), frame, opts...)
		cancel()
		if err == nil || !transient(err) || ctx.Err() != nil {
			return err
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// publishAttempt bounds one try of a JetStream publish.
const publishAttempt = 2 * time.Second

// transient reports whether a JetStream publish may succeed if tried again.
func transient(err error) bool {
	return errors.Is(err, nats.ErrNoResponders) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrConnectionReconnecting) ||
		errors.Is(err, nats.ErrNoStreamResponse) || errors.Is(err, jetstream.ErrNoStreamResponse)
}

func (l *jetStreamLink) Abort(cause string) error {
	if err := l.t.nc.Publish(abortSubject(l.flare), encodeAbort(l.flare, cause)); err != nil {
		return err
	}
	return l.t.nc.Flush()
}

func (l *jetStreamLink) Close() error {
	l.guard.close()
	l.consume.Stop()
	<-l.consume.Closed()
	return l.abort.Unsubscribe()
}
