package ops

import (
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"gatewayd/handler"
	"gatewayd/handler/worker"
)

// State is a snapshot of the daemon, taken when the status page or the
// metrics are asked for.
type State struct {
	Started  time.Time // when the daemon began serving
	Draining bool      // stopping: no new requests are accepted
	Accepted uint64    // requests accepted since the start
	InFlight int64     // requests being served now
	Mounts   []MountState
}

// MountState is one mount of the configuration now served.
type MountState struct {
	Prefix string // "/" or the mount's URL prefix
	Serves string // what it serves, as the start-up log line says
	// Running counts the requests a program is running for (a CGI program,
	// a busy worker, a request forwarded); MaxRunning is their bound.
	Running, MaxRunning int
	// Queued counts the requests waiting for a program slot, a worker or a
	// connection; MaxQueue is their bound.
	Queued, MaxQueue int
	// Workers is the state of a worker pool; nil for other mounts.
	Workers *worker.Status
}

// stopReasons are the values of Outcome.Stop that are counted, in the
// order the status page lists them.
var stopReasons = []string{handler.StopTimeout, handler.StopAbort, handler.StopOverload, handler.StopCrash, handler.StopBadResponse}

// durationBuckets are the request duration histogram's bounds, in
// seconds: from a fast CGI program to the default 60s timeout.
var durationBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// Metrics counts what handler.Observer is told and exports it, with the
// daemon's state, in Prometheus's text format and on the status page. It
// is safe for concurrent use; Observe takes no lock that a scrape holds.
type Metrics struct {
	state func() State
	reg   *prometheus.Registry

	requests  sync.Map // requestKey → *atomic.Uint64
	stops     sync.Map // stopKey → *atomic.Uint64
	durations *prometheus.HistogramVec
}

type requestKey struct {
	mount, frontend string
	code            int
}

type stopKey struct{ mount, reason string }

