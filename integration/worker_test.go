//go:build unix

package integration

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The persistent-worker tests: nginx → gatewayd (FastCGI on a unix socket)
// → php-cgi workers gatewayd runs, or php-fpm it forwards to, with the
// scripts of testdata/php.

// phpLocation is the nginx location of configs/php-workers.hcl and the
// README, with gatewayd's socket for %s.
const phpLocation = `location ~ \.php$ {
	fastcgi_pass unix:%s;
	include /etc/nginx/fastcgi_params;
	fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
}
`

// requirePHPCGI returns the path of php-cgi.
func requirePHPCGI(tb testing.TB) string {
	tb.Helper()
	return requirePeer(tb, "php-cgi", "/usr/bin/php-cgi")
}

// requirePHPFPM returns the path of php-fpm, which Debian installs under a
// versioned name only (php-fpm8.2).
func requirePHPFPM(tb testing.TB) string {
	tb.Helper()
	found, _ := filepath.Glob("/usr/sbin/php-fpm*")
	slices.Sort(found)
	slices.Reverse(found) // the newest version first
	return requirePeer(tb, append([]string{"php-fpm"}, found...)...)
}

// phpScripts copies testdata/php into dir/www and returns its path. Each
// of aliases becomes a symlink to www itself, so that a mount's prefix
// (/legacy/pid.php) names the same scripts under nginx's document root.
func phpScripts(tb testing.TB, dir string, aliases ...string) string {
	tb.Helper()
	www := filepath.Join(dir, "www")
	if err := os.MkdirAll(www, 0o755); err != nil {
		tb.Fatal(err)
	}
	src, err := filepath.Glob(filepath.Join("testdata", "php", "*.php"))
	if err != nil || len(src) == 0 {
		tb.Fatalf("no scripts in testdata/php: %v", err)
	}
	for _, s := range src {
		b, err := os.ReadFile(s)
		if err != nil {
			tb.Fatal(err)
		}
		// Not executable: workers read their scripts.
		if err := os.WriteFile(filepath.Join(www, filepath.Base(s)), b, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	for _, a := range aliases {
		if err := os.Symlink(".", filepath.Join(www, a)); err != nil {
			tb.Fatal(err)
		}
	}
	return www
}

// phpWorkersConfig writes configs/php-workers.hcl into dir with what must
// differ on a test machine replaced: the socket nginx talks to, the
// scripts' root, php-fpm's socket and php-cgi's path. Each must still be
// in the file.
func phpWorkersConfig(tb testing.TB, dir, sock, www, fpmSock, phpCGI string) string {
	tb.Helper()
	replace := []string{
		`"unix:/run/gatewayd/php.sock"`, `"unix:` + sock + `"`,
		`"/var/www/html"`, `"` + www + `"`,
		`"unix:/run/php/php8.2-fpm.sock"`, `"unix:` + fpmSock + `"`,
		`"/usr/bin/php-cgi"`, `"` + phpCGI + `"`,
	}
	shipped, err := os.ReadFile(filepath.Join(configsDir(tb), "php-workers.hcl"))
	if err != nil {
		tb.Fatal(err)
	}
	for i := 0; i < len(replace); i += 2 {
		if !strings.Contains(string(shipped), replace[i]) {
			tb.Fatalf("configs/php-workers.hcl no longer holds %s, which the tests replace with %s", replace[i], replace[i+1])
		}
	}
	return configSnippet(tb, dir, "php-workers.hcl", replace...)
}

// startPHPNginx runs nginx with www as its document root and location as
// its server's location block, and returns its base URL.
func startPHPNginx(tb testing.TB, www, location string) string {
	tb.Helper()
	port, _ := startNginx(tb, "", "root "+www+";\n"+location)
	return fmt.Sprintf("http://127.0.0.1:%d", port)
}

// fpmConf is a php-fpm configuration with one static pool of 4 on a unix
// socket, in the foreground, logging to its stderr.
const fpmConf = `[global]
error_log = /proc/self/fd/2
daemonize = no
[www]
listen = {{.Sock}}
pm = static
pm.max_children = 4
catch_workers_output = yes
decorate_workers_output = no
`

// startFPM runs php-fpm on dir/fpm.sock until the test ends.
func startFPM(tb testing.TB, fpm, dir string) (*process, string) {
	tb.Helper()
	sock := filepath.Join(dir, "fpm.sock")
	conf := writeTemplate(tb, dir, "php-fpm.conf", fpmConf, map[string]any{"Sock": sock})
	args := []string{"-F", "-y", conf}
	if runningAsRoot() {
		args = append([]string{"-R"}, args...)
	}
	p := startProcess(tb, "php-fpm", exec.Command(fpm, args...))
	waitPort(tb, "unix", sock, p)
	return p, sock
}

// phpWorkers returns the live php-cgi children of gatewayd's process pid,
// from /proc: its threads' children whose comm is php-cgi and who are not
// zombies.
func phpWorkers(tb testing.TB, pid int) []int {
	tb.Helper()
	lists, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	if err != nil || len(lists) == 0 {
		tb.Fatalf("no /proc/%d/task/*/children: %v", pid, err)
	}
	var pids []int
	for _, l := range lists {
		b, _ := os.ReadFile(l)
		for _, f := range strings.Fields(string(b)) {
			child, err := strconv.Atoi(f)
			if err != nil {
				continue
			}
			comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", child))
			if strings.HasPrefix(strings.TrimSpace(string(comm)), "php-cgi") && processAlive(child) {
				pids = append(pids, child)
			}
		}
	}
	slices.Sort(pids)
	return slices.Compact(pids)
}

var pidLine = regexp.MustCompile(`^pid=(\d+) q=(.*)\n$`)

// phpClient does not follow redirects and keeps enough idle connections
// for the concurrent tests.
func phpClient() *http.Client {
	return &http.Client{
		Transport:     &http.Transport{MaxIdleConnsPerHost: 64},
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// getPID GETs url, a pid.php, with the query parameter q and returns the
// pid that served it; an error for any other status or body.
func getPID(c *http.Client, url, q string) (int, error) {
	resp, err := c.Get(url + "?q=" + q)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	m := pidLine.FindStringSubmatch(string(b))
	if resp.StatusCode != 200 || m == nil || m[2] != q {
		return 0, fmt.Errorf("GET %s?q=%s = %d %q", url, q, resp.StatusCode, b)
	}
	return strconv.Atoi(m[1])
}

// post sends body to url and returns the response and its whole body.
func post(t *testing.T, c *http.Client, url string, body []byte) (*http.Response, []byte) {
	t.Helper()
	resp, err := c.Post(url, "application/octet-stream", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// checkEcho posts 1 MiB to echo.php at url and checks that PHP read it
// all (its X-Sha256) and that it all came back.
func checkEcho(t *testing.T, c *http.Client, url string) {
	t.Helper()
	body := make([]byte, 1<<20)
	io.ReadFull(&pattern{}, body)
	sum := sha256.Sum256(body)
	want := hex.EncodeToString(sum[:])
	resp, got := post(t, c, url, body)
	gotSum := sha256.Sum256(got)
	if resp.StatusCode != 200 || resp.Header.Get("X-Sha256") != want || hex.EncodeToString(gotSum[:]) != want {
		t.Errorf("POST %d bytes to %s = %d, X-Sha256 %q, %d bytes back with sha256 %x; want 200 and %s both ways",
			len(body), url, resp.StatusCode, resp.Header.Get("X-Sha256"), len(got), gotSum, want)
	}
}

// TestPHPWorkers serves configs/php-workers.hcl, with only its paths
// replaced, behind nginx: php-cgi workers for "/" and php-fpm for
// "/legacy", with real HTTP clients.
func TestPHPWorkers(t *testing.T) {
	phpCGI := requirePHPCGI(t)
	fpm := requirePHPFPM(t)
	dir := t.TempDir()
	www := phpScripts(t, dir, "legacy")
	fpmProc, fpmSock := startFPM(t, fpm, dir)
	sock := filepath.Join(dir, "php.sock")
	conf := phpWorkersConfig(t, dir, sock, www, fpmSock, phpCGI)

	t.Run("config check", func(t *testing.T) {
		out, err := exec.Command(gatewayd, "config", "check", conf).CombinedOutput()
		if err != nil || string(out) != conf+": configuration ok\n" {
			t.Errorf("gatewayd config check %s = %v %q, want status 0 and %q", conf, err, out, conf+": configuration ok\n")
		}
	})

	gw, _ := startGatewayd(t, "serve", "--config", conf)
	gwPid := gw.cmd.Process.Pid
	base := startPHPNginx(t, www, fmt.Sprintf(phpLocation, sock))
	c := phpClient()
	const processes = 4 // the file's
	workers := phpWorkers(t, gwPid)
	if len(workers) != processes {
		t.Fatalf("gatewayd has php-cgi children %v, want %d:\n%s", workers, processes, gw.output())
	}

	t.Run("GET", func(t *testing.T) {
		seen := map[int]bool{}
		for i := range 2 * processes {
			pid, err := getPID(c, base+"/pid.php", fmt.Sprintf("get-%d", i))
			if err != nil {
				t.Fatalf("%v\ngatewayd's log:\n%s", err, gw.output())
			}
			if !slices.Contains(workers, pid) {
				t.Errorf("pid.php ran in pid %d, not one of gatewayd's workers %v", pid, workers)
			}
			seen[pid] = true
		}
		if len(seen) < 2 {
			t.Errorf("%d requests in a row were all served by %v, want them spread over the idle workers", 2*processes, seen)
		}
	})

	t.Run("POST 1MiB", func(t *testing.T) { checkEcho(t, c, base+"/echo.php") })

	t.Run("redirect", func(t *testing.T) {
		resp, err := c.Get(base + "/redirect.php")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/other.php" {
			t.Errorf("GET /redirect.php = %d, Location %q; want 302 and /other.php", resp.StatusCode, resp.Header.Get("Location"))
		}
	})

	t.Run("exit mid-output", func(t *testing.T) {
		resp, err := c.Get(base + "/exit.php")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		m := regexp.MustCompile(`^before pid=(\d+)\n$`).FindSubmatch(b)
		if resp.StatusCode != 200 || m == nil {
			t.Fatalf("GET /exit.php = %d %q, want 200 and the output before exit() alone", resp.StatusCode, b)
		}
		pid, _ := strconv.Atoi(string(m[1]))
		// The same worker serves on: each idle worker gets a request in
		// turn, so it comes back within a few.
		for i := range 4 * processes {
			got, err := getPID(c, base+"/pid.php", fmt.Sprintf("after-exit-%d", i))
			if err != nil {
				t.Fatal(err)
			}
			if got == pid {
				if w := phpWorkers(t, gwPid); !slices.Equal(w, workers) {
					t.Errorf("workers after exit() = %v, want the same %v", w, workers)
				}
				return
			}
		}
		t.Errorf("worker %d, which ran exit(), served none of the %d requests after it (alive: %v)", pid, 4*processes, processAlive(pid))
	})

	t.Run("50 concurrent clients", func(t *testing.T) {
		const clients, each = 50, 20
		var wg sync.WaitGroup
		var failed atomic.Int64
		errc := make(chan error, clients)
		for g := range clients {
			wg.Go(func() {
				for i := range each {
					if _, err := getPID(c, base+"/pid.php", fmt.Sprintf("c%d-%d", g, i)); err != nil {
						failed.Add(1)
						select {
						case errc <- err:
						default:
						}
					}
				}
			})
		}
		wg.Wait()
		close(errc)
		if n := failed.Load(); n > 0 {
			t.Errorf("%d of %d requests failed; first: %v\ngatewayd's log:\n%s", n, clients*each, <-errc, tail(gw.output(), 30))
		}
	})

	killedPid := 0 // the worker kill -9 under load killed
	t.Run("kill -9 under load", func(t *testing.T) {
		var (
			wg             sync.WaitGroup
			done, failures atomic.Int64
			mu             sync.Mutex
			errs           []error
		)
		end := time.Now().Add(3 * time.Second)
		for g := range 8 {
			wg.Go(func() {
				for i := 0; i < 100000 && time.Now().Before(end); i++ {
					if _, err := getPID(c, base+"/pid.php", fmt.Sprintf("k%d-%d", g, i)); err != nil {
						failures.Add(1)
						mu.Lock()
						errs = append(errs, err)
						mu.Unlock()
					}
					done.Add(1)
				}
			})
		}
		defer wg.Wait() // no client outlives the test, whatever happens
		time.Sleep(1500 * time.Millisecond)
		// One of the workers now: max_requests may have recycled some
		// since the test began. The one that served the fewest requests,
		// as the access log counts them, is the furthest from its own
		// recycling, which would make the kill no crash.
		live := phpWorkers(t, gwPid)
		if len(live) == 0 {
			t.Fatalf("gatewayd has no php-cgi worker under load:\n%s", tail(gw.output(), 30))
		}
		log := gw.output()
		served := func(pid int) int { return strings.Count(log, fmt.Sprintf(" pid=%d ", pid)) }
		victim := slices.MinFunc(live, func(a, b int) int { return served(a) - served(b) })
		if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
			t.Fatalf("kill -9 %d: %v", victim, err)
		}
		killed := time.Now()
		var now []int
		for i := 0; i < 1000 && time.Since(killed) < 3*time.Second; i++ {
			now = phpWorkers(t, gwPid)
			if len(now) == processes && !slices.Contains(now, victim) {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		back := time.Since(killed)
		wg.Wait()
		if len(now) != processes || slices.Contains(now, victim) {
			t.Errorf("3s after kill -9 of worker %d gatewayd has workers %v, want %d others:\n%s", victim, now, processes, tail(gw.output(), 30))
		} else if back > time.Second {
			t.Errorf("the pool took %v to have %d workers again after kill -9 of %d, want ≤ 1s", back, processes, victim)
		}
		if failures.Load() > 1 {
			t.Errorf("%d of %d requests failed, want at most the one worker %d held: %v\ngatewayd's log:\n%s",
				failures.Load(), done.Load(), victim, errs, tail(gw.output(), 30))
		}
		killedPid = victim
		t.Logf("%d requests, %d failed (%v); %d workers again %v after the kill", done.Load(), failures.Load(), errs, processes, back.Round(time.Millisecond))
	})

	// One line says that the worker ended, and how: a crash's status is
	// also the reason rapid-fail protection gives.
	t.Run("kill -9 logged", func(t *testing.T) {
		if killedPid == 0 {
			t.Skip("no worker was killed")
		}
		exited := regexp.MustCompile(fmt.Sprintf(`worker exited; starting another: worker=/ pid=%d status="?([^"=]*)"? `, killedPid))
		var m []string
		if !eventually(func() bool { m = exited.FindStringSubmatch(gw.output()); return m != nil }) {
			t.Fatalf("gatewayd's log has no line on worker %d's end:\n%s", killedPid, tail(gw.output(), 30))
		}
		if n := len(exited.FindAllString(gw.output(), -1)); n != 1 {
			t.Errorf("gatewayd logged the end of worker %d %d times, want once", killedPid, n)
		}
		if !strings.Contains(m[1], "SIGKILL") && !strings.Contains(m[1], "signal 9") {
			t.Errorf("gatewayd logs the end of worker %d as status %q, want it to name the signal (SIGKILL):\n%s", killedPid, m[1], m[0])
		}
	})

	t.Run("php-fpm GET", func(t *testing.T) {
		pid, err := getPID(c, base+"/legacy/pid.php", "fpm")
		if err != nil {
			t.Fatalf("%v\ngatewayd's log:\n%s\nphp-fpm's log:\n%s", err, tail(gw.output(), 10), fpmProc.output())
		}
		if slices.Contains(phpWorkers(t, gwPid), pid) || !processAlive(pid) {
			t.Errorf("/legacy/pid.php ran in pid %d, want a php-fpm worker (gatewayd's: %v)", pid, phpWorkers(t, gwPid))
		}
	})

	t.Run("php-fpm POST 1MiB", func(t *testing.T) { checkEcho(t, c, base+"/legacy/echo.php") })

	t.Run("php-fpm stopped", func(t *testing.T) {
		fpmProc.stop(t)
		from := len(gw.output())
		resp, err := c.Get(base + "/legacy/pid.php?q=gone")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadGateway {
			t.Errorf("GET /legacy/pid.php with php-fpm stopped = %d %q, want 502", resp.StatusCode, b)
		}
		// The lines since the request, but those of earlier requests
		// that may have come late.
		logged := func() []string {
			var lines []string
			for _, l := range strings.Split(strings.TrimSpace(gw.output()[from:]), "\n") {
				if l != "" && (!strings.Contains(l, " uri=") || strings.Contains(l, "q=gone")) {
					lines = append(lines, l)
				}
			}
			return lines
		}
		eventually(func() bool { return len(logged()) > 0 })
		time.Sleep(200 * time.Millisecond) // any line after the first
		lines := logged()
		if len(lines) != 1 || !strings.Contains(lines[0], "status=502") || !strings.Contains(lines[0], fpmSock) {
			t.Errorf("gatewayd logged %d lines for the request, want one with status=502 naming %s:\n%s", len(lines), fpmSock, strings.Join(lines, "\n"))
		}
		// The workers' mount is not affected.
		if _, err := getPID(c, base+"/pid.php", "still"); err != nil {
			t.Error(err)
		}
	})

	t.Run("SIGTERM", func(t *testing.T) {
		workers := phpWorkers(t, gwPid)
		if err := syscall.Kill(gwPid, syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case <-gw.exited:
		case <-time.After(15 * time.Second):
			t.Fatalf("gatewayd still running 15s after SIGTERM:\n%s", tail(gw.output(), 20))
		}
		if code := gw.cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("gatewayd exited with status %d after SIGTERM, want 0:\n%s", code, tail(gw.output(), 20))
		}
		for _, pid := range workers {
			if processAlive(pid) {
				t.Errorf("worker %d still runs after gatewayd exited", pid)
			}
		}
	})
}

// workerLimits is a gatewayd file with three worker mounts over the same
// scripts: /slow, whose requests time out after 2s, /recycle, whose two
// workers are recycled after 5 requests, and /crash, for rapid-fail
// protection.
const workerLimits = `listen "fastcgi" {
  address = "unix:{{.Sock}}"
}
mount "/slow" {
  root = "{{.Root}}"
  worker {
    command   = ["{{.PHP}}"]
    processes = 1
  }
  limits {
    timeout    = "2s"
    kill_grace = "500ms"
  }
}
mount "/recycle" {
  root = "{{.Root}}"
  worker {
    command      = ["{{.PHP}}"]
    processes    = 2
    max_requests = 5
  }
}
mount "/crash" {
  root = "{{.Root}}"
  worker {
    command   = ["{{.PHP}}"]
    processes = 1
  }
  limits {
    queue_timeout = "3s"
  }
}
`

// TestWorkerLimits: a request past its mount's timeout gets 504 and the
// worker that ignored the abort is killed after kill_grace and replaced;
// max_requests recycles workers without failing a request; SIGHUP keeps
// the workers of unchanged mounts and replaces the others; workers that
// crash 5 times within a minute make their mount answer 503 at once, to
// the requests already waiting for a worker too.
func TestWorkerLimits(t *testing.T) {
	phpCGI := requirePHPCGI(t)
	dir := t.TempDir()
	www := phpScripts(t, dir, "slow", "recycle", "crash")
	sock := filepath.Join(dir, "php.sock")
	conf := writeTemplate(t, dir, "limits.hcl", workerLimits, map[string]any{"Sock": sock, "Root": www, "PHP": phpCGI})
	gw, _ := startGatewayd(t, "serve", "--config", conf)
	base := startPHPNginx(t, www, fmt.Sprintf(phpLocation, sock))
	c := phpClient()

	t.Run("timeout", func(t *testing.T) {
		first, err := getPID(c, base+"/slow/pid.php", "first")
		if err != nil {
			t.Fatal(err)
		}
		pidFile := filepath.Join(www, "sleep.pid")
		start := time.Now()
		resp, err := c.Get(base + "/slow/sleep.php?s=20")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		took := time.Since(start)
		if resp.StatusCode != http.StatusGatewayTimeout || took < 2*time.Second || took > 5*time.Second {
			t.Errorf("GET /slow/sleep.php?s=20 = %d %q after %v, want 504 after the mount's 2s", resp.StatusCode, b, took.Round(time.Millisecond))
		}
		held := waitPidFile(t, pidFile)
		if held != first {
			t.Errorf("sleep.php ran in %d, the one worker served pid.php in %d", held, first)
		}
		// Killed after the 500ms kill grace: php-cgi ignores
		// FCGI_ABORT_REQUEST.
		deadline := time.Now().Add(2 * time.Second)
		for processAlive(held) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if processAlive(held) {
			t.Fatalf("worker %d still runs %v after its request timed out:\n%s", held, time.Since(start), gw.output())
		}
		if !strings.Contains(gw.output(), fmt.Sprintf("worker did not end an aborted request; killed: worker=/slow pid=%d", held)) {
			t.Errorf("gatewayd's log does not say it killed worker %d:\n%s", held, gw.output())
		}
		next, err := getPID(c, base+"/slow/pid.php", "next")
		if err != nil {
			t.Fatalf("after the timeout: %v\n%s", err, gw.output())
		}
		if next == held {
			t.Errorf("pid.php after the timeout ran in %d, the worker that was killed", next)
		}
	})

	t.Run("max_requests", func(t *testing.T) {
		served := map[int]int{}
		for i := range 40 {
			pid, err := getPID(c, base+"/recycle/pid.php", strconv.Itoa(i))
			if err != nil {
				t.Fatalf("request %d: %v\ngatewayd's log:\n%s", i, err, tail(gw.output(), 20))
			}
			served[pid]++
		}
		for pid, n := range served {
			if n > 5 {
				t.Errorf("worker %d served %d requests, max_requests is 5", pid, n)
			}
		}
		if len(served) < 8 {
			t.Errorf("40 requests were served by %d workers (%v), want at least 8 with max_requests 5", len(served), served)
		}
	})

	t.Run("reload", func(t *testing.T) {
		gwPid := gw.cmd.Process.Pid
		slow, err := getPID(c, base+"/slow/pid.php", "before-reload")
		if err != nil {
			t.Fatal(err)
		}
		crash, err := getPID(c, base+"/crash/pid.php", "before-reload")
		if err != nil {
			t.Fatal(err)
		}
		var recycle []int
		for _, pid := range phpWorkers(t, gwPid) {
			if pid != slow && pid != crash {
				recycle = append(recycle, pid)
			}
		}
		src, _ := os.ReadFile(conf)
		edited := strings.Replace(string(src), "max_requests = 5", "max_requests = 6", 1)
		if edited == string(src) {
			t.Fatalf("%s has no max_requests = 5 to edit", conf)
		}
		if err := os.WriteFile(conf, []byte(edited), 0o644); err != nil {
			t.Fatal(err)
		}
		syscall.Kill(gwPid, syscall.SIGHUP)
		if !eventually(func() bool { return strings.Contains(gw.output(), "configuration reloaded") }) {
			t.Fatalf("no reload after SIGHUP:\n%s", tail(gw.output(), 20))
		}
		var now []int
		replaced := eventually(func() bool {
			now = phpWorkers(t, gwPid)
			return len(now) == 4 && !slices.ContainsFunc(now, func(p int) bool { return slices.Contains(recycle, p) })
		})
		if !replaced || !slices.Contains(now, slow) || !slices.Contains(now, crash) {
			t.Errorf("workers after the reload = %v; want /slow's %d and /crash's %d kept, /recycle's %v replaced", now, slow, crash, recycle)
		}
		for _, tt := range []struct {
			path string
			want int
		}{{"/slow/pid.php", slow}, {"/crash/pid.php", crash}} {
			if pid, err := getPID(c, base+tt.path, "after-reload"); err != nil || pid != tt.want {
				t.Errorf("%s after the reload ran in %d (%v), want the same worker %d", tt.path, pid, err, tt.want)
			}
		}
		if pid, err := getPID(c, base+"/recycle/pid.php", "after-reload"); err != nil || slices.Contains(recycle, pid) {
			t.Errorf("/recycle/pid.php after the reload ran in %d (%v), want a new worker, not one of %v", pid, err, recycle)
		}
	})

	t.Run("rapid-fail", func(t *testing.T) {
		// Each request to crash.php kills its worker; the fifth failure
		// within a minute turns rapid-fail protection on.
		crash := func(ms int) (int, time.Time) {
			resp, err := c.Get(fmt.Sprintf("%s/crash/crash.php?ms=%d", base, ms))
			if err != nil {
				t.Error(err)
				return 0, time.Now()
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return resp.StatusCode, time.Now()
		}
		for i := range 4 {
			if status, _ := crash(0); status != http.StatusInternalServerError {
				t.Errorf("crash %d: GET /crash/crash.php = %d, want 500", i+1, status)
			}
		}
		// A request that waits for the one worker while it crashes the
		// fifth time: no worker will start for a minute, so it gets 503
		// as soon as protection holds, not at the end of its
		// queue_timeout (3s).
		type answer struct {
			status int
			at     time.Time
		}
		waiter := make(chan answer, 1)
		fifth := make(chan answer, 1)
		go func() { s, at := crash(300); fifth <- answer{s, at} }()
		time.Sleep(100 * time.Millisecond) // crash.php is running
		go func() {
			resp, err := c.Get(base + "/crash/pid.php?q=waiting")
			if err != nil {
				waiter <- answer{0, time.Now()}
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			waiter <- answer{resp.StatusCode, time.Now()}
		}()
		f, w := <-fifth, <-waiter
		if f.status != http.StatusInternalServerError {
			t.Errorf("crash 5: GET /crash/crash.php = %d, want 500", f.status)
		}
		if late := w.at.Sub(f.at); w.status != http.StatusServiceUnavailable || late > time.Second {
			t.Errorf("a request waiting for /crash's worker when it crashed the 5th time got %d %v after the crash, want 503 at once (rapid-fail protection)",
				w.status, late.Round(time.Millisecond))
		}
		start := time.Now()
		resp, err := c.Get(base + "/crash/pid.php?q=refused")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || time.Since(start) > time.Second {
			t.Errorf("GET /crash/pid.php after 5 crashes = %d %q after %v, want 503 at once", resp.StatusCode, b, time.Since(start))
		}
		if !strings.Contains(gw.output(), "rapid-fail protection: requests get 503 until workers start again: worker=/crash") {
			t.Errorf("gatewayd's log does not say why /crash answers 503:\n%s", tail(gw.output(), 20))
		}
		// The other mounts serve on.
		if _, err := getPID(c, base+"/slow/pid.php", "after-crashes"); err != nil {
			t.Error(err)
		}
	})
}

// TestWorkerCommandFails: gatewayd serve --config exits at once, with
// status 1 and an error that names the mount, when a worker command does
// not exist or exits at once, and config check reports the one that does
// not exist.
func TestWorkerCommandFails(t *testing.T) {
	dir := t.TempDir()
	www := phpScripts(t, dir)
	for _, tt := range []struct {
		name, command string
		checkOK       bool     // config check accepts the file
		want          []string // in serve's output
	}{
		{"missing", "/nonexistent/php-cgi", false, []string{`command "/nonexistent/php-cgi": no such file`}},
		{"exits at once", "/bin/false", true, []string{"worker /php:", "/bin/false exited with status 1 before it answered FastCGI"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sock := filepath.Join(t.TempDir(), "php.sock")
			conf := filepath.Join(t.TempDir(), "bad.hcl")
			src := fmt.Sprintf("listen \"fastcgi\" {\n  address = \"unix:%s\"\n}\nmount \"/php\" {\n  root = %q\n  worker {\n    command   = [%q]\n    processes = 2\n  }\n}\n", sock, www, tt.command)
			if err := os.WriteFile(conf, []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			// The position of the command's value, which config check
			// points at.
			at := strings.Index(src, "[")
			pos := fmt.Sprintf("%s:%d:%d: ", conf, strings.Count(src[:at], "\n")+1, at-strings.LastIndex(src[:at], "\n"))

			out, err := exec.Command(gatewayd, "config", "check", conf).CombinedOutput()
			if tt.checkOK {
				if err != nil || string(out) != conf+": configuration ok\n" {
					t.Errorf("gatewayd config check = %v %q, want ok", err, out)
				}
			} else if ee, ok := errors.AsType[*exec.ExitError](err); !ok || ee.ExitCode() != 1 ||
				!strings.HasPrefix(string(out), pos) || !strings.Contains(string(out), tt.command) {
				t.Errorf("gatewayd config check = %v %q, want status 1 and %s… naming %s", err, out, pos, tt.command)
			}

			start := time.Now()
			cmd := exec.Command(gatewayd, "serve", "--config", conf)
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			var buf bytes.Buffer
			cmd.Stdout, cmd.Stderr = &buf, &buf
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				<-done
				t.Fatalf("gatewayd serve still running 10s after it started with worker command %s:\n%s", tt.command, buf.String())
			}
			took := time.Since(start)
			if ee, ok := errors.AsType[*exec.ExitError](err); !ok || ee.ExitCode() == 0 || took > 3*time.Second {
				t.Errorf("gatewayd serve = %v after %v, want a non-zero status at once:\n%s", err, took, buf.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(buf.String(), w) {
					t.Errorf("gatewayd serve's output lacks %q:\n%s", w, buf.String())
				}
			}
			if tt.checkOK && !strings.Contains(buf.String(), "/php") {
				t.Errorf("gatewayd serve's error does not name the mount /php:\n%s", buf.String())
			}
			if _, err := os.Stat(sock); err == nil {
				t.Errorf("gatewayd left its socket %s behind", sock)
			}
		})
	}
}

// TestREADMEPersistentWorkers runs the README's Persistent workers section:
// its configuration blocks must be lines of configs/php-workers.hcl; its
// commands run, in order, on that file with the paths the other tests
// replace (the set-up line writes into the scripts' directory), behind
// nginx with the section's server block; and its curl prints what it says.
func TestREADMEPersistentWorkers(t *testing.T) {
	phpCGI := requirePHPCGI(t)
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Persistent workers\n")
	if !ok {
		t.Fatal("README has no Persistent workers section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	blocks := func(lang string) []string {
		var out []string
		for _, m := range regexp.MustCompile("(?s)```"+lang+"\n(.*?)```").FindAllStringSubmatch(section, -1) {
			out = append(out, m[1])
		}
		return out
	}
	hcl, sh, nginxBlock, console := blocks("hcl"), blocks("sh"), blocks("nginx"), blocks("console")
	if len(hcl) == 0 || len(sh) != 1 || len(nginxBlock) != 1 || len(console) != 1 {
		t.Fatalf("README's Persistent workers section has %d hcl, %d sh, %d nginx and %d console blocks; want some, then one of each",
			len(hcl), len(sh), len(nginxBlock), len(console))
	}
	shipped, err := os.ReadFile(filepath.Join(configsDir(t), "php-workers.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range hcl {
		for _, line := range strings.Split(strings.TrimRight(b, "\n"), "\n") {
			if !strings.Contains(string(shipped), line+"\n") {
				t.Errorf("README's configuration line %q is not in configs/php-workers.hcl", line)
			}
		}
	}

	dir := t.TempDir()
	www := filepath.Join(dir, "www")
	os.Mkdir(www, 0o755)
	sock := filepath.Join(dir, "php.sock")
	conf := phpWorkersConfig(t, dir, sock, www, filepath.Join(dir, "fpm.sock"), phpCGI)
	const file, cmdPrefix = "configs/php-workers.hcl", "go run ./cmd/gatewayd "
	setup, commands, _ := strings.Cut(sh[0], cmdPrefix)
	lines := strings.Split(strings.TrimSpace(cmdPrefix+commands), "\n")
	if len(lines) != 2 || lines[0] != cmdPrefix+"config check "+file || lines[1] != cmdPrefix+"serve --config "+file {
		t.Fatalf("README's commands = %q, want config check %s, then serve --config %s", lines, file, file)
	}
	if !strings.Contains(setup, "/var/www/html") {
		t.Fatalf("README's set-up %q does not write into /var/www/html", setup)
	}
	if out, err := exec.Command("sh", "-e", "-c", strings.ReplaceAll(setup, "/var/www/html", www)).CombinedOutput(); err != nil {
		t.Fatalf("README set-up: %v\n%s", err, out)
	}
	args := func(line string) []string {
		return strings.Fields(strings.ReplaceAll(strings.TrimPrefix(line, cmdPrefix), file, conf))
	}
	if out, err := exec.Command(gatewayd, args(lines[0])...).CombinedOutput(); err != nil || string(out) != conf+": configuration ok\n" {
		t.Fatalf("%s = %v %q, want %s: configuration ok", lines[0], err, out, conf)
	}
	gw, _ := startGatewayd(t, args(lines[1])...)

	server := nginxBlock[0]
	for _, r := range [][2]string{{"/var/www/html", www}, {"unix:/run/gatewayd/php.sock", "unix:" + sock}} {
		if !strings.Contains(server, r[0]) {
			t.Fatalf("README's nginx block has no %s to replace:\n%s", r[0], server)
		}
		server = strings.ReplaceAll(server, r[0], r[1])
	}
	port, _ := startNginx(t, "", server)
	curls := regexp.MustCompile(`\$ curl http://localhost(/\S*)\n([^$]*)`).FindAllStringSubmatch(console[0], -1)
	if len(curls) == 0 {
		t.Fatalf("README's console block has no curl line: %q", console[0])
	}
	for _, m := range curls {
		resp, body := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d%s", port, m[1]))
		if resp.StatusCode != 200 || body != m[2] {
			t.Errorf("curl http://localhost%s = %d %q, README says %q\ngatewayd's log:\n%s", m[1], resp.StatusCode, body, m[2], gw.output())
		}
	}
}
