package metrics

import (
	"errors"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/izyware/izypop3/core/pop3"
	"github.com/izyware/izypop3/core/pop3/pop3server"
)

// serverMetrics implements pop3server.Observer.
type serverMetrics struct {
	active   prometheus.Gauge
	sessions prometheus.Counter
	logins   *prometheus.CounterVec
	commands *prometheus.CounterVec
	sent     prometheus.Counter
	retr     prometheus.Histogram
}

// Server returns the observer to set as pop3server.Options.Observer. Its
// metrics:
//
//	izypop3_pop3_sessions_active          connections being served
//	izypop3_pop3_sessions_total           connections accepted
//	izypop3_pop3_logins_total{result}     PASS, APOP and AUTH answers: ok, auth (refused
//	                                      credentials), in_use, sys_temp, login_delay, failed
//	                                      (any other -ERR), error (a failure not the client's)
//	izypop3_pop3_commands_total{command,result}  by command (OTHER for unknown ones,
//	                                      INVALID for lines that do not parse), result ok or err
//	izypop3_pop3_sent_bytes_total         octets sent to clients (before TLS)
//	izypop3_pop3_retr_duration_seconds    RETR, from the command to its last octet
func (r *Registry) Server() pop3server.Observer {
	if r.server != nil {
		return r.server
	}
	m := &serverMetrics{
		active: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: Namespace, Subsystem: "pop3",
			Name: "sessions_active", Help: "POP3 connections being served."}),
		sessions: prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "pop3",
			Name: "sessions_total", Help: "POP3 connections accepted."}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "pop3",
			Name: "logins_total", Help: "Login attempts (PASS, APOP, AUTH) by result."}, []string{"result"}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "pop3",
			Name: "commands_total", Help: "POP3 commands by command and result (ok, err)."}, []string{"command", "result"}),
		sent: prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Subsystem: "pop3",
			Name: "sent_bytes_total", Help: "Octets sent to POP3 clients (before TLS)."}),
		retr: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace, Subsystem: "pop3",
			Name: "retr_duration_seconds", Help: "RETR latency, from the command to the last octet of the message.",
			Buckets: durationBuckets}),
	}
	r.reg.MustRegister(m.active, m.sessions, m.logins, m.commands, m.sent, m.retr)
	for _, res := range loginResults {
		m.logins.WithLabelValues(res) // present at 0 from the start
	}
	r.server = m
	return m
}

var loginResults = []string{"ok", "auth", "in_use", "sys_temp", "login_delay", "failed", "error"}

// commandNames are the commands counted under their own name.
var commandNames = map[string]bool{
	"USER": true, "PASS": true, "APOP": true, "AUTH": true, "STLS": true, "CAPA": true, "QUIT": true,
	"STAT": true, "LIST": true, "RETR": true, "DELE": true, "NOOP": true, "RSET": true, "TOP": true, "UIDL": true,
}

func (m *serverMetrics) SessionStarted() { m.active.Inc(); m.sessions.Inc() }
func (m *serverMetrics) SessionEnded()   { m.active.Dec() }
func (m *serverMetrics) BytesSent(n int) {
	if n > 0 {
		m.sent.Add(float64(n))
	}
}

func (m *serverMetrics) Command(name string, d time.Duration, err error) {
	label := name
	switch {
	case name == "":
		label = "INVALID"
	case !commandNames[name]:
		label = "OTHER"
	}
	result := "ok"
	if err != nil {
		result = "err"
	}
	m.commands.WithLabelValues(label, result).Inc()
	switch name {
	case "PASS", "APOP", "AUTH":
		m.logins.WithLabelValues(loginResult(err)).Inc()
	case "RETR":
		if err == nil {
			m.retr.Observe(d.Seconds())
		}
	}
}

// loginResult names the outcome of a login command.
func loginResult(err error) string {
	if err == nil {
		return "ok"
	}
	var pe *pop3.Error
	if !errors.As(err, &pe) {
		return "error"
	}
	switch pe.Code {
	case "":
		return "failed"
	case pop3.CodeAuth, pop3.CodeInUse, pop3.CodeSysTemp, pop3.CodeLoginDelay:
		return strings.NewReplacer("-", "_", "/", "_").Replace(strings.ToLower(pe.Code))
	}
	return "failed"
}
