package gateway

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the gateway's Prometheus metrics, in a registry of its own so that several
// gateways can live in one process (tests).
type metrics struct {
	reg          *prometheus.Registry
	flares       *prometheus.GaugeVec
	created      prometheus.Counter
	finished     *prometheus.CounterVec
	workerStarts prometheus.Counter
	startup      prometheus.Histogram
	duration     prometheus.Histogram
}

func newMetrics(g *Gateway) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		flares: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "burst_flares", Help: "Flares in flight and the newest ended ones that GET /flares lists, by status.",
		}, []string{"status"}),
		created: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "burst_flares_created_total", Help: "Flares accepted since the gateway started.",
		}),
		finished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "burst_flares_ended_total", Help: "Flares that ended since the gateway started, by final status.",
		}, []string{"status"}),
		workerStarts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "burst_worker_starts_total", Help: "Workers started.",
		}),
		startup: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "burst_flare_startup_seconds",
			Help:    "Time from a flare's creation to its last worker running.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "burst_flare_duration_seconds",
			Help:    "Time from a flare's creation to its end.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 20),
		}),
	}
	locked := func(fn func() float64) func() float64 {
		return func() float64 {
			g.mu.Lock()
			defer g.mu.Unlock()
			return fn()
		}
	}
	slots := func(used bool) func() float64 {
		return locked(func() float64 {
			n := 0
			for _, st := range g.invokers {
				if used {
					n += st.used
				} else {
					n += st.hb.Slots
				}
			}
			return float64(n)
		})
	}
	m.reg.MustRegister(
		m.flares, m.created, m.finished, m.workerStarts, m.startup, m.duration,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "burst_queue_length", Help: "Flares waiting for slots."},
			locked(func() float64 { return float64(len(g.queue)) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "burst_slots", Help: "Worker slots of the live invokers."}, slots(false)),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "burst_slots_used", Help: "Worker slots placed on."}, slots(true)),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "burst_invokers", Help: "Live invokers."},
			locked(func() float64 { return float64(len(g.invokers)) })),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}
