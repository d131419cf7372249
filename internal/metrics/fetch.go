package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/izyware/izypop3/core/fetch"
)

// FetchMetrics are the fetcher's per-account metrics (clientpop3):
//
//	izypop3_fetch_messages_total{account,outcome}  messages by fetch.Outcome (stored, dup,
//	                                               conversionerror, held, toobig, failed, deleted)
//	izypop3_fetch_bytes_total{account}             octets stored
//	izypop3_fetch_runs_total{account,result}       runs, result ok or failed
//	izypop3_fetch_last_success_timestamp_seconds{account}  end of the last run that succeeded
//	izypop3_fetch_run_duration_seconds{account}    how long runs take
//
// account is whatever names the account to the operator (for example
// user@host:port); keep it free of secrets.
type FetchMetrics struct {
	messages *prometheus.CounterVec
	bytes    *prometheus.CounterVec
	runs     *prometheus.CounterVec
	last     *prometheus.GaugeVec
	duration *prometheus.HistogramVec
}

// Fetch returns the fetcher's metrics, registered on first use.
func (r *Registry) Fetch() *FetchMetrics {
	if r.fetch != nil {
		return r.fetch
	}
	m := &FetchMetrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "fetch",
			Name: "messages_total", Help: "Messages seen by the fetcher, by account and outcome."}, []string{"account", "outcome"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "fetch",
			Name: "bytes_total", Help: "Octets stored by the fetcher, by account."}, []string{"account"}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "fetch",
			Name: "runs_total", Help: "Fetch runs by account and result (ok, failed)."}, []string{"account", "result"}),
		last: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Subsystem: "fetch",
			Name: "last_success_timestamp_seconds", Help: "When the last successful run of the account ended (Unix time)."}, []string{"account"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Subsystem: "fetch",
			Name: "run_duration_seconds", Help: "Fetch run duration by account.", Buckets: durationBuckets}, []string{"account"}),
	}
	r.reg.MustRegister(m.messages, m.bytes, m.runs, m.last, m.duration)
	r.fetch = m
	return m
}

// outcomes are the fetch outcomes counted (the dry-run ones are not).
var outcomes = []fetch.Outcome{fetch.Stored, fetch.Dup, fetch.ConversionError, fetch.Held, fetch.TooBig, fetch.Failed, fetch.Deleted}

// Account makes the series of account visible (at 0) before its first run.
func (m *FetchMetrics) Account(account string) {
	for _, o := range outcomes {
		m.messages.WithLabelValues(account, string(o))
	}
	m.bytes.WithLabelValues(account)
	m.runs.WithLabelValues(account, "ok")
	m.runs.WithLabelValues(account, "failed")
}

// Run records one finished fetch.Run of account: its summary (counted even
// when err is not nil: what was stored stays stored) and whether it failed.
func (m *FetchMetrics) Run(account string, s fetch.Summary, err error) {
	m.Account(account)
	for _, c := range []struct {
		o fetch.Outcome
		n int
	}{{fetch.Stored, s.Stored}, {fetch.Dup, s.Dup}, {fetch.ConversionError, s.ConversionError},
		{fetch.Held, s.Held}, {fetch.TooBig, s.TooBig}, {fetch.Failed, s.Failed}, {fetch.Deleted, s.Deleted}} {
		if c.n > 0 {
			m.messages.WithLabelValues(account, string(c.o)).Add(float64(c.n))
		}
	}
	if s.Bytes > 0 {
		m.bytes.WithLabelValues(account).Add(float64(s.Bytes))
	}
	m.duration.WithLabelValues(account).Observe(s.Elapsed.Seconds())
	if err != nil {
		m.runs.WithLabelValues(account, "failed").Inc()
		return
	}
	m.runs.WithLabelValues(account, "ok").Inc()
	m.last.WithLabelValues(account).Set(float64(time.Now().UnixNano()) / 1e9)
}
