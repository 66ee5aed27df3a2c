//go:build unix

package worker_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/fcgi"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"gatewayd/handler"
	"gatewayd/handler/worker"
)

// The test binary doubles as the FastCGI worker: run with
// GATEWAYD_TEST_FCGI set, it serves FastCGI on fd 0 (net/http/fcgi, as a
// Go FastCGI program does) in the way that mode says.
func TestMain(m *testing.M) {
	if mode := os.Getenv("GATEWAYD_TEST_FCGI"); mode != "" {
		fcgiMain(mode)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func fcgiMain(mode string) {
	switch mode {
	case "exit":
		fmt.Fprintln(os.Stderr, "cannot open /etc/app.conf")
		os.Exit(3)
	case "no-accept":
		time.Sleep(time.Minute)
		return
	case "ignore-abort":
		ignoreAbort()
		return
	}
	var served atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := served.Add(1)
		env := fcgi.ProcessEnv(r)
		w.Header().Set("X-Pid", strconv.Itoa(os.Getpid()))
		switch r.URL.Path {
		case "/echo":
			sum := sha256.New()
			k, _ := io.Copy(sum, r.Body)
			fmt.Fprintf(w, "%d %x", k, sum.Sum(nil))
		case "/sleep":
			time.Sleep(time.Minute)
		case "/crash":
			os.Exit(2)
		case "/crash-slow":
			time.Sleep(300 * time.Millisecond)
			os.Exit(2)
		case "/crash-after-header":
			fmt.Fprint(w, "partial")
			w.(http.Flusher).Flush()
			time.Sleep(50 * time.Millisecond)
			os.Exit(2)
		case "/stderr":
			fmt.Fprintln(os.Stderr, "PHP Warning:  something odd")
			time.Sleep(50 * time.Millisecond) // logged while the request runs
			fmt.Fprint(w, "ok")
		case "/greet":
			fmt.Fprintf(w, "hello %s", r.URL.Query().Get("name"))
		case "/slow":
			time.Sleep(20 * time.Millisecond)
			fmt.Fprint(w, "ok")
		default:
			fmt.Fprintf(w, "pid=%d served=%d script=%s x=%s", os.Getpid(), n, env["SCRIPT_FILENAME"], env["X_VAR"])
		}
	})
	if mode == "crash-on-request" {
		h = func(http.ResponseWriter, *http.Request) { os.Exit(4) }
	}
	if err := fcgi.Serve(nil, h); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// ignoreAbort serves FastCGI as php-cgi does in a long request: it answers
// FCGI_GET_VALUES, and to a request it sends a header and then nothing,
// whatever comes, FCGI_ABORT_REQUEST included.
func ignoreAbort() {
	l, err := net.FileListener(os.Stdin)
	if err != nil {
		os.Exit(1)
	}
	serveRecords(l, func(recType byte) []byte {
		switch recType {
		case 9: // GET_VALUES: answer with no values
			return []byte{1, 10, 0, 0, 0, 0, 0, 0}
		case 1: // BEGIN_REQUEST
			out := "Content-Type: text/plain\r\n\r\nworking"
			return append([]byte{1, 6, 0, 1, 0, byte(len(out)), 0, 0}, out...)
		}
		return nil
	})
	os.Exit(1)
}

// newPool starts a pool of the test binary in mode.
func newPool(t *testing.T, mode string, cfg worker.Config) (*worker.Pool, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	cfg.Command = []string{os.Args[0]}
	cfg.Env = map[string]string{"GATEWAYD_TEST_FCGI": mode, "PATH": os.Getenv("PATH")}
	if cfg.Name == "" {
		cfg.Name = "/app"
	}
	cfg.Logger = newLogger(logs)
	p, err := worker.NewPool(cfg)
	if err != nil {
		t.Fatalf("NewPool: %v", err)
	}
	t.Cleanup(func() {
		if err := p.Stop(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return p, logs
}

func TestPoolServes(t *testing.T) {
	p, _ := newPool(t, "serve", worker.Config{Processes: 2})
	h := pipeline(t, p, handler.Config{})
	rec, res := serve(t, h, "GET", "/hello", nil)
	if rec.status != 200 || !strings.Contains(rec.body.String(), "script=/srv/app/hello x=from-env") {
		t.Fatalf("GET: %d %q (%v)", rec.status, rec.body.String(), res.Err)
	}
	if res.Exit.Pid == 0 || !slices(p.Status().Pids, res.Exit.Pid) {
		t.Errorf("Exit.Pid = %d, not one of the workers %v", res.Exit.Pid, p.Status().Pids)
	}
	// A body larger than the socket buffers, echoed: it is sent while
	// the output is read.
	body := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
	rec, res = serve(t, h, "POST", "/echo", body)
	want := fmt.Sprintf("%d %x", len(body), sha256.Sum256(body))
	if rec.status != 200 || rec.body.String() != want {
		t.Fatalf("POST: %d %q, want %q (%v)", rec.status, rec.body.String(), want, res.Err)
	}
	// The same workers serve request after request.
	before := p.Status().Pids
	for range 20 {
		if rec, res := serve(t, h, "GET", "/hello", nil); rec.status != 200 {
			t.Fatalf("GET: %d (%v)", rec.status, res.Err)
		}
	}
	if after := p.Status().Pids; fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("workers changed from %v to %v without a reason", before, after)
	}
}

func slices(pids []int, pid int) bool {
	for _, p := range pids {
		if p == pid {
			return true
		}
	}
	return false
}

func TestPoolStartFails(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  worker.Config
		want []string
	}{
		{"no such command", worker.Config{Command: []string{"/nonexistent/php-cgi"}},
			[]string{"worker /php:", "/nonexistent/php-cgi", "no such file"}},
		{"exits at once", worker.Config{Command: []string{os.Args[0]}, Env: map[string]string{"GATEWAYD_TEST_FCGI": "exit"}},
			[]string{"worker /php:", "exited with status 3 before it answered FastCGI", "cannot open /etc/app.conf"}},
		{"never accepts", worker.Config{Command: []string{os.Args[0]}, Env: map[string]string{"GATEWAYD_TEST_FCGI": "no-accept"}, StartTimeout: 300 * time.Millisecond},
			[]string{"worker /php:", "did not answer FastCGI within 300ms"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Name, tc.cfg.Processes = "/php", 2
			start := time.Now()
			p, err := worker.NewPool(tc.cfg)
			if err == nil {
				p.Stop(context.Background())
				t.Fatal("NewPool succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if n := strings.Count(err.Error(), tc.want[len(tc.want)-1]); n != 1 {
				t.Errorf("error of 2 workers failing alike says it %d times: %q", n, err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("NewPool took %v to fail", d)
			}
		})
	}
}

// alive reports whether process pid exists.
func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

func waitFor(t *testing.T, what string, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestPoolTimeout(t *testing.T) {
	p, _ := newPool(t, "serve", worker.Config{Processes: 1, KillGrace: 200 * time.Millisecond})
	h := pipeline(t, p, handler.Config{Timeout: 300 * time.Millisecond})
	rec, res := serve(t, h, "GET", "/sleep", nil)
	if rec.status != 504 {
		t.Fatalf("status %d, want 504 (%v)", rec.status, res.Err)
	}
	// net/http/fcgi ends an aborted request at once: the worker stays.
	if rec, res := serve(t, h, "GET", "/hello", nil); rec.status != 200 {
		t.Fatalf("after the timeout: %d (%v)", rec.status, res.Err)
	}
}

func TestPoolStuckWorkerReplaced(t *testing.T) {
	p, logs := newPool(t, "ignore-abort", worker.Config{Processes: 1, KillGrace: 200 * time.Millisecond})
	h := pipeline(t, p, handler.Config{Timeout: 300 * time.Millisecond})
	old := p.Status().Pids
	rec, res := serve(t, h, "GET", "/", nil)
	if res.Err == nil {
		t.Fatalf("frozen worker: %d, no error: %+v %q\n%s", rec.status, res, rec.body.String(), logs)
	}
	waitFor(t, "frozen worker killed", 2*time.Second, func() bool { return !alive(old[0]) })
	waitFor(t, "a new worker", 2*time.Second, func() bool { st := p.Status(); return len(st.Pids) == 1 && st.Pids[0] != old[0] })
	if !strings.Contains(logs.String(), "did not end an aborted request; killed") {
		t.Errorf("no log line for the kill:\n%s", logs)
	}
}

func TestPoolCrash(t *testing.T) {
	p, logs := newPool(t, "serve", worker.Config{Processes: 1})
	h := pipeline(t, p, handler.Config{})
	old := p.Status().Pids
	rec, res := serve(t, h, "GET", "/crash", nil)
	if rec.status != 500 {
		t.Fatalf("crash before the header: %d, want 500 (%v)", rec.status, res.Err)
	}
	if res.Exit.Code != -1 || res.Exit.Pid != old[0] {
		t.Errorf("Exit of a worker that died mid-request: %+v, want its pid and code -1 (no END_REQUEST)", res.Exit)
	}
	rec, res = serve(t, h, "GET", "/crash-after-header", nil)
	if !res.Aborted {
		t.Errorf("crash after the header: %d %q, not aborted (%v)", rec.status, rec.body.String(), res.Err)
	}
	waitFor(t, "a new worker", 2*time.Second, func() bool { st := p.Status(); return len(st.Pids) == 1 && st.Pids[0] != old[0] })
	if rec, res := serve(t, h, "GET", "/hello", nil); rec.status != 200 {
		t.Fatalf("after the crash: %d (%v)", rec.status, res.Err)
	}
	if got := p.Status().Restarts; got != 2 {
		t.Errorf("Restarts = %d, want 2", got)
	}
	if !strings.Contains(logs.String(), "exited with status 2") {
		t.Errorf("no log line for the crash:\n%s", logs)
	}
}

func TestPoolKilledUnderLoad(t *testing.T) {
	p, logs := newPool(t, "serve", worker.Config{Processes: 4})
	h := pipeline(t, p, handler.Config{})
	var ok, failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if rec, _ := serve(t, h, "GET", "/slow", nil); rec.status == 200 {
					ok.Add(1)
				} else {
					failed.Add(1)
				}
			}
		})
	}
	time.Sleep(200 * time.Millisecond)
	victim := p.Status().Pids[0]
	syscall.Kill(victim, syscall.SIGKILL)
	// A second for php-cgi (see the integration tests); the race
	// detector's test binary starts slower.
	waitFor(t, "the pool full again", 5*time.Second, func() bool {
		st := p.Status()
		return len(st.Pids) == 4 && !slices(st.Pids, victim)
	})
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	if !strings.Contains(logs.String(), fmt.Sprintf("pid=%d status=\"killed by signal 9 (killed)\"", victim)) {
		t.Errorf("no log line names the kill of %d:\n%s", victim, logs)
	}
	if failed.Load() > 1 {
		t.Errorf("%d requests failed (of %d); only the one the killed worker held may", failed.Load(), ok.Load()+failed.Load())
	}
}

func TestPoolMaxRequests(t *testing.T) {
	p, _ := newPool(t, "serve", worker.Config{Processes: 2, MaxRequests: 3})
	h := pipeline(t, p, handler.Config{})
	served := map[string]int{}
	for i := range 20 {
		rec, res := serve(t, h, "GET", "/hello", nil)
		if rec.status != 200 {
			t.Fatalf("request %d: %d (%v)", i, rec.status, res.Err)
		}
		pid, _ := rec.header.Get("X-Pid")
		served[pid]++
	}
	if len(served) < 7 {
		t.Errorf("20 requests on workers recycled after 3 ran on %d workers: %v", len(served), served)
	}
	for pid, n := range served {
		if n > 3 {
			t.Errorf("worker %s served %d requests, over max_requests 3", pid, n)
		}
	}
}

func TestPoolRapidFail(t *testing.T) {
	p, logs := newPool(t, "crash-on-request", worker.Config{Processes: 1, RapidFails: 3})
	h := pipeline(t, p, handler.Config{})
	for i := range 3 {
		if rec, _ := serve(t, h, "GET", "/", nil); rec.status != 500 {
			t.Fatalf("request %d on a crashing worker: %d, want 500", i, rec.status)
		}
		if i < 2 {
			waitFor(t, "a new worker", 2*time.Second, func() bool { return p.Status().Idle == 1 })
		}
	}
	waitFor(t, "rapid-fail protection", 2*time.Second, func() bool { return p.Status().Failing != "" })
	start := time.Now()
	rec, res := serve(t, h, "GET", "/", nil)
	if rec.status != 503 || time.Since(start) > time.Second {
		t.Fatalf("request under rapid-fail protection: %d after %v, want 503 at once (%v)", rec.status, time.Since(start), res.Err)
	}
	if !strings.Contains(res.Err.Error(), "3 worker failures within 1m0s") {
		t.Errorf("reason %q does not say why", res.Err)
	}
	if !strings.Contains(logs.String(), "rapid-fail protection") {
		t.Errorf("no log line:\n%s", logs)
	}
}

// TestPoolRapidFailWakesQueue: a request already waiting for a worker when
// rapid-fail protection begins gets its 503 then, not at the end of its
// queue timeout.
func TestPoolRapidFailWakesQueue(t *testing.T) {
	p, _ := newPool(t, "serve", worker.Config{Processes: 1, RapidFails: 3, QueueTimeout: 5 * time.Second})
	h := pipeline(t, p, handler.Config{})
	for range 2 {
		serve(t, h, "GET", "/crash", nil)
		waitFor(t, "a new worker", 2*time.Second, func() bool { return p.Status().Idle == 1 })
	}
	crashed := make(chan time.Time, 1)
	go func() {
		serve(t, h, "GET", "/crash-slow", nil)
		crashed <- time.Now()
	}()
	time.Sleep(100 * time.Millisecond)
	rec, res := serve(t, h, "GET", "/hello", nil)
	at := time.Now()
	if rec.status != 503 {
		t.Fatalf("queued request: %d, want 503 (%v)", rec.status, res.Err)
	}
	if d := at.Sub(<-crashed); d > time.Second {
		t.Errorf("queued request answered %v after the crash that began rapid-fail protection", d)
	}
}

func TestPoolStopLeavesNothing(t *testing.T) {
	cfg := worker.Config{Command: []string{os.Args[0]}, Env: map[string]string{"GATEWAYD_TEST_FCGI": "serve"}, Processes: 3, KillGrace: 500 * time.Millisecond}
	p, err := worker.NewPool(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := pipeline(t, p, handler.Config{})
	if rec, res := serve(t, h, "GET", "/hello", nil); rec.status != 200 {
		t.Fatalf("GET: %d (%v)", rec.status, res.Err)
	}
	pids := p.Status().Pids
	if len(pids) != 3 {
		t.Fatalf("pids %v, want 3", pids)
	}
	// Stop twice at once, as a drain cut short and a deployment's close
	// may: both return once every worker is gone.
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if err := p.Stop(context.Background()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("worker %d still running after Stop", pid)
		}
	}
	if rec, _ := serve(t, h, "GET", "/hello", nil); rec.status != 503 {
		t.Errorf("after Stop: %d, want 503", rec.status)
	}
}

func TestPoolStatus(t *testing.T) {
	p, _ := newPool(t, "serve", worker.Config{Processes: 3})
	st := p.Status()
	if st.Starting != 0 || st.Idle != 3 || st.Busy != 0 || st.Stopping != 0 || len(st.Pids) != 3 {
		t.Errorf("Status of 3 idle workers: %+v", st)
	}
}

func TestPoolMaxRSS(t *testing.T) {
	p, logs := newPool(t, "serve", worker.Config{Processes: 1, MaxRSS: 1 << 20})
	h := pipeline(t, p, handler.Config{})
	pids := map[string]bool{}
	for i := range 3 {
		rec, res := serve(t, h, "GET", "/hello", nil)
		if rec.status != 200 {
			t.Fatalf("request %d: %d (%v)", i, rec.status, res.Err)
		}
		pid, _ := rec.header.Get("X-Pid")
		pids[pid] = true
	}
	if len(pids) != 3 {
		t.Errorf("3 requests on a worker always over max_rss ran on %d workers", len(pids))
	}
	if !strings.Contains(logs.String(), "worker recycled: resident memory over max_rss") {
		t.Errorf("no log line for the recycling:\n%s", logs)
	}
}

func TestPoolWorkerOutputLogged(t *testing.T) {
	p, logs := newPool(t, "serve", worker.Config{Processes: 1})
	h := pipeline(t, p, handler.Config{})
	req := &handler.Request{ID: "req-42", Env: map[string]string{
		"REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "PATH_INFO": "/stderr", "REQUEST_URI": "/stderr",
		"SERVER_PROTOCOL": "HTTP/1.1", "SERVER_NAME": "test", "SERVER_PORT": "80",
	}}
	rec := &recorder{}
	if res := h.Serve(context.Background(), req, rec); rec.status != 200 {
		t.Fatalf("%d (%v)", rec.status, res.Err)
	}
	pid := p.Status().Pids[0]
	want := fmt.Sprintf("worker output: PHP Warning:  something odd: pid=%d worker=/app request_id=req-42", pid)
	for deadline := time.Now().Add(2 * time.Second); !strings.Contains(logs.String(), want) && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, logs)
	}
}
