//go:build unix

package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"gatewayd/protocol/scgi"
)

// waitLog waits for the daemon's log to hold want.
func (d *gatewayProc) waitLog(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(d.log(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("log has no %q:\n%s", want, d.log())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitGroupGone waits a few seconds for the process group pgid to be
// empty, and fails if it is not.
func waitGroupGone(t *testing.T, pgid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	err := syscall.Kill(-pgid, 0)
	for err == nil && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		err = syscall.Kill(-pgid, 0)
	}
	if !errors.Is(err, syscall.ESRCH) {
		t.Errorf("kill(-%d, 0) = %v, want ESRCH: processes of the program's group are left", pgid, err)
		syscall.Kill(-pgid, syscall.SIGKILL)
	}
}

// TestSIGHUPIgnored: SIGHUP without a configuration file to reload is logged
// and changes nothing, whether gatewayd is serving or draining.
func TestSIGHUPIgnored(t *testing.T) {
	for _, tt := range []struct {
		name     string
		draining bool
		logged   string
	}{
		{"while serving", false, "SIGHUP received: no configuration file (--config) to reload; ignoring"},
		{"while draining", true, "SIGHUP received while stopping; ignoring"},
	} {
		logged := tt.logged
		t.Run(tt.name, func(t *testing.T) {
			root, pids := t.TempDir(), t.TempDir()
			writeScript(t, root, "slow.sh", `echo $$ > "`+pids+`/slow"
sleep 1
printf 'Content-Type: text/plain\r\n\r\nfinished\n'
`)
			d := serveRoot(t, root)
			res := make(chan string, 1)
			go func() {
				resp, err := http.Get(d.url + "/slow.sh")
				if err != nil {
					res <- err.Error()
					return
				}
				defer resp.Body.Close()
				b, err := io.ReadAll(resp.Body)
				if err != nil {
					res <- err.Error()
					return
				}
				res <- string(b)
			}()
			waitPid(t, filepath.Join(pids, "slow")) // the request is running
			if tt.draining {
				d.signal(syscall.SIGTERM)
				d.waitLog(t, "shutting down")
			}
			d.signal(syscall.SIGHUP)
			d.waitLog(t, logged)
			if got := <-res; got != "finished\n" {
				t.Errorf("request in flight across SIGHUP = %q, want finished", got)
			}
			if !tt.draining {
				if resp, body := get(t, d.url+"/slow.sh"); resp.StatusCode != 200 || body != "finished\n" {
					t.Errorf("GET after SIGHUP = %d %q, want 200 finished", resp.StatusCode, body)
				}
			}
			var err error
			if tt.draining {
				err = d.wait(t) // the drain ends with the request
			} else {
				err = d.stop(t)
			}
			if err != nil {
				t.Errorf("gatewayd exited with %v, want 0:\n%s", err, d.log())
			}
			if n := strings.Count(d.log(), logged); n != 1 {
				t.Errorf("%d lines about SIGHUP, want 1:\n%s", n, d.log())
			}
		})
	}
}

// TestSecondSignalCutsDrain: a second SIGTERM or SIGINT during the drain
// stops the requests in flight at once; gatewayd exits with status 1 and
// leaves no process of their programs behind, whichever front-end the
// request came in on.
func TestSecondSignalCutsDrain(t *testing.T) {
	for _, tt := range []struct {
		name     string
		frontend string
		trap     string // the program's signal handling
		first    syscall.Signal
	}{
		{"SIGTERM twice, HTTP", "http", "", syscall.SIGTERM},
		{"SIGINT then SIGTERM, HTTP, program ignoring SIGTERM", "http", "trap '' TERM", syscall.SIGINT},
		{"SIGTERM twice, SCGI, program ignoring SIGTERM", "scgi", "trap '' TERM", syscall.SIGTERM},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir, pids := t.TempDir(), t.TempDir()
			writeScript(t, dir, "prog.sh", tt.trap+`
echo $$ > "`+pids+`/prog"
sleep 60 &
echo $! > "`+pids+`/grandchild"
wait
`)
			d := start(t, exec.Command(binary, "serve", "--http", "127.0.0.1:0", "--scgi", "127.0.0.1:0",
				"--timeout", "60s", "--kill-grace", "300ms", filepath.Join(dir, "prog.sh")))
			done := make(chan struct{})
			switch tt.frontend {
			case "http":
				client := &http.Client{Timeout: 30 * time.Second}
				go func() {
					defer close(done)
					if resp, err := client.Get(d.url + "/"); err == nil {
						resp.Body.Close()
					}
				}()
			case "scgi":
				d.waitLog(t, "url=scgi://")
				addr := scgiURL.FindStringSubmatch(d.log())[1]
				c, err := net.DialTimeout("tcp", addr, 10*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(30 * time.Second))
				c.Write(scgi.AppendHeader(nil, 0, []scgi.Param{
					{Name: "REQUEST_METHOD", Value: "GET"}, {Name: "REQUEST_URI", Value: "/"},
					{Name: "SERVER_PROTOCOL", Value: "HTTP/1.1"},
				}))
				go func() {
					defer close(done)
					io.Copy(io.Discard, c)
				}()
			}
			pgid := waitPid(t, filepath.Join(pids, "prog"))
			waitPid(t, filepath.Join(pids, "grandchild"))

			d.signal(tt.first)
			d.waitLog(t, "shutting down")
			d.signal(syscall.SIGTERM)
			err := d.wait(t)
			<-done
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != exitError {
				t.Errorf("gatewayd exited with %v, want exit status %d:\n%s", err, exitError, d.log())
			}
			if !strings.Contains(d.log(), "drain cut short") {
				t.Errorf("log does not say the drain was cut short:\n%s", d.log())
			}
			waitGroupGone(t, pgid)
		})
	}
}

