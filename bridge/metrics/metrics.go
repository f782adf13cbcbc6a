package metrics

import (
	"fmt"
	"net/http"
	"time"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"

	"github.com/arpcbridge/arpcbridge/arpc/engine"
	"github.com/arpcbridge/arpcbridge/internal/buildinfo"
)

// Door label values.
const (
	DoorARPC = "arpc"
	DoorGRPC = "grpc"
)

// Metrics holds the collectors of one served worker. Create it with New or
// NewWithOptions; bridge.NewServer creates one itself (ServerOpts.Metrics).
type Metrics struct {
	reg      prometheus.Registerer
	gatherer prometheus.Gatherer
	eng      *engine.Engine
	// grpc are the per-method gRPC server metrics (grpc_server_*)
	grpc *grpcprom.ServerMetrics
	// collectors are the ones registered, for Unregister
	collectors []prometheus.Collector

	mutations  *prometheus.CounterVec
	pushes     *prometheus.CounterVec
	lag        *prometheus.HistogramVec
	coalesced  *prometheus.CounterVec
	reconnects *prometheus.CounterVec
	conns      *doorCollector
}

// Options are optional settings of NewWithOptions. The zero value means
// defaults.
type Options struct {
	// Registerer receives the metrics, e.g. prometheus.DefaultRegisterer or
	// a registry of the embedding program's. Default: a registry of their
	// own, with the Go runtime and process collectors (which a given
	// Registerer is expected to have already, or not to want).
	Registerer prometheus.Registerer
	// Gatherer is what Handler serves. Default: Registerer when it is a
	// prometheus.Gatherer (a *prometheus.Registry, the default registerer),
	// else prometheus.DefaultGatherer.
	Gatherer prometheus.Gatherer
}

// New creates the metrics of the worker served through eng (the worker's
// shared engine, see engine.Attach; Metrics does not release it) and
// registers them in a registry of their own, with the Go runtime and process
// collectors.
func New(eng *engine.Engine) *Metrics {
	m, err := NewWithOptions(eng, Options{})
	if err != nil {
		// a fresh registry has no collectors to collide with
		panic(err)
	}
	return m
}

// NewWithOptions is New with options: it fails when opts.Registerer already
// holds metrics of the same names (another server's: give each its own
// registry, or wrap the Registerer with prometheus.WrapRegistererWith and a
// distinguishing label).
func NewWithOptions(eng *engine.Engine, opts Options) (*Metrics, error) {
	door := []string{"door"}
	reg, gatherer := opts.Registerer, opts.Gatherer
	own := reg == nil
	if own {
		r := prometheus.NewRegistry()
		reg, gatherer = r, r
	}
	if gatherer == nil {
		if g, ok := reg.(prometheus.Gatherer); ok {
			gatherer = g
		} else {
			gatherer = prometheus.DefaultGatherer
		}
	}
	m := &Metrics{
		reg:      reg,
		gatherer: gatherer,
		eng:      eng,
		grpc: grpcprom.NewServerMetrics(
			grpcprom.WithServerHandlingTimeHistogram()),
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
	cs := []prometheus.Collector{
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
		buildInfo(), m.grpc,
	}
	if own {
		cs = append(cs, collectors.NewGoCollector(),
			collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			// leave nothing half-registered behind
			for _, r := range cs {
				reg.Unregister(r)
			}
			return nil, fmt.Errorf("metrics: %w", err)
		}
	}
	m.collectors = cs
	return m, nil
}

// Handler serves the metrics (Options.Gatherer) in the Prometheus text
// format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.gatherer, promhttp.HandlerOpts{})
}

// Unregister removes the metrics from their Registerer, so that another
// Metrics may register there (a server restarted in the same process).
// Idempotent.
func (m *Metrics) Unregister() {
	for _, c := range m.collectors {
		m.reg.Unregister(c)
	}
}

// Registerer returns the registerer holding the metrics, to add more.
func (m *Metrics) Registerer() prometheus.Registerer { return m.reg }

// Gatherer returns what Handler serves.
func (m *Metrics) Gatherer() prometheus.Gatherer { return m.gatherer }

// buildInfo is the arpcbridge_build_info gauge: always 1, its labels say
// what runs.
func buildInfo() prometheus.Collector {
	bi := buildinfo.Read()
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "arpcbridge_build_info",
		Help: "Build of the serving binary: module version, VCS commit and " +
			"Go version as labels; always 1.",
		ConstLabels: prometheus.Labels{"version": bi.Version,
			"commit": bi.Commit, "goversion": bi.GoVersion},
	})
	g.Set(1)
	return g
}

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
