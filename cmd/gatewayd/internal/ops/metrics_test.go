package ops_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"gatewayd/cmd/gatewayd/internal/ops"
	"gatewayd/handler"
	"gatewayd/handler/worker"
)

// fixedState is a daemon with a CGI mount at / and a worker mount at /php.
func fixedState(draining *atomic.Bool) func() ops.State {
	started := time.Now().Add(-90 * time.Second)
	return func() ops.State {
		return ops.State{
			Started: started, Draining: draining.Load(), Accepted: 7, InFlight: 3,
			Mounts: []ops.MountState{
				{Prefix: "/", Serves: "CGI scripts in /srv/cgi-bin", Running: 2, MaxRunning: 8, Queued: 1, MaxQueue: 128},
				{Prefix: "/php", Serves: "workers", Running: 1, MaxRunning: 4, MaxQueue: 64,
					Workers: &worker.Status{Idle: 3, Busy: 1, Pids: []int{11, 12, 13, 14}, Restarts: 2}},
			},
		}
	}
}

func get(t *testing.T, h http.Handler, path string) (int, string, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	body, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, rec.Header().Get("Content-Type"), string(body)
}

// TestMetrics: the counts are those of the requests observed, the gauges
// those of the state, and every stop reason of a mount is there from 0.
func TestMetrics(t *testing.T) {
	var draining atomic.Bool
	m := ops.NewMetrics(fixedState(&draining))
	for _, o := range []handler.Outcome{
		{Mount: "/", Frontend: "fastcgi", Status: 200, Duration: 3 * time.Millisecond},
		{Mount: "/", Frontend: "fastcgi", Status: 200, Duration: 30 * time.Millisecond},
		{Mount: "/", Frontend: "http", Status: 504, Duration: 2 * time.Second, Stop: handler.StopTimeout},
		{Mount: "/php", Frontend: "fastcgi", Status: 503, Duration: time.Millisecond, Stop: handler.StopOverload},
		{Mount: "/php", Frontend: "fastcgi", Status: 0, Duration: time.Millisecond, Stop: handler.StopAbort},
	} {
		m.Observe(o)
	}
	code, ctype, body := get(t, m.Handler(hclog.NewNullLogger()), "/metrics")
	if code != 200 || !strings.HasPrefix(ctype, "text/plain") {
		t.Fatalf("/metrics: %d %s", code, ctype)
	}
	for _, want := range []string{
		`gatewayd_requests_total{code="200",frontend="fastcgi",mount="/"} 2`,
		`gatewayd_requests_total{code="504",frontend="http",mount="/"} 1`,
		`gatewayd_requests_total{code="503",frontend="fastcgi",mount="/php"} 1`,
		`gatewayd_requests_total{code="0",frontend="fastcgi",mount="/php"} 1`,
		`gatewayd_program_stops_total{mount="/",reason="timeout"} 1`,
		`gatewayd_program_stops_total{mount="/",reason="crash"} 0`,
		`gatewayd_program_stops_total{mount="/php",reason="overload"} 1`,
		`gatewayd_program_stops_total{mount="/php",reason="abort"} 1`,
		`gatewayd_program_stops_total{mount="/php",reason="bad_response"} 0`,
		`gatewayd_request_duration_seconds_bucket{mount="/",le="0.005"} 1`,
		`gatewayd_request_duration_seconds_bucket{mount="/",le="0.05"} 2`,
		`gatewayd_request_duration_seconds_bucket{mount="/",le="2.5"} 3`,
		`gatewayd_request_duration_seconds_count{mount="/php"} 2`,
		"gatewayd_requests_in_flight 3",
		"gatewayd_programs_running 3",
		"gatewayd_programs_max 12",
		"gatewayd_queue_length 1",
		`gatewayd_workers{mount="/php",state="idle"} 3`,
		`gatewayd_workers{mount="/php",state="busy"} 1`,
		`gatewayd_workers{mount="/php",state="starting"} 0`,
		`gatewayd_worker_restarts_total{mount="/php"} 2`,
		"# TYPE gatewayd_requests_total counter",
		"# TYPE gatewayd_request_duration_seconds histogram",
		"go_goroutines ",
		"process_cpu_seconds_total ",
	} {
		// A whole line, or the start of one for the Go and process
		// collectors' metrics, whose values vary.
		if !strings.Contains("\n"+body, "\n"+want+"\n") && !(strings.HasSuffix(want, " ") && strings.Contains("\n"+body, "\n"+want)) {
			t.Errorf("/metrics lacks the line %q", want)
		}
	}
	if strings.Contains(body, `gatewayd_workers{mount="/"`) {
		t.Error("/metrics has workers for a CGI mount")
	}
}

// TestStatusPage: the JSON status page has the state, the limits and the
// per-mount counters; /healthz turns 503 when the daemon drains.
func TestStatusPage(t *testing.T) {
	var draining atomic.Bool
	m := ops.NewMetrics(fixedState(&draining))
	m.Observe(handler.Outcome{Mount: "/", Frontend: "fastcgi", Status: 200})
	m.Observe(handler.Outcome{Mount: "/", Frontend: "http", Status: 200})
	m.Observe(handler.Outcome{Mount: "/", Frontend: "http", Status: 500, Stop: handler.StopCrash})
	h := m.Handler(hclog.NewNullLogger())

	code, ctype, body := get(t, h, "/status")
	if code != 200 || ctype != "application/json" {
		t.Fatalf("/status: %d %s", code, ctype)
	}
	var st ops.Status
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("/status is not JSON: %v\n%s", err, body)
	}
	if st.State != "serving" || st.UptimeSeconds < 90 || st.Accepted != 7 || st.InFlight != 3 ||
		st.Running != 3 || st.MaxRunning != 12 || st.Queued != 1 || st.MaxQueue != 192 || len(st.Mounts) != 2 {
		t.Errorf("/status = %s", body)
	}
	root, php := st.Mounts[0], st.Mounts[1]
	if root.Prefix != "/" || root.Requests["200"] != 2 || root.Requests["500"] != 1 || root.Stops["crash"] != 1 ||
		root.Stops["timeout"] != 0 || len(root.Stops) != 5 || root.Workers != nil {
		t.Errorf("mount / = %+v", root)
	}
	if php.Workers == nil || php.Workers.Idle != 3 || len(php.Workers.Pids) != 4 || php.Workers.Restarts != 2 || len(php.Requests) != 0 {
		t.Errorf("mount /php = %+v, workers %+v", php, php.Workers)
	}

	if code, _, body := get(t, h, "/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz serving = %d %q", code, body)
	}
	draining.Store(true)
	if code, _, body := get(t, h, "/healthz"); code != 503 || body != "draining\n" {
		t.Errorf("/healthz draining = %d %q", code, body)
	}
	if _, _, body := get(t, h, "/status"); !strings.Contains(body, `"state": "draining"`) {
		t.Errorf("/status draining = %s", body)
	}
	if code, _, _ := get(t, h, "/nothing"); code != 404 {
		t.Errorf("/nothing = %d, want 404", code)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/status", nil))
	if rec.Code != 405 {
		t.Errorf("POST /status = %d, want 405", rec.Code)
	}
}
