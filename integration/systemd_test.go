//go:build linux

package integration

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSystemdUnits: configs/systemd's units pass systemd-analyze verify,
// with ExecStart pointing at the binary under test. systemd before 253
// does not know Type=notify-reload, and says so; nothing else may be said.
func TestSystemdUnits(t *testing.T) {
	analyze := requirePeer(t, "systemd-analyze")
	dir := t.TempDir()
	for _, name := range []string{"gatewayd.socket", "gatewayd.service"} {
		b, err := os.ReadFile(filepath.Join(configsDir(t), "systemd", name))
		if err != nil {
			t.Fatal(err)
		}
		unit := strings.ReplaceAll(string(b), "/usr/local/bin/gatewayd", gatewayd)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(unit), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(analyze, "verify", filepath.Join(dir, "gatewayd.socket"), filepath.Join(dir, "gatewayd.service"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	v, _ := exec.Command(analyze, "--version").Output()
	old := false
	if m := regexp.MustCompile(`systemd (\d+)`).FindSubmatch(v); m != nil {
		n, _ := strconv.Atoi(string(m[1]))
		old = n < 253
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line == "" || old && strings.HasSuffix(line, "Failed to parse service type, ignoring: notify-reload") {
			continue
		}
		t.Errorf("systemd-analyze verify says: %s", line)
	}
}

// TestSystemdNotifyTranscript runs gatewayd as gatewayd.service would,
// under systemd-socket-activate with three named sockets (FastCGI on a
// unix socket, HTTP and the admin listener on TCP) and a NOTIFY_SOCKET the
// test reads, and checks the messages in order through start, a reload and
// a stop; every socket serves, and the activated unix socket is still there
// afterwards.
func TestSystemdNotifyTranscript(t *testing.T) {
	activate := requirePeer(t, "systemd-socket-activate")
	dir := t.TempDir()
	notify := filepath.Join(dir, "notify")
	nc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notify, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	msgs := make(chan string, 16)
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := nc.Read(b)
			if err != nil {
				return
			}
			msgs <- string(b[:n])
		}
	}()
	fcgiSock := filepath.Join(dir, "fastcgi.sock")
	httpAddr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	adminAddr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	hello := filepath.Join(dir, "hello.sh")
	os.WriteFile(hello, []byte("#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\nhello\\n'\n"), 0o755)
	conf := filepath.Join(dir, "gatewayd.hcl")
	os.WriteFile(conf, []byte(`listen "fastcgi" {
  address = "systemd:fastcgi"
}
listen "http" {
  address = "systemd:http"
}
admin {
  address = "systemd:admin"
}
mount "/" {
  program = ["`+hello+`"]
}
`), 0o644)
	p := startProcess(t, "gatewayd", exec.Command(activate, "-E", "PATH", "-E", "NOTIFY_SOCKET="+notify,
		"--fdname=fastcgi:http:admin", "-l", fcgiSock, "-l", httpAddr, "-l", adminAddr,
		gatewayd, "serve", "--config", conf, "--shutdown-timeout", "5s"))
	// systemd-socket-activate starts gatewayd at the first connection,
	// which gatewayd then serves.
	waitPort(t, "tcp", httpAddr, p)
	resp, err := http.Get("http://" + httpAddr + "/")
	if err != nil {
		t.Fatalf("GET over the activated TCP socket: %v\n%s", err, p.output())
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("GET over the activated TCP socket: %d", resp.StatusCode)
	}
	fcgi := exec.Command(requirePeer(t, "cgi-fcgi"), "-bind", "-connect", fcgiSock)
	fcgi.Env = []string{"REQUEST_METHOD=GET", "SCRIPT_NAME=", "PATH_INFO=/", "SERVER_PROTOCOL=HTTP/1.1"}
	if out, err := fcgi.CombinedOutput(); err != nil || !strings.Contains(string(out), "hello") {
		t.Errorf("cgi-fcgi over the activated unix socket: %v\n%s", err, out)
	}
	// The admin listener on its activated socket counted both.
	if resp, body := httpGet(t, "http://"+adminAddr+"/metrics"); resp.StatusCode != 200 ||
		!strings.Contains(body, "\n"+`gatewayd_requests_total{code="200",frontend="fastcgi",mount="/"} 1`+"\n") ||
		!strings.Contains(body, "\n"+`gatewayd_requests_total{code="200",frontend="http",mount="/"} 1`+"\n") {
		t.Errorf("GET /metrics on the activated admin socket = %d:\n%s", resp.StatusCode, body)
	}

	want := func(lines ...string) {
		t.Helper()
		select {
		case m := <-msgs:
			got := strings.Split(m, "\n")
			if len(got) != len(lines) {
				t.Errorf("notify message %q, want %d lines %q", m, len(lines), lines)
				return
			}
			for i, l := range lines {
				if !regexp.MustCompile("^" + l + "$").MatchString(got[i]) {
					t.Errorf("notify message %q: line %d is not %s", m, i+1, l)
				}
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no notify message, want %q\n%s", lines, p.output())
		}
	}
	status := "STATUS=serving " + regexp.QuoteMeta(hello) + " on 2 listeners"
	want("READY=1", status)
	syscall.Kill(p.cmd.Process.Pid, syscall.SIGHUP) // systemctl reload
	want("RELOADING=1", `MONOTONIC_USEC=\d+`, "STATUS=reloading the configuration")
	want("READY=1", status)
	syscall.Kill(p.cmd.Process.Pid, syscall.SIGTERM) // systemctl stop
	want("STOPPING=1", "STATUS=finishing the requests in flight", `EXTEND_TIMEOUT_USEC=17000000`)
	select {
	case <-p.exited:
	case <-time.After(20 * time.Second):
		t.Fatalf("gatewayd did not stop:\n%s", p.output())
	}
	if ps := p.cmd.ProcessState; ps == nil || ps.ExitCode() != 0 {
		t.Errorf("gatewayd exited with %v:\n%s", ps, p.output())
	}
	if fi, err := os.Stat(fcgiSock); err != nil || fi.Mode()&os.ModeSocket == 0 {
		t.Errorf("the activated socket is gone after gatewayd stopped: %v", err)
	}
}
