//go:build unix

package main

import (
	"bytes"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"gatewayd/protocol/scgi"
)

// scgiGet sends an SCGI request for path, as nginx's scgi_params describes
// it, to network/addr and returns the whole response.
func scgiGet(t *testing.T, network, addr, path string) string {
	t.Helper()
	c, err := net.DialTimeout(network, addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	c.Write(scgi.AppendHeader(nil, 0, []scgi.Param{
		{Name: "REQUEST_METHOD", Value: "GET"}, {Name: "REQUEST_URI", Value: path},
		{Name: "DOCUMENT_URI", Value: path}, {Name: "SERVER_PROTOCOL", Value: "HTTP/1.1"},
		{Name: "REMOTE_ADDR", Value: "192.0.2.1"},
	}))
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var scgiURL = regexp.MustCompile(`url="?scgi(?:://|\+unix:)([^\s"]+)`)

// TestServeSCGI: `gatewayd serve --scgi` on a port and a unix socket, with
// --http in the same process, all served by one handler.
func TestServeSCGI(t *testing.T) {
	root := t.TempDir()
	writeScript(t, root, "hello.sh", `printf 'Content-Type: text/plain\r\n\r\n'
echo "hello $REMOTE_ADDR $SCRIPT_NAME $PATH_INFO"
`)
	writeScript(t, root, "slow.sh", `sleep 1
printf 'Content-Type: text/plain\r\n\r\nfinished\n'
`)
	sock := filepath.Join(t.TempDir(), "scgi.sock")
	d := start(t, exec.Command(binary, "serve", "--http", "127.0.0.1:0",
		"--scgi", "127.0.0.1:0", "--scgi", "unix:"+sock, "--root", root))
	var urls []string
	deadline := time.Now().Add(10 * time.Second)
	for len(urls) < 2 && time.Now().Before(deadline) {
		urls = nil
		for _, m := range scgiURL.FindAllStringSubmatch(d.log(), -1) {
			urls = append(urls, m[1])
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(urls) != 2 || urls[1] != sock {
		t.Fatalf("SCGI listeners logged: %q, want a port and %s:\n%s", urls, sock, d.log())
	}

	want := "Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nhello 192.0.2.1 /hello.sh /x\n"
	for _, l := range []struct{ network, addr string }{{"tcp", urls[0]}, {"unix", sock}} {
		if got := scgiGet(t, l.network, l.addr, "/hello.sh/x"); got != want {
			t.Errorf("SCGI over %s = %q, want %q", l.network, got, want)
		}
	}
	if resp, body := get(t, d.url+"/hello.sh/x"); resp.StatusCode != 200 || !strings.HasPrefix(body, "hello 127.0.0.1 /hello.sh /x") {
		t.Errorf("HTTP beside SCGI = %d %q", resp.StatusCode, body)
	}
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o660 {
		t.Errorf("socket %s: %v, mode %v; want 0660", sock, err, fi.Mode().Perm())
	}

	// SIGTERM lets an SCGI request in flight finish, then removes the
	// socket.
	res := make(chan string)
	go func() {
		c, err := net.Dial("unix", sock)
		if err != nil {
			res <- err.Error()
			return
		}
		defer c.Close()
		c.Write(scgi.AppendHeader(nil, 0, []scgi.Param{{Name: "DOCUMENT_URI", Value: "/slow.sh"}}))
		var b bytes.Buffer
		io.Copy(&b, c)
		res <- b.String()
	}()
	time.Sleep(300 * time.Millisecond) // the request is running
	d.signal(syscall.SIGTERM)
	if got := <-res; got != "Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nfinished\n" {
		t.Errorf("SCGI request in flight during shutdown = %q", got)
	}
	if err := d.wait(t); err != nil {
		t.Errorf("gatewayd exited with %v:\n%s", err, d.log())
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("socket left after shutdown: %v", err)
	}
}

// TestServeSCGICommandLine: --scgi takes the ADDR forms of every front-end.
func TestServeSCGICommandLine(t *testing.T) {
	tests := []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"serve", "--scgi", "nonsense"}, 2, "HOST:PORT"},
		{[]string{"serve", "--scgi", "unix:"}, 2, "empty path"},
		{[]string{"serve", "--scgi", "127.0.0.1:0", "--scgi", "127.0.0.1:0"}, 2, "given twice"},
		{[]string{"serve", "--help"}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			cmd := exec.Command(binary, tt.args...)
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			}
			if code != tt.code || !strings.Contains(stderr.String(), tt.err) {
				t.Errorf("gatewayd %v: exit %d, stderr %q; want exit %d, stderr with %q", tt.args, code, stderr.String(), tt.code, tt.err)
			}
			if tt.code == 0 && !strings.Contains(stdout.String(), "--scgi ADDR") {
				t.Errorf("gatewayd %v does not list --scgi ADDR:\n%s", tt.args, stdout.String())
			}
		})
	}
}
