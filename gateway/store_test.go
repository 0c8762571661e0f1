package gateway

import (
	"context"
	"encoding/json"
	"errors"

	"strings"
	"testing"
	"time"
)

func TestStoreFlareParts(t *testing.T) {
	c := newCluster(t, clusterOptions{})
	ctx := context.Background()
	// Results large enough to need several values of the results bucket.
	big := json.RawMessage(`"` + strings.Repeat("r", 600<<10) + `"`)
	rec := Record{ID: "01900000-0000-7000-8000-0000000000aa", Function: "f", Size: 10, Granularity: 5,
		Status: "succeeded", Created: time.Now().UTC(), Packs: []PackRecord{}}
	for r := range 10 {
		rec.Workers = append(rec.Workers, WorkerRecord{Rank: r, Pack: r / 5, Status: "succeeded"})
		rec.Results = append(rec.Results, big)
	}
	if err := c.gw.store.putFlare(ctx, &rec, true); err != nil {
		t.Fatal(err)
	}
	var sf storedFlare
	if _, err := getJSON(ctx, c.gw.store.flares, rec.ID, &sf); err != nil {
		t.Fatal(err)
	}
	if len(sf.Parts) < 3 || sf.Workers != nil || sf.Results != nil {
		t.Errorf("stored header: %d parts, workers %v", len(sf.Parts), sf.Workers)
	}
	got, err := c.gw.store.flare(ctx, rec.ID, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Workers) != 10 || len(got.Results) != 10 || string(got.Results[9]) != string(big) {
		t.Errorf("read back %d workers, %d results", len(got.Workers), len(got.Results))
	}
	if _, err := c.gw.store.flare(ctx, "nothing", false); !errors.Is(err, errNotStored) {
		t.Errorf("missing flare: %v", err)
	}

}
