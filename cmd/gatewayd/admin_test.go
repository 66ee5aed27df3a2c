//go:build unix

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gatewayd/cmd/gatewayd/internal/ops"
)

var adminURLRE = regexp.MustCompile(`serving metrics, status and health.*url"?[=:]"?(http://[^ "]+)/metrics`)

// adminURL waits for the daemon to log its admin listener's URL.
func (d *gatewayProc) adminURL(t *testing.T) string {
	t.Helper()
	d.waitLog(t, "serving metrics, status and health")
	m := adminURLRE.FindStringSubmatch(d.log())
	if m == nil {
		t.Fatalf("no admin URL in the log:\n%s", d.log())
	}
	return m[1]
}

// scrape GETs an admin endpoint within a deadline far below any program's
// run time here, and returns its status, its body and how long it took.
func scrape(t *testing.T, url string) (int, string, time.Duration) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	begin := time.Now()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, string(b), time.Since(begin)
}

func status(t *testing.T, admin string) ops.Status {
	t.Helper()
	_, body, _ := scrape(t, admin+"/status")
	var st ops.Status
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("/status: %v\n%s", err, body)
	}
	return st
}

// hasMetrics checks that the scrape has each line of want.
func hasMetrics(t *testing.T, body string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains("\n"+body, "\n"+w+"\n") {
			t.Errorf("/metrics lacks the line %q", w)
		}
	}
}

// waitNotify waits for a notify message that matches re, skipping others.
func waitNotify(t *testing.T, msgs <-chan string, re string) string {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case m := <-msgs:
			if regexp.MustCompile("(?m)^" + re + "$").MatchString(m) {
				return m
			}
		case <-deadline:
			t.Fatalf("no notify message matching %q", re)
			return ""
		}
	}
}

