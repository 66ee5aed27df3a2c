//go:build unix

package integration

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"
)

// requirePeer returns the path of a peer program (nginx, apache2, …). When
// it is missing the test skips with a message, or fails when
// GATEWAYD_INTEGRATION is set: CI must not pass by skipping.
func requirePeer(tb testing.TB, candidates ...string) string {
	tb.Helper()
	for _, c := range candidates {
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
		if _, err := os.Stat(c); err == nil {
			return c
		}
	}
	msg := fmt.Sprintf("test peer %s is not installed (make peers installs it)", candidates[0])
	if os.Getenv("GATEWAYD_INTEGRATION") != "" {
		tb.Fatal(msg)
	}
	tb.Skip(msg)
	return ""
}

// freePort returns a loopback TCP port that was free a moment ago, for
// peers that cannot listen on port 0 and report it.
func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitPort waits until something accepts connections on addr.
func waitPort(tb testing.TB, network, addr string, p *process) {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout(network, addr, time.Second); err == nil {
			c.Close()
			return
		}
		select {
		case <-p.exited:
			tb.Fatalf("%s exited before listening on %s:\n%s", p.name, addr, p.output())
		case <-time.After(20 * time.Millisecond):
		}
	}
	tb.Fatalf("%s is not listening on %s:\n%s", p.name, addr, p.output())
}

// process is a peer or gatewayd started by a test, in its own process
// group, and stopped by the test by that group's id.
type process struct {
	name   string
	cmd    *exec.Cmd
	mu     sync.Mutex
	out    bytes.Buffer
	exited chan struct{}
}

// startProcess starts cmd and stops its process group (SIGTERM, then
// SIGKILL) when the test ends. Its output is kept for failure messages.
func startProcess(tb testing.TB, name string, cmd *exec.Cmd) *process {
	tb.Helper()
	p := &process{name: name, cmd: cmd, exited: make(chan struct{})}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stdout, cmd.Stderr = p, p
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start %s: %v", name, err)
	}
	go func() {
		cmd.Wait()
		close(p.exited)
	}()
	tb.Cleanup(func() { p.stop(tb) })
	return p
}

func (p *process) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func (p *process) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func (p *process) stop(tb testing.TB) {
	select {
	case <-p.exited:
		return
	default:
	}
	pgid := p.cmd.Process.Pid
	syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(15 * time.Second):
		syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.exited
		tb.Errorf("%s did not stop on SIGTERM:\n%s", p.name, p.output())
	}
}

// configsDir is the project's configs/ directory, absolute.
func configsDir(tb testing.TB) string {
	tb.Helper()
	d, err := filepath.Abs("../configs")
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// writeTemplate renders a text/template with data into dir/name and
// returns the file's path.
func writeTemplate(tb testing.TB, dir, name, text string, data any) string {
	tb.Helper()
	t, err := template.New(name).Option("missingkey=error").Parse(text)
	if err != nil {
		tb.Fatal(err)
	}
	var b strings.Builder
	if err := t.Execute(&b, data); err != nil {
		tb.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		tb.Fatal(err)
	}
	return path
}

// runningAsRoot reports whether the tests run as root, when peers that
// drop privileges must be told to keep them (they reach files in the
// test's temporary directories).
func runningAsRoot() bool { return os.Geteuid() == 0 }
