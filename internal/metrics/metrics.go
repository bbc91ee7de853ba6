// Package metrics exposes what jwtauth does in the Prometheus format: HTTP
// requests by route, authentication events, the password hashing pool, the
// database connection pool, open and refused connections, plus the Go
// runtime and the process.
package metrics

import (
	"database/sql"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is one registry with jwtauth's instruments. It is not global: a
// process (or a test) makes its own.
type Metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	events   *prometheus.CounterVec
	refused  *prometheus.CounterVec

	// routes caches each route's instruments, so that counting a request
	// costs two map reads and two atomic adds, without the label lookups
	// or allocations of the vectors. It is copied on write: routes are few
	// and fixed, requests are many.
	mu     sync.Mutex
	routes atomic.Pointer[map[string]map[string]*route]
}

// route holds the instruments of one route template and method.
type route struct {
	name, method string
	duration     prometheus.Observer
	statuses     [600]atomic.Pointer[counter] // by status code
}

type counter struct{ prometheus.Counter }

// New returns the instruments, registered with the Go runtime and process
// collectors.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jwtauth_http_requests_total",
			Help: "HTTP requests by route template, method and status code.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "jwtauth_http_request_duration_seconds",
			Help: "HTTP request latency by route template and method.",
			// From a cached token check (~50µs) to a queued bcrypt (seconds).
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route", "method"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jwtauth_auth_events_total",
			Help: "Authentication and audit events (signin, signin_failed, refresh_replayed, rate_limited, " +
				"hashing_busy, ...) by event and detail (the failure reason or the rate-limit rule).",
		}, []string{"event", "detail"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jwtauth_connections_refused_total",
			Help: "Connections answered 503 and closed at once, by the cap they were over (per_address, total).",
		}, []string{"reason"}),
	}
	m.reg.MustRegister(m.requests, m.duration, m.events, m.refused,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// ObserveRequest counts one answered request. route is the route template
// ("/api/admin/users/:id"), so that ids do not multiply the series.
func (m *Metrics) ObserveRequest(name, method string, status int, took time.Duration) {
	r := m.route(name, method)
	r.duration.Observe(took.Seconds())
	if status < 0 || status >= len(r.statuses) {
		m.requests.WithLabelValues(name, method, strconv.Itoa(status)).Inc()
		return
	}
	c := r.statuses[status].Load()
	if c == nil {
		c = &counter{m.requests.WithLabelValues(name, method, strconv.Itoa(status))}
		if !r.statuses[status].CompareAndSwap(nil, c) {
			c = r.statuses[status].Load()
		}
	}
	c.Inc()
}

func (m *Metrics) route(name, method string) *route {
	if routes := m.routes.Load(); routes != nil {
		if r := (*routes)[name][method]; r != nil {
			return r
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	next := map[string]map[string]*route{}
	if routes := m.routes.Load(); routes != nil {
		for n, byMethod := range *routes {
			next[n] = byMethod
		}
		if r := (*routes)[name][method]; r != nil {
			return r
		}
	}
	byMethod := map[string]*route{}
	for k, v := range next[name] {
		byMethod[k] = v
	}
	r := &route{name: name, method: method, duration: m.duration.WithLabelValues(name, method)}
	byMethod[method] = r
	next[name] = byMethod
	m.routes.Store(&next)
	return r
}

// CountEvent counts an authentication event.
func (m *Metrics) CountEvent(event, detail string) {
	m.events.WithLabelValues(event, detail).Inc()
}

// WatchDB exports the database connection pool's statistics.
func (m *Metrics) WatchDB(db *sql.DB, name string) {
	m.reg.MustRegister(collectors.NewDBStatsCollector(db, name))
}

// WatchHashPool exports the password hashing pool's occupancy, read by
// stats at each scrape.
func (m *Metrics) WatchHashPool(stats func() (running, waiting int)) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "jwtauth_hash_pool_running",
			Help: "Password hashes running now.",
		}, func() float64 { r, _ := stats(); return float64(r) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "jwtauth_hash_pool_waiting",
			Help: "Password hashes waiting for a worker now.",
		}, func() float64 { _, w := stats(); return float64(w) }),
	)
}

// WatchConnections exports the API's open connections, read by open at
// each scrape, and starts the refused-connection series of each reason at
// zero, so that a rate over them works before the first refusal.
func (m *Metrics) WatchConnections(open func() int, reasons ...string) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "jwtauth_connections_open",
		Help: "Connections open now on the API's listener.",
	}, func() float64 { return float64(open()) }))
	for _, r := range reasons {
		m.refused.WithLabelValues(r)
	}
}

// CountRefusedConnection counts a connection refused over a cap.
func (m *Metrics) CountRefusedConnection(reason string) {
	m.refused.WithLabelValues(reason).Inc()
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}