// TestAdmin: with every program slot busy and the queue full, the admin
// listener still answers, and says so; its counts are those of the
// requests made, by status and by why programs stopped; the unit's status
// line carries the counts; /healthz turns 503 once the drain begins.
func TestAdmin(t *testing.T) {
	root := t.TempDir()
	writeScript(t, root, "ok.cgi", `printf 'Content-Type: text/plain\r\n\r\nok'`)
	writeScript(t, root, "slow.cgi", `printf 'Content-Type: text/plain\r\n\r\n'; sleep 3; printf slow`)
	writeScript(t, root, "crash.cgi", `kill -SEGV $$`)
	writeScript(t, root, "bad.cgi", `echo this is not a CGI response`)
	writeScript(t, root, "hang.cgi", `sleep 30`)
	sock, msgs := notifySocket(t)
	cmd := exec.Command(binary, "serve", "--http", "127.0.0.1:0", "--root", root, "--admin", "127.0.0.1:0",
		"--max-children", "2", "--max-queue", "2", "--queue-timeout", "20s", "--header-timeout", "1s")
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock)
	d := start(t, cmd)
	admin := d.adminURL(t)
	waitNotify(t, msgs, "READY=1")

	for _, r := range []struct {
		path string
		code int
	}{{"/ok.cgi", 200}, {"/ok.cgi", 200}, {"/ok.cgi", 200}, {"/missing.cgi", 404},
		{"/crash.cgi", 500}, {"/bad.cgi", 500}, {"/hang.cgi", 504}} {
		if resp, _ := get(t, d.url+r.path); resp.StatusCode != r.code {
			t.Errorf("GET %s = %d, want %d", r.path, resp.StatusCode, r.code)
		}
	}

	// Two slow requests take both slots, two more fill the queue.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var slow []int
	for range 4 {
		wg.Go(func() {
			client := &http.Client{Timeout: 30 * time.Second}
			code := 0
			if resp, err := client.Get(d.url + "/slow.cgi"); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				code = resp.StatusCode
			}
			mu.Lock()
			slow = append(slow, code)
			mu.Unlock()
		})
	}
	deadline := time.Now().Add(10 * time.Second)
	for st := status(t, admin); st.Running != 2 || st.Queued != 2; st = status(t, admin) {
		if time.Now().After(deadline) {
			t.Fatalf("slots and queue never filled: %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if resp, _ := get(t, d.url+"/ok.cgi"); resp.StatusCode != 503 {
		t.Errorf("a request beyond the full queue got %d, want 503", resp.StatusCode)
	}
	for _, path := range []string{"/metrics", "/status", "/healthz"} {
		code, body, took := scrape(t, admin+path)
		t.Logf("GET %s with every slot busy and the queue full: %d in %v", path, code, took)
		if code != 200 {
			t.Errorf("GET %s = %d\n%s", path, code, body)
		}
		if path == "/metrics" {
			hasMetrics(t, body, "gatewayd_programs_running 2", "gatewayd_programs_max 2", "gatewayd_queue_length 2",
				"gatewayd_requests_in_flight 4")
		}
	}
	mu.Lock()
	answered := len(slow)
	mu.Unlock()
	if answered != 0 {
		t.Errorf("%d slow requests were answered before the admin listener was: it was not tested while busy", answered)
	}
	waitNotify(t, msgs, `STATUS=serving scripts under .* on 1 listeners: 4 in flight, 2 queued`)
	wg.Wait()
	if fmt.Sprint(slow) != "[200 200 200 200]" {
		t.Errorf("slow requests = %v, want four 200s", slow)
	}
	waitNotify(t, msgs, `STATUS=serving scripts under .* on 1 listeners`)

	_, body, _ := scrape(t, admin+"/metrics")
	hasMetrics(t, body,
		`gatewayd_requests_total{code="200",frontend="http",mount="/"} 7`,
		`gatewayd_requests_total{code="404",frontend="http",mount="/"} 1`,
		`gatewayd_requests_total{code="500",frontend="http",mount="/"} 2`,
		`gatewayd_requests_total{code="503",frontend="http",mount="/"} 1`,
		`gatewayd_requests_total{code="504",frontend="http",mount="/"} 1`,
		`gatewayd_program_stops_total{mount="/",reason="crash"} 1`,
		`gatewayd_program_stops_total{mount="/",reason="bad_response"} 1`,
		`gatewayd_program_stops_total{mount="/",reason="timeout"} 1`,
		`gatewayd_program_stops_total{mount="/",reason="overload"} 1`,
		`gatewayd_program_stops_total{mount="/",reason="abort"} 0`,
		`gatewayd_request_duration_seconds_count{mount="/"} 12`,
		"gatewayd_programs_running 0", "gatewayd_queue_length 0", "gatewayd_requests_in_flight 0",
	)
	st := status(t, admin)
	if st.State != "serving" || st.Accepted != 12 || st.InFlight != 0 || st.MaxRunning != 2 || st.MaxQueue != 2 ||
		len(st.Mounts) != 1 || st.Mounts[0].Requests["200"] != 7 || st.Mounts[0].Stops["timeout"] != 1 {
		t.Errorf("/status = %+v", st)
	}

	// The drain: /healthz says so while a request finishes.
	done := make(chan int, 1)
	go func() {
		resp, err := http.Get(d.url + "/slow.cgi")
		if err != nil {
			done <- 0
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	for status(t, admin).InFlight != 1 {
		time.Sleep(10 * time.Millisecond)
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	deadline = time.Now().Add(5 * time.Second)
	for {
		code, body, _ := scrape(t, admin+"/healthz")
		if code == 503 && body == "draining\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/healthz while draining = %d %q", code, body)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st := status(t, admin); st.State != "draining" {
		t.Errorf("/status while draining: state %q", st.State)
	}
	if code := <-done; code != 200 {
		t.Errorf("the request in flight at SIGTERM got %d, want 200", code)
	}
	if err := d.wait(t); err != nil {
		t.Errorf("gatewayd: %v\n%s", err, d.log())
	}
}

// TestWatchdog: under WatchdogSec= (WATCHDOG_USEC), gatewayd sends
// WATCHDOG=1 at half the interval once it serves, the admin listener's
// answer being part of the check.
func TestWatchdog(t *testing.T) {
	sock, msgs := notifySocket(t)
	cmd := exec.Command(binary, "serve", "--http", "127.0.0.1:0", "--admin", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock, "WATCHDOG_USEC=400000")
	d := start(t, cmd)
	waitNotify(t, msgs, "READY=1")
	for range 3 {
		waitNotify(t, msgs, "WATCHDOG=1")
	}
	if err := d.stop(t); err != nil {
		t.Errorf("gatewayd: %v\n%s", err, d.log())
	}
	if strings.Contains(d.log(), "self-check failed") {
		t.Errorf("the self-check failed:\n%s", d.log())
	}
}

// TestAdminReload: a reload that moves the admin listener opens the new
// one and closes the old; one with a bad admin ADDR changes nothing.
func TestAdminReload(t *testing.T) {
	dir := t.TempDir()
	conf := dir + "/gatewayd.hcl"
	write := func(admin string) {
		os.WriteFile(conf, []byte(fmt.Sprintf("listen \"http\" {\n  address = \"127.0.0.1:0\"\n}\nadmin {\n  address = %q\n}\nmount \"/\" {\n  root = %q\n}\n", admin, dir)), 0o644)
	}
	write("unix:" + dir + "/admin.sock")
	d := start(t, exec.Command(binary, "serve", "--config", conf))
	d.waitLog(t, "serving metrics, status and health")
	unixGet := func(path string) (int, error) {
		client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", path)
			},
		}}
		resp, err := client.Get("http://admin/healthz")
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	if code, err := unixGet(dir + "/admin.sock"); code != 200 {
		t.Fatalf("/healthz on the unix admin socket: %d %v", code, err)
	}

	write("localhost")
	d.reload()
	d.waitLog(t, "configuration not reloaded")
	if code, err := unixGet(dir + "/admin.sock"); code != 200 {
		t.Errorf("after a bad reload, /healthz on the old admin socket: %d %v", code, err)
	}

	write("127.0.0.1:0")
	d.reload()
	d.waitLog(t, "admin listener closed by reload")
	if _, err := unixGet(dir + "/admin.sock"); err == nil {
		t.Error("the old admin socket still answers after the reload")
	}
	m := regexp.MustCompile(`serving metrics, status and health.*url=(http://127\.0\.0\.1:\d+)/metrics`).FindStringSubmatch(d.log())
	if m == nil {
		t.Fatalf("no TCP admin listener after the reload:\n%s", d.log())
	}
	if code, _, _ := scrape(t, m[1]+"/healthz"); code != 200 {
		t.Errorf("/healthz on the new admin listener: %d", code)
	}
	if err := d.stop(t); err != nil {
		t.Errorf("gatewayd: %v\n%s", err, d.log())
	}
	if _, err := os.Stat(dir + "/admin.sock"); !os.IsNotExist(err) {
		t.Errorf("the old admin socket file is left: %v", err)
	}
}

// TestREADMEAdmin runs the README's admin listener blocks: the serve line
// as written, then each curl, its output filtered by grep as the shell
// would, against the lines below it.
func TestREADMEAdmin(t *testing.T) {
	sh, console := readmeBlocks(t, "## Metrics, status and health")
	serveLine, ok := strings.CutPrefix(strings.TrimSpace(sh), "go run ./cmd/gatewayd ")
	if !ok {
		t.Fatalf("README's metrics block does not run go run ./cmd/gatewayd: %q", sh)
	}
	dir := t.TempDir()
	os.Mkdir(dir+"/cgi-bin", 0o755)
	cmd := exec.Command(binary, strings.Fields(serveLine)...)
	cmd.Dir = dir
	d := start(t, cmd)
	d.adminURL(t)

	curls := regexp.MustCompile(`(?m)^\$ curl (?:-s )?(\S+)(?: \| grep '([^']*)')?\n((?:[^$].*\n)+)`).FindAllStringSubmatch(console, -1)
	if len(curls) != 3 {
		t.Fatalf("README's console block has %d curl lines, want 3: %q", len(curls), console)
	}
	for _, m := range curls {
		_, body, _ := scrape(t, m[1])
		if m[2] != "" {
			re := regexp.MustCompile(m[2])
			var kept []string
			for _, l := range strings.SplitAfter(body, "\n") {
				if re.MatchString(strings.TrimSuffix(l, "\n")) {
					kept = append(kept, l)
				}
			}
			body = strings.Join(kept, "")
		}
		if body != m[3] {
			t.Errorf("curl %s | grep %q printed %q, README says %q", m[1], m[2], body, m[3])
		}
	}
}
