package server

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// metrics is a small hand-written Prometheus registry: request counts by
// route and status class, a latency histogram by route, requests in flight,
// and named counters for business events (SMS sent, certificates issued).
type metrics struct {
	inFlight atomic.Int64

	mu       sync.Mutex
	requests map[[2]string]uint64 // route, status class
	latency  map[string]*histogram
	events   map[string]uint64
}

var latencyBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}

type histogram struct {
	counts []uint64 // per bucket, cumulative when written
	sum    float64
	n      uint64
}

func newMetrics() *metrics {
	return &metrics{requests: map[[2]string]uint64{}, latency: map[string]*histogram{}, events: map[string]uint64{}}
}

func (m *metrics) observe(route string, status int, d time.Duration) {
	class := fmt.Sprintf("%dxx", status/100)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.requests[[2]string{route, class}]++
	h := m.latency[route]
	if h == nil {
		h = &histogram{counts: make([]uint64, len(latencyBuckets))}
		m.latency[route] = h
	}
	s := d.Seconds()
	for i, b := range latencyBuckets {
		if s <= b {
			h.counts[i]++
		}
	}
	h.sum += s
	h.n++
}

func (m *metrics) count(event string) {
	m.mu.Lock()
	m.events[event]++
	m.mu.Unlock()
}

func escLabel(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

func (m *metrics) write(w io.Writer) {
	m.mu.Lock()
	defer m.mu.Unlock()
	fmt.Fprintln(w, "# HELP renewd_http_requests_total HTTP requests by route and status class.")
	fmt.Fprintln(w, "# TYPE renewd_http_requests_total counter")
	keys := make([][2]string, 0, len(m.requests))
	for k := range m.requests {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i][0]+keys[i][1] < keys[j][0]+keys[j][1] })
	for _, k := range keys {
		fmt.Fprintf(w, "renewd_http_requests_total{route=\"%s\",code=\"%s\"} %d\n", escLabel(k[0]), k[1], m.requests[k])
	}
	fmt.Fprintln(w, "# HELP renewd_http_request_duration_seconds HTTP request latency by route.")
	fmt.Fprintln(w, "# TYPE renewd_http_request_duration_seconds histogram")
	routes := make([]string, 0, len(m.latency))
	for r := range m.latency {
		routes = append(routes, r)
	}
	sort.Strings(routes)
	for _, r := range routes {
		h := m.latency[r]
		for i, b := range latencyBuckets {
			fmt.Fprintf(w, "renewd_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %d\n", escLabel(r), b, h.counts[i])
		}
		fmt.Fprintf(w, "renewd_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %d\n", escLabel(r), h.n)
		fmt.Fprintf(w, "renewd_http_request_duration_seconds_sum{route=\"%s\"} %g\n", escLabel(r), h.sum)
		fmt.Fprintf(w, "renewd_http_request_duration_seconds_count{route=\"%s\"} %d\n", escLabel(r), h.n)
	}
	fmt.Fprintln(w, "# HELP renewd_http_requests_in_flight HTTP requests being served.")
	fmt.Fprintln(w, "# TYPE renewd_http_requests_in_flight gauge")
	fmt.Fprintf(w, "renewd_http_requests_in_flight %d\n", m.inFlight.Load())
	fmt.Fprintln(w, "# HELP renewd_events_total Business events (sms_sent, certificate_issued, ...).")
	fmt.Fprintln(w, "# TYPE renewd_events_total counter")
	evs := make([]string, 0, len(m.events))
	for e := range m.events {
		evs = append(evs, e)
	}
	sort.Strings(evs)
	for _, e := range evs {
		fmt.Fprintf(w, "renewd_events_total{event=\"%s\"} %d\n", escLabel(e), m.events[e])
	}
}

func (m *metrics) handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		m.write(w)
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
