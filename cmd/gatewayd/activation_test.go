//go:build unix

package main

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// socketActivate returns the systemd-socket-activate command that passes
// gatewayd the sockets of addrs, named names (FileDescriptorName), with
// args; PATH is passed on, as a unit's Environment= would.
func socketActivate(t *testing.T, addrs, names []string, args ...string) *exec.Cmd {
	t.Helper()
	sa, err := exec.LookPath("systemd-socket-activate")
	if err != nil {
		if os.Getenv("GATEWAYD_INTEGRATION") != "" {
			t.Fatal("systemd-socket-activate (package systemd) is needed")
		}
		t.Skip("no systemd-socket-activate")
	}
	cmdArgs := []string{"-E", "PATH", "--fdname=" + strings.Join(names, ":")}
	for _, a := range addrs {
		cmdArgs = append(cmdArgs, "-l", a)
	}
	return exec.Command(sa, append(append(cmdArgs, binary), args...)...)
}

// waitListening waits until something listens on addr.
func waitListening(t *testing.T, network, addr string) {
	t.Helper()
	for i := 0; ; i++ {
		c, err := net.Dial(network, addr)
		if err == nil {
			c.Close()
			return
		}
		if i == 500 {
			t.Fatalf("nothing listens on %s: %v", addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// TestSocketActivation: "systemd" serves every socket systemd passed and
// "systemd:NAME" those of that name; the sockets' variables reach no
// program; an activated unix socket outlives gatewayd, as systemd owns it.
func TestSocketActivation(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "web.sock")
	tcp := "127.0.0.1:" + freePort(t)
	// systemd-socket-activate runs gatewayd at the first connection.
	cmd := socketActivate(t, []string{tcp, sock}, []string{"web", "web"}, "serve", "--http", "systemd:web")
	var logs syncBuffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	waitListening(t, "tcp", tcp)
	_, body := get(t, "http://"+tcp+"/")
	if strings.Contains(body, "LISTEN_") || !strings.Contains(body, "GATEWAY_INTERFACE") {
		t.Errorf("the demo app's environment over TCP:\n%s", body)
	}
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	resp, err := c.Get("http://gatewayd/")
	if err != nil {
		t.Fatalf("GET over the activated unix socket: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("GET over the activated unix socket: %d", resp.StatusCode)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := <-exited; err != nil {
		t.Errorf("gatewayd: %v\n%s", err, logs.String())
	}
	exited <- nil // for the cleanup
	if fi, err := os.Stat(sock); err != nil || fi.Mode()&os.ModeSocket == 0 {
		t.Errorf("the activated socket %s is gone after gatewayd stopped: %v", sock, err)
	}
}

// TestSocketActivationErrors: an ADDR that asks for sockets systemd did not
// pass, or LISTEN_FDS that is not a count, stops serve with a message that
// says so.
func TestSocketActivationErrors(t *testing.T) {
	tcp := "127.0.0.1:" + freePort(t)
	for _, tc := range []struct {
		name string
		cmd  *exec.Cmd
		want string
	}{
		{"no such name", socketActivate(t, []string{tcp}, []string{"web"}, "serve", "--http", "systemd:api"),
			`listen systemd:api: no socket named "api" was passed (FileDescriptorName); passed: web`},
		{"none passed", exec.Command(binary, "serve", "--fastcgi", "systemd"),
			"listen systemd: no sockets were passed (LISTEN_FDS)"},
		{"bad LISTEN_FDS", exec.Command(binary, "serve", "--scgi", "systemd"),
			`LISTEN_FDS="two" is not a number of sockets`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "bad LISTEN_FDS" {
				// LISTEN_PID must be gatewayd's own: a shell sets it
				// to its pid and then becomes gatewayd.
				tc.cmd = exec.Command("/bin/sh", "-c", `LISTEN_PID=$$ LISTEN_FDS=two exec "$0" serve --scgi systemd`, binary)
			}
			var out syncBuffer
			tc.cmd.Stdout, tc.cmd.Stderr = &out, &out
			if err := tc.cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- tc.cmd.Wait() }()
			if tc.name == "no such name" {
				// systemd-socket-activate runs gatewayd at the first
				// connection.
				waitListening(t, "tcp", tcp)
			}
			var err error
			select {
			case err = <-exited:
			case <-time.After(30 * time.Second):
				tc.cmd.Process.Kill()
				t.Fatalf("serve did not exit:\n%s", out.String())
			}
			if ee, ok := err.(*exec.ExitError); !ok || ee.Sys().(syscall.WaitStatus).ExitStatus() != 1 {
				t.Fatalf("exit %v, want status 1:\n%s", err, out.String())
			}
			if !strings.Contains(out.String(), tc.want) {
				t.Errorf("output lacks %q:\n%s", tc.want, out.String())
			}
		})
	}
}