// TestLeftoverHoldsStdout: a script that leaves a background process
// holding its stdout gets its response at once, not at the timeout; the
// leftover is killed and one warning names its group.
func TestLeftoverHoldsStdout(t *testing.T) {
	root, pids := t.TempDir(), t.TempDir()
	writeScript(t, root, "bg.sh", `echo $$ > "`+pids+`/sh"
printf 'Content-Type: text/plain\n\nhi\n'
sleep 100 &
echo $! > "`+pids+`/sleep"
`)
	d := serveRoot(t, root, "--timeout", "60s", "--kill-grace", "500ms")
	start := time.Now()
	resp, body := get(t, d.url+"/bg.sh")
	took := time.Since(start)
	if resp.StatusCode != 200 || body != "hi\n" {
		t.Errorf("GET = %d %q, want 200 hi", resp.StatusCode, body)
	}
	if took > 20*time.Second {
		t.Errorf("GET took %v; want it to end soon after the script, not at the 60s timeout", took)
	}
	sh, sleep := waitPid(t, filepath.Join(pids, "sh")), waitPid(t, filepath.Join(pids, "sleep"))
	const warning = "kept stdout open"
	d.waitLog(t, warning)
	d.stop(t)
	if n := strings.Count(d.log(), warning); n != 1 {
		t.Errorf("%d warnings about stdout held open, want 1:\n%s", n, d.log())
	}
	if !strings.Contains(d.log(), "pgid="+strconv.Itoa(sh)) {
		t.Errorf("warning does not name group %d:\n%s", sh, d.log())
	}
	deadline := time.Now().Add(5 * time.Second)
	for alive(sleep) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if alive(sleep) {
		syscall.Kill(sleep, syscall.SIGKILL)
		t.Errorf("background process %d still running", sleep)
	}
}

// TestShutdownTimeout: SIGTERM waits --shutdown-timeout for the requests in
// flight, then stops their programs; gatewayd says so and exits with
// status 1, leaving nothing behind.
func TestShutdownTimeout(t *testing.T) {
	for _, how := range []string{"flag", "config"} {
		t.Run(how, func(t *testing.T) { testShutdownTimeout(t, how) })
	}
}

