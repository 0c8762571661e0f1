package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/burstgo/burst/control"
	"github.com/nats-io/nats.go/jetstream"
)

func TestStoreFlareParts(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name       string
		maxPayload int32 // of the NATS server; zero means the embedded server's 8 MiB
		workers    int
		result     int // bytes of each worker's result
		minParts   int
	}{
		{"large results", 0, 10, 600 << 10, 3},
		// A NATS server of its own, as --nats joins, takes 1 MiB messages by default.
		{"large results, 1 MiB messages", 1 << 20, 10, 400 << 10, 4},
		{"10,000 workers, 1 MiB messages", 1 << 20, 10000, 60, 2},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCluster(t, clusterOptions{maxPayload: tt.maxPayload})
			res := json.RawMessage(`"` + strings.Repeat("r", tt.result) + `"`)
			rec := Record{ID: fmt.Sprintf("01900000-0000-7000-8000-0000000000a%d", i), Function: "f", Size: tt.workers,
				Granularity: tt.workers, Status: "succeeded", Created: time.Now().UTC(), Packs: []PackRecord{}}
			for r := range tt.workers {
				rec.Workers = append(rec.Workers, WorkerRecord{Rank: r, Status: "succeeded", Start: rec.Created, End: rec.Created})
				rec.Results = append(rec.Results, res)
			}
			if err := c.gw.store.putFlare(ctx, &rec, true); err != nil {
				t.Fatal(err)
			}
			var sf storedFlare
			if _, err := getJSON(ctx, c.gw.store.flares, rec.ID, &sf); err != nil {
				t.Fatal(err)
			}
			if len(sf.Parts) < tt.minParts || sf.Workers != nil || sf.Results != nil {
				t.Errorf("stored header: %d parts, want at least %d, and no workers", len(sf.Parts), tt.minParts)
			}
			got, err := c.gw.store.flare(ctx, rec.ID, true)
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Workers) != tt.workers || len(got.Results) != tt.workers || string(got.Results[tt.workers-1]) != string(res) ||
				got.Workers[tt.workers-1].Rank != tt.workers-1 {
				t.Errorf("read back %d workers, %d results", len(got.Workers), len(got.Results))
			}
		})
	}
}

func TestStoreMissingFlare(t *testing.T) {
	c := newCluster(t, clusterOptions{})
	if _, err := c.gw.store.flare(context.Background(), "nothing", false); !errors.Is(err, errNotStored) {
		t.Errorf("missing flare: %v", err)
	}
}

func TestStoreLogsFit(t *testing.T) {
	ctx := context.Background()
	// 500 lines of 4 KiB that JSON escapes to 24 KiB each: more than one value holds.
	line := control.LogLine{Rank: 3, Level: "INFO", Message: strings.Repeat("<", 4<<10)}
	tests := []struct {
		name       string
		maxPayload int32
		lines      int
		keepAll    bool
	}{
		{"a few lines", 1 << 20, 10, true},
		{"over 1 MiB messages", 1 << 20, 500, false},
		{"over the embedded server's 8 MiB", 0, 500, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCluster(t, clusterOptions{maxPayload: tt.maxPayload})
			id := "01900000-0000-7000-8000-0000000000c0"
			if err := c.gw.store.putLogs(ctx, id, flareLogs{Lines: slices.Repeat([]control.LogLine{line}, tt.lines), Dropped: 1}); err != nil {
				t.Fatal(err)
			}
			got, err := c.gw.store.flareLogs(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if len(got.Lines)+got.Dropped != tt.lines+1 || len(got.Lines) == 0 || (len(got.Lines) == tt.lines) != tt.keepAll {
				t.Errorf("%d lines kept, %d dropped, of %d and 1 dropped", len(got.Lines), got.Dropped, tt.lines)
			}
		})
	}
}

// TestRetention checks that the flares' buckets age their values out after the
// retention, and the functions' do not, and that a gateway refuses a retention shorter
// than the longest flare.
func TestRetention(t *testing.T) {
	c := newCluster(t, clusterOptions{gateway: Options{Retention: 48 * time.Hour}})
	ctx := t.Context()
	for _, tt := range []struct {
		bucket string
		ttl    time.Duration
	}{{BucketFlares, 48 * time.Hour}, {BucketResults, 48 * time.Hour}, {BucketLogs, 48 * time.Hour}, {BucketFunctions, 0}} {
		kv, err := c.gw.store.js.KeyValue(ctx, tt.bucket)
		if err != nil {
			t.Fatal(err)
		}
		st, err := kv.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.TTL() != tt.ttl {
			t.Errorf("%s keeps values %s, want %s", tt.bucket, st.TTL(), tt.ttl)
		}
	}
	if _, err := New(Options{Conn: c.conns[0], Retention: time.Hour}); err == nil || !strings.Contains(err.Error(), "retention") {
		t.Errorf("a retention under the longest timeout: %v", err)
	}
}

// TestRetry: an unanswered request (a bucket electing a leader) is tried again; a
// definite answer is not.
func TestRetry(t *testing.T) {
	calls := 0
	err := retry(t.Context(), func(context.Context) error {
		if calls++; calls < 3 {
			return context.DeadlineExceeded
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Errorf("after two timeouts: %v, %d calls", err, calls)
	}
	calls = 0
	err = retry(t.Context(), func(context.Context) error {
		calls++
		return jetstream.ErrKeyNotFound
	})
	if !errors.Is(err, jetstream.ErrKeyNotFound) || calls != 1 {
		t.Errorf("a missing key: %v, %d calls", err, calls)
	}
	calls = 0
	err = retry(t.Context(), func(context.Context) error {
		calls++
		return &jetstream.APIError{Code: 503, Description: "JetStream system temporarily unavailable"}
	})
	if err == nil || calls != storeTries {
		t.Errorf("always unavailable: %v, %d calls, want %d", err, calls, storeTries)
	}
}