// NewMetrics returns Metrics that read the daemon's state from state at
// every scrape. Its registry holds gatewayd's metrics and the Go and
// process collectors.
func NewMetrics(state func() State) *Metrics {
	m := &Metrics{
		state: state,
		reg:   prometheus.NewRegistry(),
		durations: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gatewayd_request_duration_seconds",
			Help:    "Time from a request's arrival to the end of its response.",
			Buckets: durationBuckets,
		}, []string{"mount"}),
	}
	m.reg.MustRegister(m.durations, collector{m},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Observe counts one request. It implements handler.Observer.
func (m *Metrics) Observe(o handler.Outcome) {
	count(&m.requests, requestKey{o.Mount, o.Frontend, o.Status})
	if o.Stop != "" {
		count(&m.stops, stopKey{o.Mount, o.Stop})
	}
	m.durations.WithLabelValues(o.Mount).Observe(o.Duration.Seconds())
}

var _ handler.Observer = (*Metrics)(nil)

func count[K comparable](counters *sync.Map, k K) {
	c, ok := counters.Load(k)
	if !ok {
		c, _ = counters.LoadOrStore(k, new(atomic.Uint64))
	}
	c.(*atomic.Uint64).Add(1)
}

// counts returns the counters' values, by key.
func counts[K comparable](counters *sync.Map) map[K]uint64 {
	out := map[K]uint64{}
	counters.Range(func(k, v any) bool {
		out[k.(K)] = v.(*atomic.Uint64).Load()
		return true
	})
	return out
}

// The metrics collector exports from the counters and the state.
var (
	requestsDesc = prometheus.NewDesc("gatewayd_requests_total",
		"Requests answered, by mount, front-end and status code (0: the client went away before a status was sent).",
		[]string{"mount", "frontend", "code"}, nil)
	stopsDesc = prometheus.NewDesc("gatewayd_program_stops_total",
		"Programs stopped early or failed, and requests refused for overload, by mount and reason.",
		[]string{"mount", "reason"}, nil)
	inFlightDesc = prometheus.NewDesc("gatewayd_requests_in_flight",
		"Requests being served.", nil, nil)
	runningDesc = prometheus.NewDesc("gatewayd_programs_running",
		"Requests a program is running for: CGI programs, busy workers, requests forwarded.", nil, nil)
	maxDesc = prometheus.NewDesc("gatewayd_programs_max",
		"The bound of gatewayd_programs_running, over all mounts.", nil, nil)
	queueDesc = prometheus.NewDesc("gatewayd_queue_length",
		"Requests waiting for a program slot, a worker or a connection.", nil, nil)
	workersDesc = prometheus.NewDesc("gatewayd_workers",
		"Persistent workers, by mount and state (starting, idle, busy, stopping).",
		[]string{"mount", "state"}, nil)
	restartsDesc = prometheus.NewDesc("gatewayd_worker_restarts_total",
		"Workers that exited by themselves or failed to start, by mount.",
		[]string{"mount"}, nil)
)

type collector struct{ m *Metrics }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{requestsDesc, stopsDesc, inFlightDesc, runningDesc, maxDesc, queueDesc, workersDesc, restartsDesc} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	st := c.m.state()
	for k, n := range counts[requestKey](&c.m.requests) {
		ch <- prometheus.MustNewConstMetric(requestsDesc, prometheus.CounterValue, float64(n), k.mount, k.frontend, strconv.Itoa(k.code))
	}
	// Every reason of every mount served is there, at 0 until it
	// happens, so that a rate over it is defined from the start.
	stops := counts[stopKey](&c.m.stops)
	for _, mt := range st.Mounts {
		for _, r := range stopReasons {
			if _, ok := stops[stopKey{mt.Prefix, r}]; !ok {
				stops[stopKey{mt.Prefix, r}] = 0
			}
		}
	}
	for k, n := range stops {
		ch <- prometheus.MustNewConstMetric(stopsDesc, prometheus.CounterValue, float64(n), k.mount, k.reason)
	}
	var running, maxRunning, queued int
	for _, mt := range st.Mounts {
		running += mt.Running
		maxRunning += mt.MaxRunning
		queued += mt.Queued
		if w := mt.Workers; w != nil {
			for _, s := range []struct {
				name string
				n    int
			}{{"starting", w.Starting}, {"idle", w.Idle}, {"busy", w.Busy}, {"stopping", w.Stopping}} {
				ch <- prometheus.MustNewConstMetric(workersDesc, prometheus.GaugeValue, float64(s.n), mt.Prefix, s.name)
			}
			ch <- prometheus.MustNewConstMetric(restartsDesc, prometheus.CounterValue, float64(w.Restarts), mt.Prefix)
		}
	}
	ch <- prometheus.MustNewConstMetric(inFlightDesc, prometheus.GaugeValue, float64(st.InFlight))
	ch <- prometheus.MustNewConstMetric(runningDesc, prometheus.GaugeValue, float64(running))
	ch <- prometheus.MustNewConstMetric(maxDesc, prometheus.GaugeValue, float64(maxRunning))
	ch <- prometheus.MustNewConstMetric(queueDesc, prometheus.GaugeValue, float64(queued))
}

// mountCounts returns the requests by status code and the stops by reason
// of each mount, for the status page.
func (m *Metrics) mountCounts() (requests map[string]map[string]uint64, stops map[string]map[string]uint64) {
	requests, stops = map[string]map[string]uint64{}, map[string]map[string]uint64{}
	for k, n := range counts[requestKey](&m.requests) {
		add(requests, k.mount, strconv.Itoa(k.code), n)
	}
	for k, n := range counts[stopKey](&m.stops) {
		add(stops, k.mount, k.reason, n)
	}
	return requests, stops
}

func add(to map[string]map[string]uint64, mount, key string, n uint64) {
	if to[mount] == nil {
		to[mount] = map[string]uint64{}
	}
	to[mount][key] += n
}
