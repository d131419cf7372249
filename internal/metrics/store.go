package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/izyware/izypop3/core/storehost"
)

// storeMetrics implements storehost.Observer.
type storeMetrics struct {
	calls    *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	restarts *prometheus.CounterVec
}

// Store returns the observer to set as storehost.Options.Observer. Its
// metrics:
//
//	izypop3_store_calls_total{store,method,code}       store protocol calls; code OK or the
//	                                                   gRPC status (NotFound, Unavailable, ...)
//	izypop3_store_call_duration_seconds{store,method}  their latency (streams: to the end)
//	izypop3_store_plugin_restarts_total{store,result}  fresh plugin processes after one died:
//	                                                   result ok or failed
func (r *Registry) Store() storehost.Observer {
	if r.store != nil {
		return r.store
	}
	m := &storeMetrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "store",
			Name: "calls_total", Help: "Store protocol calls by store, method and status code (OK when it succeeded)."},
			[]string{"store", "method", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Subsystem: "store",
			Name: "call_duration_seconds", Help: "Store call latency (for streams, until the last message).",
			Buckets: durationBuckets}, []string{"store", "method"}),
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "store",
			Name: "plugin_restarts_total", Help: "Store plugin processes started after the previous one died, by result (ok, failed)."},
			[]string{"store", "result"}),
	}
	r.reg.MustRegister(m.calls, m.latency, m.restarts)
	r.store = m
	return m
}

func (m *storeMetrics) StoreCall(store, method string, d time.Duration, code string) {
	m.calls.WithLabelValues(store, method, code).Inc()
	m.latency.WithLabelValues(store, method).Observe(d.Seconds())
}

func (m *storeMetrics) PluginRestart(store string, err error) {
	result := "ok"
	if err != nil {
		result = "failed"
	}
	m.restarts.WithLabelValues(store, result).Inc()
}

// StoreOpened makes the restart series of store visible at 0 before any
// restart.
func (r *Registry) StoreOpened(store string) {
	m := r.Store().(*storeMetrics)
	m.restarts.WithLabelValues(store, "ok")
	m.restarts.WithLabelValues(store, "failed")
}
