package ops

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Handler returns the admin listener's endpoints:
//
//   - /metrics: the metrics, in Prometheus's text format;
//   - /status: the daemon's state and counters, as JSON (see Status);
//   - /healthz: 200 "ok" while serving, 503 "draining" once stopping.
//
// Every other path is 404, every method but GET and HEAD 405. Nothing it
// does waits on the request path: it answers while every program slot is
// busy and every queue full. Scrape errors are logged to log.
func (m *Metrics) Handler(log hclog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:      log.StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Error}),
		ErrorHandling: promhttp.ContinueOnError,
	}))
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(m.Status()); err != nil {
			log.Debug("status page not sent", "error", err)
		}
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if m.state().Draining {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("draining\n"))
			return
		}
		w.Write([]byte("ok\n"))
	})
	return mux
}

// Status is the status page: the daemon's state now and what it has
// counted since it started.
type Status struct {
	State         string  `json:"state"` // "serving" or "draining"
	Started       string  `json:"started"`
	UptimeSeconds float64 `json:"uptime_seconds"`
	Accepted      uint64  `json:"accepted"`
	InFlight      int64   `json:"in_flight"`
	// Running, Queued and their bounds are summed over the mounts.
	Running    int           `json:"running"`
	MaxRunning int           `json:"max_running"`
	Queued     int           `json:"queued"`
	MaxQueue   int           `json:"max_queue"`
	Mounts     []MountStatus `json:"mounts"`
}

// MountStatus is one mount on the status page.
type MountStatus struct {
	Prefix     string `json:"prefix"`
	Serves     string `json:"serves"`
	Running    int    `json:"running"`
	MaxRunning int    `json:"max_running"`
	Queued     int    `json:"queued"`
	MaxQueue   int    `json:"max_queue"`
	// Requests counts the requests answered, by status code; Stops the
	// programs stopped or failed, by reason (as the metrics name them).
	Requests map[string]uint64 `json:"requests"`
	Stops    map[string]uint64 `json:"stops"`
	Workers  *WorkersStatus    `json:"workers,omitempty"`
}

// WorkersStatus is a worker pool on the status page.
type WorkersStatus struct {
	Starting int    `json:"starting"`
	Idle     int    `json:"idle"`
	Busy     int    `json:"busy"`
	Stopping int    `json:"stopping"`
	Pids     []int  `json:"pids"`
	Restarts int64  `json:"restarts"`
	Failing  string `json:"failing,omitempty"`
}

// Status returns the status page's content now.
func (m *Metrics) Status() Status {
	st := m.state()
	requests, stops := m.mountCounts()
	out := Status{
		State:         "serving",
		Started:       st.Started.UTC().Format(time.RFC3339),
		UptimeSeconds: time.Since(st.Started).Round(time.Millisecond).Seconds(),
		Accepted:      st.Accepted,
		InFlight:      st.InFlight,
		Mounts:        []MountStatus{},
	}
	if st.Draining {
		out.State = "draining"
	}
	for _, mt := range st.Mounts {
		ms := MountStatus{
			Prefix: mt.Prefix, Serves: mt.Serves,
			Running: mt.Running, MaxRunning: mt.MaxRunning, Queued: mt.Queued, MaxQueue: mt.MaxQueue,
			Requests: requests[mt.Prefix], Stops: map[string]uint64{},
		}
		if ms.Requests == nil {
			ms.Requests = map[string]uint64{}
		}
		for _, r := range stopReasons {
			ms.Stops[r] = stops[mt.Prefix][r]
		}
		if w := mt.Workers; w != nil {
			ms.Workers = &WorkersStatus{
				Starting: w.Starting, Idle: w.Idle, Busy: w.Busy, Stopping: w.Stopping,
				Pids: append([]int{}, w.Pids...), Restarts: w.Restarts, Failing: w.Failing,
			}
		}
		out.Running += mt.Running
		out.MaxRunning += mt.MaxRunning
		out.Queued += mt.Queued
		out.MaxQueue += mt.MaxQueue
		out.Mounts = append(out.Mounts, ms)
	}
	return out
}
