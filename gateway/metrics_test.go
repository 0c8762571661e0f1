package gateway

import (
	"regexp"
	"strconv"
	"testing"
)

func TestMetrics(t *testing.T) {
	c := newCluster(t, clusterOptions{slots: []int{100}})
	c.run(map[string]any{"function": "hello", "size": 6, "granularity": 3})
	c.run(map[string]any{"function": "sleep", "input": "bogus"})
	_, b := c.do("GET", "/metrics", nil)
	tests := []struct {
		metric string
		want   float64
	}{
		{`burst_flares{status="succeeded"}`, 1},
		{`burst_flares{status="failed"}`, 1},
		{`burst_flares{status="running"}`, 0},
		{`burst_flares_created_total`, 2},
		{`burst_flares_ended_total{status="failed"}`, 1},
		{`burst_worker_starts_total`, 7},
		{`burst_flare_startup_seconds_count`, 2},
		{`burst_queue_length`, 0},
		{`burst_slots`, 100},
		{`burst_slots_used`, 0},
		{`burst_invokers`, 1},
	}
	for _, tt := range tests {
		m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(tt.metric) + ` (\S+)$`).FindSubmatch(b)
		if m == nil {
			t.Errorf("%s missing", tt.metric)
			continue
		}
		if v, _ := strconv.ParseFloat(string(m[1]), 64); v != tt.want {
			t.Errorf("%s = %v, want %v", tt.metric, v, tt.want)
		}
	}
}
