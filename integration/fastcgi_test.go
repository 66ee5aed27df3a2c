//go:build unix

package integration

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// cgiScripts are the programs the nginx tests run, in a cgi-bin directory.
var cgiScripts = map[string]string{
	"hello.cgi": `printf 'Content-Type: text/plain\r\n\r\n'
echo "hello $REQUEST_METHOD $SCRIPT_NAME $QUERY_STRING"
`,
	"sum.cgi": `printf 'Content-Type: text/plain\r\n\r\n'
echo "$CONTENT_LENGTH $(head -c "${CONTENT_LENGTH:-0}" | sha256sum | cut -d' ' -f1)"
`,
	"big.cgi": `printf 'Content-Type: application/octet-stream\r\n\r\n'
head -c 104857600 /dev/zero
`,
	"stderr.cgi": `echo "Hello, stderr!" >&2
printf 'Content-Type: text/plain\r\n\r\nok\n'
`,
	"crash.cgi": `echo "boom: cannot open database" >&2
exit 3
`,
	"stream.cgi": `echo $$ > "$PIDDIR/stream"
printf 'Content-Type: text/plain\r\n\r\n'
exec yes gatewayd
`,
	"env.cgi": `printf 'Content-Type: text/plain\r\n\r\n'
env
`,
}

// writeCGIBin writes cgiScripts into dir/cgi-bin.
func writeCGIBin(tb testing.TB, dir string) {
	tb.Helper()
	bin := filepath.Join(dir, "cgi-bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		tb.Fatal(err)
	}
	for name, body := range cgiScripts {
		if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\n"+body), 0o755); err != nil {
			tb.Fatal(err)
		}
	}
}

