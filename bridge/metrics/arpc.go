package metrics

import (
	"context"
	"sync"
	"sync/atomic"

	am "github.com/pancsta/asyncmachine-go/pkg/machine"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/arpcbridge/arpcbridge/arpc"
	"github.com/arpcbridge/arpcbridge/arpc/engine"
	ss "github.com/arpcbridge/arpcbridge/arpc/states"
)

// ConfigureARPC sets the metrics' hooks on an aRPC server and tracks it for
// the clients and bytes metrics. Use it as bridge.ServerOpts.ConfigureARPC
// (one server per connection), or call it on a standalone arpc.Server before
// Start.
func (m *Metrics) ConfigureARPC(s *arpc.Server) {
	s.Hooks = arpc.ServerHooks{
		Handshake: func(_ string, resumed bool) {
			if resumed {
				m.reconnects.WithLabelValues(DoorARPC).Inc()
			}
		},
		Mutated: func(res am.Result, _ error) { m.mutated(DoorARPC, res) },
		Pushed: func(u *engine.Update) {
			m.pushed(DoorARPC, u.FromSeq, u.ToSeq, u.Coalesced, u.Full)
		},
	}
	m.conns.add(s)
}

// doorCollector reports connected clients and sent bytes per door. The aRPC
// values are read from the aRPC servers at scrape time; servers that were
// disposed are dropped, their bytes kept in a total. The gRPC values come
// from the stats handler.
type doorCollector struct {
	clients *prometheus.Desc
	bytes   *prometheus.Desc

	grpcConns atomic.Int64
	grpcBytes atomic.Int64

	mx      sync.Mutex
	servers map[*arpc.Server]struct{}
	retired int64
}

func newDoorCollector() *doorCollector {
	door := []string{"door"}
	return &doorCollector{
		clients: prometheus.NewDesc("arpcbridge_clients",
			"Connected clients (aRPC: connections past their handshake; gRPC: "+
				"open connections).", door, nil),
		bytes: prometheus.NewDesc("arpcbridge_sent_bytes_total",
			"Bytes sent to clients (aRPC: all bytes written to connections; "+
				"gRPC: messages with their gRPC framing).", door, nil),
		servers: map[*arpc.Server]struct{}{},
	}
}

func (d *doorCollector) add(s *arpc.Server) {
	d.mx.Lock()
	defer d.mx.Unlock()
	d.servers[s] = struct{}{}
	// without scrapes, disposed servers must not pile up either
	s.Mach.OnDispose(func(string, context.Context) { d.retire(s) })
}

// retire drops a disposed server, keeping its bytes in the total.
func (d *doorCollector) retire(s *arpc.Server) {
	d.mx.Lock()
	defer d.mx.Unlock()
	if _, ok := d.servers[s]; ok {
		d.retired += s.Stats().BytesOut
		delete(d.servers, s)
	}
}

// Describe implements prometheus.Collector.
func (d *doorCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- d.clients
	ch <- d.bytes
}

// Collect implements prometheus.Collector.
func (d *doorCollector) Collect(ch chan<- prometheus.Metric) {
	d.mx.Lock()
	clients := 0
	sent := d.retired
	for s := range d.servers {
		out := s.Stats().BytesOut
		sent += out
		if s.Mach.IsDisposed() {
			d.retired += out
			delete(d.servers, s)
			continue
		}
		if s.Mach.Is1(ss.SharedStates.HandshakeDone) {
			clients++
		}
	}
	d.mx.Unlock()
	ch <- prometheus.MustNewConstMetric(d.clients, prometheus.GaugeValue,
		float64(clients), DoorARPC)
	ch <- prometheus.MustNewConstMetric(d.clients, prometheus.GaugeValue,
		float64(d.grpcConns.Load()), DoorGRPC)
	ch <- prometheus.MustNewConstMetric(d.bytes, prometheus.CounterValue,
		float64(sent), DoorARPC)
	ch <- prometheus.MustNewConstMetric(d.bytes, prometheus.CounterValue,
		float64(d.grpcBytes.Load()), DoorGRPC)
}
