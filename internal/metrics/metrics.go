// Package metrics is izypop3's Prometheus instrumentation: one registry per
// process, adapters from the observers of the core packages
// (pop3server.Observer, storehost.Observer), the fetcher's per-account
// counters, and the HTTP endpoints /metrics, /healthz and /readyz
// (--http-listen). The core packages know nothing of Prometheus; this one
// joins them to github.com/prometheus/client_golang.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Namespace prefixes every metric name.
const Namespace = "izypop3"

// ReadyTimeout bounds one /readyz check.
const ReadyTimeout = 3 * time.Second

// Registry holds the metrics of one process. Create it with New; the
// adapters (Server, Store, Fetch) register their metrics on first use.
type Registry struct {
	reg    *prometheus.Registry
	server *serverMetrics
	store  *storeMetrics
	fetch  *FetchMetrics
}

// New returns a registry with the Go runtime and process collectors and an
// izypop3_build_info gauge (1) labelled with version and commit.
func New(version, commit string) *Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	info := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "build_info",
		Help: "Always 1; the labels say which izypop3 this is.",
	}, []string{"version", "commit"})
	info.WithLabelValues(version, commit).Set(1)
	reg.MustRegister(info)
	return &Registry{reg: reg}
}

// Gatherer is the registry, for tests and custom handlers.
func (r *Registry) Gatherer() prometheus.Gatherer { return r.reg }

// ReadyFunc reports whether the process can do its work (for the server:
// the store answers its health check). nil means always ready.
type ReadyFunc func(ctx context.Context) error

// Handler serves /metrics (Prometheus text or OpenMetrics), /healthz (200
// while the process runs) and /readyz (200 when ready answers nil within
// ReadyTimeout, else 503 with the reason).
func (r *Registry) Handler(ready ReadyFunc, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{
		ErrorLog:          slogErrorLog{log},
		EnableOpenMetrics: true,
	}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, req *http.Request) {
		if ready != nil {
			ctx, cancel := context.WithTimeout(req.Context(), ReadyTimeout)
			err := ready(ctx)
			cancel()
			if err != nil {
				log.Warn("not ready", "error", err)
				http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		fmt.Fprintln(w, "ok")
	})
	return mux
}

type slogErrorLog struct{ log *slog.Logger }

func (l slogErrorLog) Println(v ...any) { l.log.Warn("serving metrics", "error", fmt.Sprint(v...)) }

// HTTPServer is a running --http-listen endpoint.
type HTTPServer struct {
	srv  *http.Server
	addr net.Addr
	done chan struct{}
}

// Listen serves r.Handler on the TCP address addr until Close.
func (r *Registry) Listen(addr string, ready ReadyFunc, log *slog.Logger) (*HTTPServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--http-listen: %w", err)
	}
	s := &HTTPServer{
		srv: &http.Server{
			Handler:           r.Handler(ready, log),
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       2 * time.Minute,
			MaxHeaderBytes:    16 << 10,
		},
		addr: ln.Addr(),
		done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics endpoint stopped", "error", err)
		}
	}()
	return s, nil
}

// Addr is the address it listens on.
func (s *HTTPServer) Addr() net.Addr { return s.addr }

// Close stops it, letting requests in flight finish for up to a second.
func (s *HTTPServer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if err != nil {
		s.srv.Close()
	}
	<-s.done
	return err
}

// durationBuckets are the histogram buckets of call latencies, in seconds:
// 0.5 ms to 60 s.
var durationBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}
