package metrics

import (
	"net/http"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/arpcbridge/arpcbridge/arpc/engine"
)

// Door label values.
const (
	DoorARPC = "arpc"
	DoorGRPC = "grpc"
)

// Metrics holds the collectors of one served worker. Create it with New.
type Metrics struct {
	reg *prometheus.Registry
	eng *engine.Engine

	mutations  *prometheus.CounterVec
	pushes     *prometheus.CounterVec
	lag        *prometheus.HistogramVec
	coalesced  *prometheus.CounterVec
	reconnects *prometheus.CounterVec
	conns      *doorCollector
}

// New creates the metrics of the worker served through eng (the worker's
// shared engine, see engine.Attach; Metrics does not release it) and
// registers them in a registry of their own, with the Go runtime and process
// collectors.
func New(eng *engine.Engine) *Metrics {
	door := []string{"door"}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		eng: eng,
		mutations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "arpcbridge_mutations_total",
			Help: "Mutations from clients run on the worker, by door and result.",
		}, []string{"door", "result"}),
		pushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "arpcbridge_pushes_total",
			Help: "Clock updates pushed to watching clients.",
		}, door),
		lag: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "arpcbridge_push_lag_seconds",
			Help: "Time from the oldest worker change in a push to the push " +
				"being written.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25,
				.5, 1, 2.5},
		}, door),
		coalesced: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "arpcbridge_coalesced_diffs_total",
			Help: "Worker transitions merged into another transition's push.",
		}, door),
		reconnects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "arpcbridge_reconnects_total",
			Help: "Clients that reconnected and resumed their replica.",
		}, door),
		conns: newDoorCollector(),
	}
	// show both doors from the first scrape
	for _, d := range []string{DoorARPC, DoorGRPC} {
		for _, r := range []string{"executed", "canceled", "queued"} {
			m.mutations.WithLabelValues(d, r)
		}
		m.pushes.WithLabelValues(d)
		m.lag.WithLabelValues(d)
		m.coalesced.WithLabelValues(d)
		m.reconnects.WithLabelValues(d)
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.mutations, m.pushes, m.lag, m.coalesced, m.reconnects, m.conns,
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "arpcbridge_full_resyncs_total",
			Help: "Full snapshots sent to clients after their initial sync " +
				"(drift or a broken chain).",
		}, func() float64 { return float64(eng.Stats().FullSyncs) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "arpcbridge_transitions_total",
			Help: "Worker transitions observed by the clock engine.",
		}, func() float64 { return float64(eng.Stats().Transitions) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "arpcbridge_engine_subscribers",
			Help: "Open subscriptions of the clock engine (both doors).",
		}, func() float64 { return float64(eng.Stats().Subscribers) }),
	)
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Registry returns the registry holding the metrics, to add more.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// mutated counts one mutation's result.
func (m *Metrics) mutated(door string, res am.Result) {
	r := "executed"
	switch {
	case res == am.Canceled:
		r = "canceled"
	case res >= am.Queued:
		r = "queued"
	}
	m.mutations.WithLabelValues(door, r).Inc()
}

// pushed counts one pushed update from fromSeq to toSeq, merging coalesced
// transitions. Full updates have no lag to measure.
func (m *Metrics) pushed(door string, fromSeq, toSeq, coalesced uint64,
	full bool,
) {
	m.pushes.WithLabelValues(door).Inc()
	if coalesced > 1 {
		m.coalesced.WithLabelValues(door).Add(float64(coalesced - 1))
	}
	if full || toSeq <= fromSeq {
		return
	}
	// the oldest change in the push waited the longest
	s := m.eng.SnapshotAt(fromSeq + 1)
	if s == nil {
		s = m.eng.SnapshotAt(toSeq)
	}
	if s != nil && !s.At.IsZero() {
		m.lag.WithLabelValues(door).Observe(time.Since(s.At).Seconds())
	}
}
