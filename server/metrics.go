package server

import (
	"bytes"
	"context"
	"database/sql"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/common/expfmt"
	"github.com/ukeyrenew/ukeyrenew/server/jobs"
	"github.com/ukeyrenew/ukeyrenew/server/payment"
)

// metrics is one server's Prometheus registry: request counts by route and
// status class, a latency histogram by route, requests in flight, and named
// counters for business events (SMS sent, certificates issued), beside the
// standard Go runtime and process collectors. Each Server has its own
// registry, so that many servers in one process (tests) do not share counts.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	inFlight prometheus.Gauge
	events   *prometheus.CounterVec
}

var latencyBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "renewd_http_requests_total",
			Help: "HTTP requests by route and status class.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "renewd_http_request_duration_seconds",
			Help:    "HTTP request latency by route.",
			Buckets: latencyBuckets,
		}, []string{"route"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "renewd_http_requests_in_flight",
			Help: "HTTP requests being served.",
		}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "renewd_events_total",
			Help: "Business events (sms_sent, certificate_issued, ...).",
		}, []string{"event"}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.inFlight, m.events,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// watchPayments exports the payment module's count of transaction ids a
// provider gave two orders (each credited, to be reconciled by hand):
// alert on any increase.
func (m *metrics) watchPayments(p *payment.Payments) {
	m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "renewd_payment_transaction_id_conflicts_total",
		Help: "Payments credited whose provider transaction id another order already had (reconcile by hand).",
	}, func() float64 { return float64(p.TransactionIDConflicts()) }))
}

func (m *metrics) observe(route string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(status/100)+"xx").Inc()
	m.latency.WithLabelValues(route).Observe(d.Seconds())
}

func (m *metrics) count(event string) {
	m.events.WithLabelValues(event).Inc()
}

// refusedNotifications exports the payment module's count of refused
// notifications, every one of them, audited or not.
type refusedNotifications struct{ pay *payment.Payments }

var refusedDesc = prometheus.NewDesc("renewd_payment_notifications_refused_total",
	"Payment notifications refused, by provider and reason (audited at most once a minute per source and reason).",
	[]string{"provider", "reason"}, nil)

func (c refusedNotifications) Describe(ch chan<- *prometheus.Desc) { ch <- refusedDesc }

func (c refusedNotifications) Collect(ch chan<- prometheus.Metric) {
	for _, n := range c.pay.RefusalCounts() {
		ch <- prometheus.MustNewConstMetric(refusedDesc, prometheus.CounterValue, float64(n.N), n.Provider, n.Reason)
	}
}

// jobCounts exports the durable jobs by kind and state, counted in the
// database at each scrape (every replica reports the cluster's jobs):
// alert on discarded and on a growing retryable or available.
type jobCounts struct {
	db  *sql.DB // the reader pool: a scrape never waits for SQLite's writer
	log *slog.Logger
}

var jobsDesc = prometheus.NewDesc("renewd_jobs",
	"Durable jobs in the database by kind and state (available, scheduled, running, retryable, completed, discarded, cancelled).",
	[]string{"kind", "state"}, nil)

func (c jobCounts) Describe(ch chan<- *prometheus.Desc) { ch <- jobsDesc }

func (c jobCounts) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	counts, err := jobs.Counts(ctx, c.db)
	if err != nil {
		c.log.Warn("metrics: count jobs", "err", err.Error())
		return
	}
	for _, n := range counts {
		ch <- prometheus.MustNewConstMetric(jobsDesc, prometheus.GaugeValue, float64(n.N), n.Kind, string(n.State))
	}
}

// handler serves the registry in the Prometheus text format 0.0.4, whatever
// the scraper asks for: /metrics is documented as text/plain. A collector
// that fails (the process collector on a system without /proc) leaves its
// families out; the others are still served.
func (m *metrics) handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mfs, _ := m.reg.Gather()
		var b bytes.Buffer
		for _, mf := range mfs {
			if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
				http.Error(w, "metrics: "+err.Error(), http.StatusInternalServerError)
				return
			}
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_, _ = w.Write(b.Bytes())
	})
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
