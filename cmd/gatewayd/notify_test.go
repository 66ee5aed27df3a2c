//go:build unix

package main

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// notifySocket listens where gatewayd's NOTIFY_SOCKET points and returns
// the messages as they come.
func notifySocket(t *testing.T) (string, <-chan string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	msgs := make(chan string, 64)
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := c.Read(b)
			if err != nil {
				return
			}
			msgs <- string(b[:n])
		}
	}()
	return path, msgs
}

func nextNotify(t *testing.T, msgs <-chan string, want ...string) string {
	t.Helper()
	select {
	case m := <-msgs:
		for _, w := range want {
			if !regexp.MustCompile("(?m)^" + w + "$").MatchString(m) {
				t.Errorf("notify message lacks %s:\n%s", w, m)
			}
		}
		return m
	case <-time.After(10 * time.Second):
		t.Fatalf("no notify message with %q", want)
		return ""
	}
}

// TestNotify: a Type=notify-reload unit hears READY=1 once gatewayd
// serves, RELOADING=1 with MONOTONIC_USEC and READY=1 around a reload,
// good or bad, and STOPPING=1 with the time the drain may take.
func TestNotify(t *testing.T) {
	sock, msgs := notifySocket(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "gatewayd.hcl")
	good := "listen \"http\" {\n  address = \"127.0.0.1:0\"\n}\nmount \"/\" {\n  program = [\"/bin/true\"]\n}\n"
	os.WriteFile(conf, []byte(good), 0o644)
	cmd := exec.Command(binary, "serve", "--config", conf)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock)
	d := start(t, cmd)
	nextNotify(t, msgs, "READY=1", "STATUS=serving /bin/true on 1 listeners")

	d.reload()
	nextNotify(t, msgs, "RELOADING=1", `MONOTONIC_USEC=\d+`, "STATUS=reloading the configuration")
	nextNotify(t, msgs, "READY=1", "STATUS=serving /bin/true on 1 listeners")

	os.WriteFile(conf, []byte("mount \"/\" {\n  program = \"not a list\"\n}\n"), 0o644)
	d.reload()
	nextNotify(t, msgs, "RELOADING=1")
	nextNotify(t, msgs, "READY=1", "STATUS=serving /bin/true on 1 listeners; the last reload failed, see the log")

	d.cmd.Process.Signal(syscall.SIGTERM)
	// The drain may take --shutdown-timeout (30s), then the kill grace
	// (2s) and 10s.
	nextNotify(t, msgs, "STOPPING=1", "EXTEND_TIMEOUT_USEC=42000000")
	if err := d.wait(t); err != nil {
		t.Errorf("gatewayd: %v\n%s", err, d.log())
	}
	select {
	case m := <-msgs:
		t.Errorf("a message after STOPPING=1: %q", m)
	default:
	}
	if strings.Contains(d.log(), "cannot notify") {
		t.Errorf("notify failed:\n%s", d.log())
	}
}
