package invoker

import (
	"encoding/json"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Handler is the invoker's own HTTP face, for an operator of several hosts: GET /livez
// (the process answers), GET /readyz (200 while it is connected to NATS and can run
// packs, 503 with the reason otherwise) and GET /metrics (Prometheus: slots, packs,
// function hosts, events waiting for the stream, and the Go runtime's).
func (inv *Invoker) Handler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	gauge := func(name, help string, f func() float64) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
	}
	gauge("burst_invoker_slots", "Worker slots the invoker offers.", func() float64 { return float64(inv.opts.Slots) })
	gauge("burst_invoker_slots_used", "Worker slots its packs hold.", func() float64 { return float64(inv.Heartbeat().Used) })
	gauge("burst_invoker_packs", "Packs it runs.", func() float64 { return float64(inv.Heartbeat().Packs) })
	gauge("burst_invoker_healthy", "1 while it can run packs (function hosts start), else 0.", func() float64 {
		if inv.Heartbeat().Health != "" {
			return 0
		}
		return 1
	})
	gauge("burst_invoker_hosts", "Function hosts, idle and busy.", func() float64 {
		inv.hosts.mu.Lock()
		defer inv.hosts.mu.Unlock()
		n := len(inv.hosts.busy)
		for _, idle := range inv.hosts.idle {
			n += len(idle)
		}
		return float64(n)
	})
	gauge("burst_invoker_events_queued", "Events of its packs waiting for the events stream.", func() float64 {
		inv.events.mu.Lock()
		defer inv.events.mu.Unlock()
		return float64(len(inv.events.queue))
	})
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, r *http.Request) {
		writeStatus(w, http.StatusOK, map[string]string{"status": "ok", "invoker": inv.opts.ID})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		hb := inv.Heartbeat()
		switch {
		case !inv.nc.IsConnected():
			writeStatus(w, http.StatusServiceUnavailable, map[string]any{"error": map[string]string{
				"code": "not_ready", "message": "not connected to NATS (" + inv.nc.Status().String() + ")"}})
		case hb.Health != "":
			writeStatus(w, http.StatusServiceUnavailable, map[string]any{"error": map[string]string{"code": "unhealthy", "message": hb.Health}})
		default:
			writeStatus(w, http.StatusOK, map[string]any{"status": "ready", "invoker": hb.ID, "slots": hb.Slots, "used": hb.Used})
		}
	})
	return mux
}

func writeStatus(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