func testShutdownTimeout(t *testing.T, how string) {
	dir, pids := t.TempDir(), t.TempDir()
	writeScript(t, dir, "prog.sh", `echo $$ > "`+pids+`/prog"
sleep 60
`)
	args := []string{"serve", "--http", "127.0.0.1:0", "--timeout", "60s", "--kill-grace", "300ms"}
	if how == "flag" {
		args = append(args, "--shutdown-timeout", "500ms", filepath.Join(dir, "prog.sh"))
	} else {
		conf := filepath.Join(dir, "gatewayd.hcl")
		os.WriteFile(conf, []byte("shutdown_timeout = \"500ms\"\nmount \"/\" {\n  program = [\""+filepath.Join(dir, "prog.sh")+"\"]\n}\n"), 0o644)
		args = append(args, "--config", conf)
	}
	d := start(t, exec.Command(binary, args...))
	go func() {
		client := &http.Client{Timeout: 30 * time.Second}
		if resp, err := client.Get(d.url + "/"); err == nil {
			resp.Body.Close()
		}
	}()
	pgid := waitPid(t, filepath.Join(pids, "prog"))
	begin := time.Now()
	d.signal(syscall.SIGTERM)
	err := d.wait(t)
	took := time.Since(begin)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != exitError {
		t.Errorf("gatewayd exited with %v, want exit status %d:\n%s", err, exitError, d.log())
	}
	if !strings.Contains(d.log(), "drain timed out") || !strings.Contains(d.log(), "1 requests were still running after 500ms") {
		t.Errorf("log does not say the drain timed out and what it cut:\n%s", d.log())
	}
	if took > 10*time.Second {
		t.Errorf("gatewayd took %v to stop with a 500ms shutdown timeout", took)
	}
	waitGroupGone(t, pgid)
}

// TestDrainUnderLoad: SIGTERM in the middle of a bounded load of slow
// requests fails none that gatewayd had accepted: each gets its whole
// response, the rest find the listener closed; gatewayd exits 0 and no
// program is left.
func TestDrainUnderLoad(t *testing.T) {
	root, pids := t.TempDir(), t.TempDir()
	writeScript(t, root, "slow.sh", `echo $$ > "`+pids+`/$$"
sleep 0.2
printf 'Content-Type: text/plain\r\n\r\nfinished\n'
`)
	d := serveRoot(t, root)
	var ok, refused int
	var failures []string
	stop := make(chan struct{})
	wg := loadLoop(8, 100, d.url+"/slow.sh", stop, func(_ int, body []byte, err error) bool {
		switch {
		case err == nil && string(body) == "finished\n":
			ok++
		case err != nil && strings.Contains(err.Error(), "connection refused"):
			refused++ // after the listener closed: never accepted
		default:
			failures = append(failures, fmt.Sprintf("%v %q", err, body))
		}
		return err == nil
	})
	time.Sleep(700 * time.Millisecond)
	// To gatewayd alone, as systemd's KillMode=mixed sends it: under this
	// load a signal to its whole process group can reach a child between
	// its fork and its own setpgid, and end it (the subprocess package
	// doc says so).
	d.cmd.Process.Signal(syscall.SIGTERM)
	err := d.wait(t)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Errorf("gatewayd exited with %v, want 0:\n%s", err, d.log())
	}
	if len(failures) > 0 || ok == 0 {
		t.Errorf("%d requests finished, %d refused after the listener closed, %d failed: %v", ok, refused, len(failures), failures)
	}
	entries, _ := os.ReadDir(pids)
	for _, e := range entries {
		pid, _ := strconv.Atoi(e.Name())
		if syscall.Kill(pid, 0) == nil {
			t.Errorf("program %d still running after gatewayd stopped", pid)
		}
	}
	t.Logf("%d requests finished, %d refused after the listener closed, %d programs run", ok, refused, len(entries))
}