// TestNginxFastCGI serves the stock fcgiwrap snippet (configs/nginx/
// cgi-bin.conf) through nginx → gatewayd in each deployment users have.
func TestNginxFastCGI(t *testing.T) {
	variants := []struct {
		name        string
		unix        bool
		keepConn    bool
		noBuffering bool // fastcgi_request_buffering off
		stderr      bool // --fastcgi-stderr
	}{
		{name: "tcp"},
		{name: "unix", unix: true},
		{name: "tcp keep_conn", keepConn: true, stderr: true},
		{name: "unix keep_conn request_buffering off", unix: true, keepConn: true, noBuffering: true, stderr: true},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			dir := t.TempDir()
			lib := filepath.Join(dir, "lib")
			writeCGIBin(t, lib)
			pids := filepath.Join(dir, "pids")
			os.Mkdir(pids, 0o755)

			listen := "127.0.0.1:0"
			if v.unix {
				listen = "unix:" + filepath.Join(dir, "gatewayd.sock")
			}
			args := []string{"serve", "--fastcgi", listen, "--root", filepath.Join(lib, "cgi-bin"), "--kill-grace", "500ms"}
			if v.stderr {
				args = append(args, "--fastcgi-stderr")
			}
			// PIDDIR reaches the programs as a configured variable would:
			// through the web server, here by a fastcgi_param.
			gw, url := startGatewayd(t, args...)
			upstream := strings.TrimPrefix(strings.TrimPrefix(url, "fastcgi://"), "fastcgi+")

			var httpBlock, server string
			pass := upstream
			if v.keepConn {
				httpBlock = "upstream gatewayd { server " + upstream + "; keepalive 4; }"
				pass = "gatewayd"
				server = "fastcgi_keep_conn on;\n"
			}
			if v.noBuffering {
				server += "fastcgi_request_buffering off;\n"
			}
			conf := configSnippet(t, dir, "nginx/cgi-bin.conf",
				"/usr/lib", lib,
				"unix:/run/gatewayd/fastcgi.sock", pass,
				"include /etc/nginx/fastcgi_params;", "include /etc/nginx/fastcgi_params;\n\tfastcgi_param PIDDIR "+pids+";")
			port, errorLog := startNginx(t, httpBlock, server+"include "+conf+";")
			base := fmt.Sprintf("http://127.0.0.1:%d/cgi-bin", port)

			t.Run("GET", func(t *testing.T) {
				for range 3 { // kept connections are reused
					resp, body := httpGet(t, base+"/hello.cgi?a=1")
					if resp.StatusCode != 200 || body != "hello GET /cgi-bin/hello.cgi a=1\n" {
						t.Errorf("GET = %d %q", resp.StatusCode, body)
					}
				}
			})
			for _, size := range []int64{0, 1, 100 << 20} {
				t.Run("POST "+strconv.FormatInt(size, 10), func(t *testing.T) {
					sum := sha256.New()
					body := io.TeeReader(io.LimitReader(&pattern{}, size), sum)
					req, _ := http.NewRequest("POST", base+"/sum.cgi", body)
					req.ContentLength = size
					if size == 0 {
						req.Body = http.NoBody
					}
					got := do(t, req)
					if want := fmt.Sprintf("%d %x\n", size, sum.Sum(nil)); got != want {
						t.Errorf("POST %d bytes: program saw %q, want %q", size, got, want)
					}
				})
			}
			t.Run("chunked POST", func(t *testing.T) {
				sum := sha256.New()
				body := io.TeeReader(io.LimitReader(&pattern{}, 3<<20), sum)
				req, _ := http.NewRequest("POST", base+"/sum.cgi", io.NopCloser(body))
				req.ContentLength = -1
				if got, want := do(t, req), fmt.Sprintf("%d %x\n", 3<<20, sum.Sum(nil)); got != want {
					t.Errorf("chunked POST: program saw %q, want %q", got, want)
				}
			})
			t.Run("100 MiB response", func(t *testing.T) {
				resp, err := http.Get(base + "/big.cgi")
				if err != nil {
					t.Fatal(err)
				}
				sum := sha256.New()
				n, err := io.Copy(sum, resp.Body)
				resp.Body.Close()
				want := sha256.Sum256(make([]byte, 100<<20))
				if err != nil || n != 100<<20 || !bytes.Equal(sum.Sum(nil), want[:]) {
					t.Errorf("read %d bytes (%v), checksum %x; want 100 MiB of zeros", n, err, sum.Sum(nil))
				}
			})
			t.Run("stderr", func(t *testing.T) {
				if _, body := httpGet(t, base+"/stderr.cgi"); body != "ok\n" {
					t.Errorf("body = %q", body)
				}
				where, log := "gatewayd's log", func() string { return gw.output() }
				if v.stderr {
					where, log = "nginx's error log", func() string { b, _ := os.ReadFile(errorLog); return string(b) }
				}
				if !eventually(func() bool { return strings.Contains(log(), "Hello, stderr!") }) {
					t.Errorf("the program's stderr is not in %s", where)
				}
			})
			t.Run("crash", func(t *testing.T) {
				resp, body := httpGet(t, base+"/crash.cgi")
				if resp.StatusCode != 500 || body != "A server error occurred.  Please contact the administrator." {
					t.Errorf("GET = %d %q, want wsgiref's 500 page", resp.StatusCode, body)
				}
				if !eventually(func() bool { return strings.Contains(gw.output(), "exit_status=3") }) {
					t.Errorf("no failure line with the exit status in gatewayd's log")
				}
			})
			t.Run("client abort", func(t *testing.T) {
				os.Remove(filepath.Join(pids, "stream"))
				resp, err := http.Get(base + "/stream.cgi")
				if err != nil {
					t.Fatal(err)
				}
				io.ReadFull(resp.Body, make([]byte, 64<<10))
				pid := waitPidFile(t, filepath.Join(pids, "stream"))
				resp.Body.Close()
				http.DefaultTransport.(*http.Transport).CloseIdleConnections()
				goneWithinASecond(t, pid)
			})
		})
	}
}

