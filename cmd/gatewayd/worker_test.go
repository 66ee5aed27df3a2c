//go:build unix

package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"gatewayd/cmd/gatewayd/internal/ops"
)

// buildFCGIApp builds the FastCGI worker of testdata/fcgiapp.
func buildFCGIApp(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "fcgiapp")
	if out, err := exec.Command("go", "build", "-o", bin, "./testdata/fcgiapp").CombinedOutput(); err != nil {
		t.Fatalf("build fcgiapp: %v\n%s", err, out)
	}
	return bin
}

func writeWorkerConfig(t *testing.T, path, app string, aProcs, bProcs int) {
	t.Helper()
	conf := fmt.Sprintf(`listen "http" {
  address = "127.0.0.1:0"
}
mount "/a" {
  worker {
    command   = [%q]
    processes = %d
  }
}
mount "/b" {
  worker {
    command   = [%q]
    processes = %d
  }
}
`, app, aProcs, app, bProcs)
	if err := os.WriteFile(path+".tmp", []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

var pidRE = regexp.MustCompile(`pid=(\d+)`)

// workerPids asks mount a for pids until it has seen want different ones.
func workerPids(t *testing.T, url string, want int) []int {
	t.Helper()
	var pids []int
	for i := 0; i < 200 && len(pids) < want; i++ {
		_, body := get(t, url)
		m := pidRE.FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("GET %s: %q", url, body)
		}
		var pid int
		fmt.Sscan(m[1], &pid)
		if !slices.Contains(pids, pid) {
			pids = append(pids, pid)
		}
	}
	slices.Sort(pids)
	return pids
}

// TestWorkerMountsReload: worker mounts serve; a reload keeps the workers
// of a mount whose worker block did not change and replaces those of one
// that did, whose old workers exit; SIGTERM leaves no worker behind.
func TestWorkerMountsReload(t *testing.T) {
	app := buildFCGIApp(t)
	conf := filepath.Join(t.TempDir(), "gatewayd.hcl")
	writeWorkerConfig(t, conf, app, 1, 1)
	d := start(t, exec.Command(binary, "serve", "--config", conf))
	a := workerPids(t, d.url+"/a/x", 1)
	b := workerPids(t, d.url+"/b/x", 1)

	writeWorkerConfig(t, conf, app, 1, 2)
	d.reload()
	d.waitLog(t, "configuration reloaded")
	if got := workerPids(t, d.url+"/a/x", 1); !slices.Equal(got, a) {
		t.Errorf("unchanged mount /a: workers %v after the reload, want %v kept", got, a)
	}
	b2 := workerPids(t, d.url+"/b/x", 2)
	if slices.Contains(b2, b[0]) {
		t.Errorf("changed mount /b: workers %v after the reload still hold %d", b2, b[0])
	}
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(b[0], 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("old worker %d of /b still running after the reload", b[0])
		}
		time.Sleep(10 * time.Millisecond)
	}

	d.cmd.Process.Signal(syscall.SIGTERM)
	<-d.exited
	if d.exitErr != nil || strings.Contains(d.log(), "panic") {
		t.Errorf("gatewayd did not stop cleanly: %v\n%s", d.exitErr, d.log())
	}
	for _, pid := range append(a, b2...) {
		if syscall.Kill(pid, 0) == nil {
			t.Errorf("worker %d still running after gatewayd stopped", pid)
		}
	}
}

// TestWorkerStartFails: a worker command that exits at once stops serve
// with an error naming the mount, at once.
func TestWorkerStartFails(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "gatewayd.hcl")
	os.WriteFile(conf, []byte(`listen "http" {
  address = "127.0.0.1:0"
}
mount "/php" {
  worker {
    command = ["/bin/false"]
  }
}
`), 0o644)
	start := time.Now()
	out, err := exec.Command(binary, "serve", "--config", conf).CombinedOutput()
	if err == nil {
		t.Fatalf("serve succeeded:\n%s", out)
	}
	if !regexp.MustCompile(`worker /php: .*/bin/false exited with status 1 before it answered FastCGI`).Match(out) {
		t.Errorf("error does not name the mount and why:\n%s", out)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("serve took %v to fail", d)
	}
}

// TestWorkerMetrics: the admin listener shows a pool's workers by state,
// and counts a worker that died and was replaced.
func TestWorkerMetrics(t *testing.T) {
	app := buildFCGIApp(t)
	conf := filepath.Join(t.TempDir(), "gatewayd.hcl")
	os.WriteFile(conf, []byte(fmt.Sprintf(`listen "http" {
  address = "127.0.0.1:0"
}
admin {
  address = "127.0.0.1:0"
}
mount "/a" {
  worker {
    command   = [%q]
    processes = 2
  }
}
`, app)), 0o644)
	d := start(t, exec.Command(binary, "serve", "--config", conf))
	admin := d.adminURL(t)
	waitStatus := func(what string, ok func(ops.Status) bool) ops.Status {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			st := status(t, admin)
			if ok(st) {
				return st
			}
			if time.Now().After(deadline) {
				t.Fatalf("/status never showed %s: %+v", what, st)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	workers := func(st ops.Status) *ops.WorkersStatus { return st.Mounts[0].Workers }

	done := make(chan struct{})
	go func() {
		defer close(done)
		get(t, d.url+"/a/sleep")
	}()
	st := waitStatus("a busy worker", func(st ops.Status) bool { return workers(st).Busy == 1 })
	if w := workers(st); w.Idle != 1 || len(w.Pids) != 2 || st.Running != 1 || st.MaxRunning != 2 {
		t.Errorf("/status with one request running: %+v, workers %+v", st, w)
	}
	_, body, _ := scrape(t, admin+"/metrics")
	hasMetrics(t, body, `gatewayd_workers{mount="/a",state="busy"} 1`, `gatewayd_workers{mount="/a",state="idle"} 1`,
		`gatewayd_worker_restarts_total{mount="/a"} 0`, "gatewayd_programs_running 1", "gatewayd_programs_max 2")
	<-done

	victim := workers(st).Pids[0]
	syscall.Kill(victim, syscall.SIGKILL)
	st = waitStatus("the worker replaced", func(st ops.Status) bool {
		w := workers(st)
		return w.Restarts == 1 && w.Idle == 2 && !slices.Contains(w.Pids, victim)
	})
	_, body, _ = scrape(t, admin+"/metrics")
	hasMetrics(t, body, `gatewayd_workers{mount="/a",state="idle"} 2`, `gatewayd_worker_restarts_total{mount="/a"} 1`,
		`gatewayd_requests_total{code="200",frontend="http",mount="/a"} 1`)
	if err := d.stop(t); err != nil {
		t.Errorf("gatewayd: %v\n%s", err, d.log())
	}
}
