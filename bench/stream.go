package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// The stream backends are the floor under every message system: the same bytes over a
// plain byte stream between the groups' processes, TCP ("tcp") or a unix socket
// ("unix"), with nothing in between. Group 0 writes the payload once to each other group
// (pair, or a broadcast's remote copies, as raw does); each receiver reads it whole,
// checks it and answers one byte, and group 0 starts the next repeat when all have.
//
// The streams are set up over the benchmark's NATS server: a receiver listens, and
// answers a request on bench.stream.<burst>.ready.<group> with its address: for tcp its
// host's address towards the NATS server and the port, for unix the socket's path.
func runStream(ctx context.Context, o Options, srv *server.Server, groups []int) (*Report, error) {
	prefix := "bench.stream." + o.BurstID
	want := crc32.ChecksumIEEE(pattern(o.PayloadSize, 0))
	var col collector
	errs := make(chan error, len(groups))
	var receivers sync.WaitGroup
	for _, gid := range groups {
		if gid == 0 {
			continue
		}
		nc, err := connect(o.Server, srv)
		if err != nil {
			return nil, err
		}
		defer nc.Close()
		ln, addr, err := listen(o, nc, gid)
		if err != nil {
			return nil, err
		}
		defer ln.Close()
		sub, err := nc.Subscribe(prefix+".ready."+strconv.Itoa(gid), func(m *nats.Msg) { m.Respond([]byte(addr)) })
		if err != nil {
			return nil, err
		}
		defer sub.Unsubscribe()
		if err := nc.Flush(); err != nil {
			return nil, err
		}
		receivers.Go(func() { errs <- streamReceive(ctx, o, ln, gid, want, col.add) })
	}
	if slices.Contains(groups, 0) {
		nc, err := connect(o.Server, srv)
		if err != nil {
			return nil, err
		}
		defer nc.Close()
		if err := streamSend(ctx, o, nc, prefix, col.add); err != nil {
			return nil, err
		}
	}
	receivers.Wait()
	close(errs)
	return col.report(o, groups, errs)
}

// hostToward is this host's address on the way to nc's server: one that the other
// groups, connected to that server, reach.
func hostToward(nc *nats.Conn) string {
	if u := nc.ConnectedUrl(); u != "" && !strings.Contains(u, "pipe") {
		if c, err := net.Dial("udp", nc.ConnectedAddr()); err == nil {
			defer c.Close()
			return c.LocalAddr().(*net.UDPAddr).IP.String()
		}
	}
	return "127.0.0.1"
}

// listen opens group gid's listener and says the address the sender dials.
func listen(o Options, nc *nats.Conn, gid int) (net.Listener, string, error) {
	if o.Backend == "unix" {
		path := filepath.Join(os.TempDir(), fmt.Sprintf("burst-bench-%s-%d-%d.sock", o.BurstID, os.Getpid(), gid))
		os.Remove(path)
		ln, err := net.Listen("unix", path)
		if err != nil {
			return nil, "", fmt.Errorf("stream: group %d: %w", gid, err)
		}
		return ln, path, nil
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(hostToward(nc), "0"))
	if err != nil {
		return nil, "", fmt.Errorf("stream: group %d: %w", gid, err)
	}
	return ln, ln.Addr().String(), nil
}

func streamReceive(ctx context.Context, o Options, ln net.Listener, gid int, want uint32, add func(Sample)) error {
	accepted := make(chan net.Conn, 1)
	failed := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			failed <- err
			return
		}
		accepted <- c
	}()
	var c net.Conn
	select {
	case c = <-accepted:
	case err := <-failed:
		return fmt.Errorf("stream: group %d: %w", gid, err)
	case <-ctx.Done():
		return fmt.Errorf("stream: group %d waiting for the sender: %w", gid, ctx.Err())
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	head := make([]byte, 8)
	buf := make([]byte, o.PayloadSize)
	for rep := -o.Warmup; rep < o.Repeat; rep++ {
		if _, err := io.ReadFull(c, head); err != nil {
			return fmt.Errorf("stream: group %d: %w", gid, err)
		}
		start := time.Unix(0, int64(binary.LittleEndian.Uint64(head)))
		if _, err := io.ReadFull(c, buf); err != nil {
			return fmt.Errorf("stream: group %d: %w", gid, err)
		}
		end := time.Now()
		if crc32.ChecksumIEEE(buf) != want {
			return fmt.Errorf("stream: group %d received damaged data", gid)
		}
		if rep >= 0 {
			add(sampleOf(o, gid, gid, rep, len(buf), start, end))
		}
		if _, err := c.Write([]byte{1}); err != nil {
			return fmt.Errorf("stream: group %d: %w", gid, err)
		}
	}
	return nil
}

func streamSend(ctx context.Context, o Options, nc *nats.Conn, prefix string, add func(Sample)) error {
	network := "tcp"
	if o.Backend == "unix" {
		network = "unix"
	}
	conns := make([]net.Conn, 0, o.Groups-1)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for gid := 1; gid < o.Groups; gid++ {
		m, err := awaitReady(ctx, nc, prefix+".ready."+strconv.Itoa(gid), gid)
		if err != nil {
			return fmt.Errorf("stream: %w", err)
		}
		addr := string(m.Data)
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return fmt.Errorf("stream: group %d at %s: %w", gid, addr, err)
		}
		conns = append(conns, c)
	}
	stop := context.AfterFunc(ctx, func() {
		for _, c := range conns {
			c.Close()
		}
	})
	defer stop()
	payload := pattern(o.PayloadSize, 0)
	head := make([]byte, 8)
	ack := make([]byte, 1)
	for rep := -o.Warmup; rep < o.Repeat; rep++ {
		start := time.Now()
		binary.LittleEndian.PutUint64(head, uint64(start.UnixNano()))
		for _, c := range conns {
			if _, err := c.Write(head); err != nil {
				return err
			}
			if _, err := c.Write(payload); err != nil {
				return err
			}
		}
		for _, c := range conns {
			if _, err := io.ReadFull(c, ack); err != nil {
				return fmt.Errorf("stream: waiting for a receiver: %w", err)
			}
		}
		if rep >= 0 {
			add(sampleOf(o, 0, 0, rep, o.PayloadSize*(o.Groups-1), start, time.Now()))
		}
	}
	return nil
}