// TestNginxFastCGIPathInfo: the snippet without its SCRIPT_FILENAME line,
// as its comment suggests: gatewayd walks DOCUMENT_ROOT + SCRIPT_NAME as
// fcgiwrap does, and the rest of the path becomes PATH_INFO.
func TestNginxFastCGIPathInfo(t *testing.T) {
	dir := t.TempDir()
	lib := filepath.Join(dir, "lib")
	writeCGIBin(t, lib)
	_, url := startGatewayd(t, "serve", "--fastcgi", "127.0.0.1:0", "--root", filepath.Join(lib, "cgi-bin"))
	conf := configSnippet(t, dir, "nginx/cgi-bin.conf", "/usr/lib", lib,
		"unix:/run/gatewayd/fastcgi.sock", strings.TrimPrefix(url, "fastcgi://"),
		"fastcgi_param SCRIPT_FILENAME /usr/lib$fastcgi_script_name;", "")
	port, _ := startNginx(t, "", "include "+conf+";")
	resp, body := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/cgi-bin/env.cgi/more/path?q=1", port))
	for _, want := range []string{"\nSCRIPT_NAME=/cgi-bin/env.cgi\n", "\nPATH_INFO=/more/path\n",
		"\nSCRIPT_FILENAME=" + filepath.Join(lib, "cgi-bin", "env.cgi") + "\n", "\nQUERY_STRING=q=1\n"} {
		if resp.StatusCode != 200 || !strings.Contains(body, want) {
			t.Errorf("env.cgi = %d, lacks %q:\n%s", resp.StatusCode, want, body)
		}
	}
}

// TestGitHTTPBackend clones and pushes a real repository through nginx →
// gatewayd → git http-backend, with configs/nginx/git-http-backend.conf
// and the command line it gives: git's chunked pushes are streamed.
func TestGitHTTPBackend(t *testing.T) {
	git := requirePeer(t, "git")
	backend := requirePeer(t, "/usr/lib/git-core/git-http-backend")
	dir := t.TempDir()
	srv := filepath.Join(dir, "srv", "git")
	run := func(dir string, args ...string) string { return runGit(t, git, dir, args...) }
	os.MkdirAll(srv, 0o755)
	run(srv, "init", "-q", "--bare", "repo.git")
	run(filepath.Join(srv, "repo.git"), "config", "http.receivepack", "true")

	_, url := startGatewayd(t, "serve", "--fastcgi", "unix:"+filepath.Join(dir, "git.sock"), "--stream-unknown-length", backend)
	sock := strings.TrimPrefix(url, "fastcgi+")
	conf := configSnippet(t, dir, "nginx/git-http-backend.conf", "/srv/git", srv, "unix:/run/gatewayd/git.sock", sock)
	port, _ := startNginx(t, "", "include "+conf+";")
	remote := fmt.Sprintf("http://127.0.0.1:%d/git/repo.git", port)

	work := filepath.Join(dir, "work")
	os.MkdirAll(work, 0o755)
	run(work, "init", "-q", "-b", "main")
	big := make([]byte, 8<<20) // a pack larger than any buffer on the way
	(&pattern{}).Read(big)
	os.WriteFile(filepath.Join(work, "big.bin"), big, 0o644)
	os.WriteFile(filepath.Join(work, "README"), []byte("first\n"), 0o644)
	run(work, "add", ".")
	run(work, "commit", "-q", "-m", "first")
	run(work, "push", "-q", remote, "main")

	clone := filepath.Join(dir, "clone")
	run(dir, "clone", "-q", "-b", "main", remote, clone)
	if b, _ := os.ReadFile(filepath.Join(clone, "big.bin")); !bytes.Equal(b, big) {
		t.Fatalf("cloned big.bin differs from the pushed one")
	}
	os.WriteFile(filepath.Join(clone, "README"), []byte("second\n"), 0o644)
	run(clone, "commit", "-q", "-am", "second")
	run(clone, "push", "-q", "origin", "main")
	run(work, "pull", "-q", remote, "main")
	if b, _ := os.ReadFile(filepath.Join(work, "README")); string(b) != "second\n" {
		t.Errorf("after push and pull README = %q", b)
	}
	if log := run(work, "log", "--format=%s"); log != "second\nfirst\n" {
		t.Errorf("git log = %q", log)
	}
}

// TestCgiFcgi uses libfcgi's cgi-fcgi as a third, independent client.
func TestCgiFcgi(t *testing.T) {
	cgiFcgi := requirePeer(t, "cgi-fcgi", "/usr/bin/cgi-fcgi")
	dir := t.TempDir()
	writeCGIBin(t, dir)
	_, url := startGatewayd(t, "serve", "--fastcgi", "127.0.0.1:0", "--root", filepath.Join(dir, "cgi-bin"))
	addr := strings.TrimPrefix(url, "fastcgi://")
	tests := []struct {
		name, script, body string
		env                []string
		want               string
	}{
		{"GET", "hello.cgi", "", []string{"REQUEST_METHOD=GET", "QUERY_STRING=x=1"},
			"Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nhello GET /hello.cgi x=1\n"},
		{"POST", "sum.cgi", "hello", []string{"REQUEST_METHOD=POST", "CONTENT_LENGTH=5", "QUERY_STRING="},
			fmt.Sprintf("Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n5 %x\n", sha256.Sum256([]byte("hello")))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(cgiFcgi, "-bind", "-connect", addr)
			cmd.Env = append([]string{"SCRIPT_FILENAME=" + filepath.Join(dir, "cgi-bin", tt.script),
				"SCRIPT_NAME=/" + tt.script, "SERVER_PROTOCOL=HTTP/1.1"}, tt.env...)
			cmd.Stdin = strings.NewReader(tt.body)
			out, err := cmd.Output()
			if err != nil || string(out) != tt.want {
				t.Errorf("cgi-fcgi = %q (%v), want %q", out, err, tt.want)
			}
		})
	}
}

// TestFastCGIListeners: a listening socket inherited on stdin (fd:0, as
// spawn-fcgi and Apache mod_fcgid start FastCGI programs), a second FastCGI
// listener and an HTTP one, all in one process.
func TestFastCGIListeners(t *testing.T) {
	cgiFcgi := requirePeer(t, "cgi-fcgi", "/usr/bin/cgi-fcgi")
	dir := t.TempDir()
	writeCGIBin(t, dir)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f, err := l.(*net.TCPListener).File()
	l.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sock := filepath.Join(dir, "second.sock")
	cmd := exec.Command(gatewayd, "serve", "--fastcgi", "fd:0", "--fastcgi", "unix:"+sock,
		"--http", "127.0.0.1:0", "--root", filepath.Join(dir, "cgi-bin"))
	cmd.Stdin = f
	p := startProcess(t, "gatewayd", cmd)
	var httpURL string
	if !eventually(func() bool {
		m := regexp.MustCompile(`url=(http://\S+)`).FindStringSubmatch(p.output())
		if m != nil {
			httpURL = m[1]
		}
		return m != nil && strings.Count(p.output(), "serving ") == 3
	}) {
		t.Fatalf("gatewayd does not serve three listeners:\n%s", p.output())
	}
	for _, connect := range []string{l.Addr().String(), sock} {
		c := exec.Command(cgiFcgi, "-bind", "-connect", connect)
		c.Env = []string{"REQUEST_METHOD=GET", "SCRIPT_FILENAME=" + filepath.Join(dir, "cgi-bin", "hello.cgi"),
			"SCRIPT_NAME=/hello.cgi", "QUERY_STRING=via", "SERVER_PROTOCOL=HTTP/1.1"}
		out, err := c.Output()
		if err != nil || !strings.HasSuffix(string(out), "hello GET /hello.cgi via\n") {
			t.Errorf("cgi-fcgi -connect %s = %q, %v", connect, out, err)
		}
	}
	if resp, body := httpGet(t, httpURL+"/hello.cgi?http"); resp.StatusCode != 200 || body != "hello GET /hello.cgi http\n" {
		t.Errorf("HTTP listener: %d %q", resp.StatusCode, body)
	}
}
