//go:build unix

package integration

import (
	"bufio"
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
	"strings"
	"testing"
	"time"
)

// The SCGI tests put each web server that speaks SCGI in front of `gatewayd
// serve --scgi --root`, with the snippet from configs/ that users would
// include, its production addresses replaced by the test's.

// scgiScripts are the programs the SCGI tests run, at the top of gatewayd's
// root. PIDDIR is replaced by the directory where they leave their pid.
var scgiScripts = map[string]string{
	"hello.sh": `printf 'Content-Type: text/plain\r\n\r\n'
echo "hello $REQUEST_METHOD $SCRIPT_NAME $PATH_INFO $QUERY_STRING"
`,
	// CONTENT_LENGTH is unset without a body (RFC 3875 §4.1.2).
	"sum.sh": `printf 'Content-Type: text/plain\r\n\r\n'
echo "${CONTENT_LENGTH-unset} $(head -c "${CONTENT_LENGTH:-0}" | sha256sum | cut -d' ' -f1)"
`,
	// RFC 3875 §6.2.2: gatewayd follows it itself.
	"local.sh": `printf 'Location: /hello.sh/redirected?from=local\r\n\r\n'
`,
	// RFC 3875 §6.2.3: 302 to the client.
	"redirect.sh": `printf 'Location: http://example.org/elsewhere\r\n\r\n'
`,
	"notfound.sh": `printf 'Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\nno such thing\n'
`,
	"big.sh": `printf 'Content-Type: application/octet-stream\r\n\r\n'
yes 0123456789abcdefghijklmnopqrstuvwxyzABC | head -c 52428800
`,
	"sleep.sh": `echo $$ > PIDDIR/sleep
exec sleep 60
`,
	"stream.sh": `echo $$ > PIDDIR/stream
printf 'Content-Type: text/plain\r\n\r\n'
exec yes gatewayd
`,
	"env.sh": `printf 'Content-Type: text/plain\r\n\r\n'
env
`,
}

// bigSum is the SHA-256 of big.sh's 50 MiB body.
func bigSum() [32]byte {
	line := "0123456789abcdefghijklmnopqrstuvwxyzABC\n"
	b := []byte(strings.Repeat(line, 52428800/len(line)+1))[:52428800]
	return sha256.Sum256(b)
}

// writeSCGIRoot writes scgiScripts into root, their pids going to pids.
func writeSCGIRoot(tb testing.TB, root, pids string) {
	tb.Helper()
	for _, d := range []string{root, pids} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			tb.Fatal(err)
		}
	}
	for name, body := range scgiScripts {
		body = strings.ReplaceAll(body, "PIDDIR", pids)
		if err := os.WriteFile(filepath.Join(root, name), []byte("#!/bin/sh\n"+body), 0o755); err != nil {
			tb.Fatal(err)
		}
	}
}

// scgiSetup is gatewayd serving an SCGI root, for a web server to front.
type scgiSetup struct {
	dir, root, pids string
	gw              *process
	url             string // as gatewayd logs it: scgi://HOST:PORT or scgi+unix:/path
}

// startSCGI starts gatewayd on a unix socket in the test's directory, or on
// a loopback port.
func startSCGI(t *testing.T, unix bool) *scgiSetup {
	s := &scgiSetup{dir: t.TempDir()}
	s.root, s.pids = filepath.Join(s.dir, "root"), filepath.Join(s.dir, "pids")
	writeSCGIRoot(t, s.root, s.pids)
	listen := "127.0.0.1:0"
	if unix {
		listen = "unix:" + filepath.Join(s.dir, "scgi.sock")
	}
	s.gw, s.url = startGatewayd(t, "serve", "--scgi", listen, "--root", s.root, "--kill-grace", "500ms")
	return s
}

// addr is gatewayd's address as nginx writes it: HOST:PORT or unix:/path.
func (s *scgiSetup) addr() string {
	return strings.TrimPrefix(strings.TrimPrefix(s.url, "scgi://"), "scgi+")
}

// webServer says what a web server in front of gatewayd does differently.
type webServer struct {
	// chunked is the status of a chunked upload: 200 when the web server
	// buffers it and sends CONTENT_LENGTH.
	chunked int
	// earlyAbort is what of a client leaving before the program wrote
	// anything the web server notices, and passes on by closing the
	// connection to gatewayd: "close" (a FIN, and so a reset too), or ""
	// (nothing reliably: Apache waits for the response header without
	// looking at its client; lighttpd takes a FIN for a half-close, and
	// notices a reset only some of the time — in 7 runs of 8 here — since
	// it stops watching a client whose request it has read).
	earlyAbort string
}

// TestNginxSCGI: nginx's scgi_pass with configs/nginx/scgi.conf and the
// stock scgi_params, over TCP and over a unix socket.
func TestNginxSCGI(t *testing.T) {
	for _, unix := range []bool{false, true} {
		t.Run(map[bool]string{false: "tcp", true: "unix"}[unix], func(t *testing.T) {
			s := startSCGI(t, unix)
			conf := configSnippet(t, s.dir, "nginx/scgi.conf", "unix:/run/gatewayd/scgi.sock", s.addr())
			port, _ := startNginx(t, "", "include "+conf+";")
			testWebServer(t, s, fmt.Sprintf("127.0.0.1:%d", port), webServer{chunked: 200, earlyAbort: "close"})
		})
	}
}

// TestNginxSCGIEnvironment: what nginx really sends over SCGI reaches the
// program: its own scgi_param variables; a header field on several lines,
// which nginx 1.22 sends as one HTTP_* parameter per line and gatewayd
// joins (while it refuses any other name sent twice); CONTENT_LENGTH only
// with a body, though nginx sends CONTENT_LENGTH 0 for every request
// without one.
func TestNginxSCGIEnvironment(t *testing.T) {
	s := startSCGI(t, false)
	conf := configSnippet(t, s.dir, "nginx/scgi.conf", "unix:/run/gatewayd/scgi.sock", s.addr(),
		"include /etc/nginx/scgi_params;", "include /etc/nginx/scgi_params;\n\tscgi_param FOO bar;")
	port, _ := startNginx(t, "", "include "+conf+";")
	web := fmt.Sprintf("127.0.0.1:%d", port)
	tests := []struct {
		name, request string
		want, not     []string
	}{
		{"repeated header fields",
			"GET /env.sh HTTP/1.1\r\nHost: localhost\r\nX-Foo: a\r\nX-Other: o\r\nX-Foo: b\r\n" +
				"Cookie: c=1\r\nCookie: d=2\r\nConnection: close\r\n\r\n",
			[]string{"FOO=bar", "HTTP_X_FOO=a, b", "HTTP_X_OTHER=o", "HTTP_COOKIE=c=1; d=2", "SCGI=1"},
			[]string{"CONTENT_LENGTH="}},
		{"POST with a body",
			"POST /env.sh HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
			[]string{"FOO=bar", "CONTENT_LENGTH=5"}, []string{"HTTP_CONTENT_LENGTH="}},
		{"POST with an empty body",
			"POST /env.sh HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
			[]string{"FOO=bar"}, []string{"CONTENT_LENGTH="}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", web)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			io.WriteString(c, tt.request)
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			env := "\n" + string(b)
			if resp.StatusCode != 200 {
				t.Fatalf("%s = %d %q, want 200", tt.name, resp.StatusCode, b)
			}
			for _, w := range tt.want {
				if !strings.Contains(env, "\n"+w+"\n") {
					t.Errorf("environment lacks %q:\n%s", w, b)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(env, "\n"+n) {
					t.Errorf("environment holds %q:\n%s", n, b)
				}
			}
		})
	}
	if strings.Contains(s.gw.output(), "request refused") {
		t.Errorf("gatewayd refused requests of nginx:\n%s", s.gw.output())
	}
}

// TestLighttpdSCGI: lighttpd's mod_scgi with configs/lighttpd/scgi.conf.
func TestLighttpdSCGI(t *testing.T) {
	s := startSCGI(t, true)
	sock := strings.TrimPrefix(s.url, "scgi+unix:")
	conf := configSnippet(t, s.dir, "lighttpd/scgi.conf", `"/run/gatewayd/scgi.sock"`, `"`+sock+`"`)
	port, _ := startLighttpd(t, s.root, `include "`+conf+`"`)
	testWebServer(t, s, fmt.Sprintf("127.0.0.1:%d", port), webServer{chunked: 200})
}

// TestApacheSCGI: Apache's mod_proxy_scgi with configs/apache/scgi.conf.
func TestApacheSCGI(t *testing.T) {
	s := startSCGI(t, false)
	conf := configSnippet(t, s.dir, "apache/scgi.conf", "127.0.0.1:4000", strings.TrimPrefix(s.url, "scgi://"))
	port, _ := startApache(t, []string{"proxy", "proxy_scgi", "setenvif"}, nil, "Include "+conf)
	// mod_proxy_scgi refuses a chunked upload: it sends what it has read,
	// and SCGI needs the length first.
	testWebServer(t, s, fmt.Sprintf("127.0.0.1:%d", port), webServer{chunked: 411})
}

// noRedirect is a client that shows redirects rather than following them.
var noRedirect = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Timeout:       60 * time.Second,
}

// testWebServer runs the requests every web server must pass through to
// gatewayd over SCGI; web is HOST:PORT of the web server.
func testWebServer(t *testing.T, s *scgiSetup, web string, ws webServer) {
	base := "http://" + web
	t.Run("GET", func(t *testing.T) {
		resp, body := httpGet(t, base+"/hello.sh/extra/path?a=1")
		if resp.StatusCode != 200 || body != "hello GET /hello.sh /extra/path a=1\n" {
			t.Errorf("GET = %d %q", resp.StatusCode, body)
		}
	})
	t.Run("environment", func(t *testing.T) {
		req, _ := http.NewRequest("GET", base+"/env.sh/x?q=1", nil)
		req.Header.Add("Cookie", "a=1")
		req.Header.Add("Cookie", "b=2")
		req.Header.Set("Proxy", "http://evil.example/")
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		env := "\n" + string(b)
		for _, want := range []string{"\nSCRIPT_NAME=/env.sh\n", "\nPATH_INFO=/x\n", "\nQUERY_STRING=q=1\n",
			"\nSCRIPT_FILENAME=" + filepath.Join(s.root, "env.sh") + "\n", "\nGATEWAY_INTERFACE=CGI/1.1\n",
			"\nREQUEST_METHOD=GET\n", "\nSCGI=1\n"} {
			if !strings.Contains(env, want) {
				t.Errorf("environment lacks %q:\n%s", want[1:], env)
			}
		}
		// Two Cookie fields: one HTTP_COOKIE, joined (SCGI protocol.txt forbids
		// duplicate names, but a repeated HTTP_* is joined, never refused).
		if !strings.Contains(env, "\nHTTP_COOKIE=a=1; b=2\n") && !strings.Contains(env, "\nHTTP_COOKIE=a=1, b=2\n") {
			t.Errorf("HTTP_COOKIE not joined:\n%s", env)
		}
		if strings.Contains(env, "\nHTTP_PROXY=") {
			t.Errorf("HTTP_PROXY passed:\n%s", env)
		}
	})
	for _, size := range []int64{0, 1, 1 << 20} {
		t.Run(fmt.Sprintf("POST %d", size), func(t *testing.T) {
			sum := sha256.New()
			body := io.TeeReader(io.LimitReader(&pattern{}, size), sum)
			req, _ := http.NewRequest("POST", base+"/sum.sh", body)
			req.ContentLength = size
			if size == 0 {
				req.Body = http.NoBody
			}
			length := fmt.Sprint(size)
			if size == 0 {
				length = "unset"
			}
			if got, want := do(t, req), fmt.Sprintf("%s %x\n", length, sum.Sum(nil)); got != want {
				t.Errorf("POST %d bytes: program saw %q, want %q", size, got, want)
			}
		})
	}
	t.Run("chunked POST", func(t *testing.T) {
		body := make([]byte, 3<<20)
		(&pattern{}).Read(body)
		sum := sha256.Sum256(body)
		// The client may still be sending when a web server refuses.
		req, _ := http.NewRequest("POST", base+"/sum.sh", io.NopCloser(bytes.NewReader(body)))
		req.ContentLength = -1
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != ws.chunked {
			t.Fatalf("chunked POST = %d %q, want %d", resp.StatusCode, got, ws.chunked)
		}
		if want := fmt.Sprintf("%d %x\n", 3<<20, sum); ws.chunked == 200 && string(got) != want {
			t.Errorf("chunked POST: program saw %q, want %q", got, want)
		}
	})
	t.Run("local redirect", func(t *testing.T) {
		resp, body := httpGet(t, base+"/local.sh")
		if resp.StatusCode != 200 || body != "hello GET /hello.sh /redirected from=local\n" {
			t.Errorf("GET = %d %q, want the redirect's target", resp.StatusCode, body)
		}
	})
	t.Run("client redirect", func(t *testing.T) {
		resp, err := noRedirect.Get(base + "/redirect.sh")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); resp.StatusCode != 302 || loc != "http://example.org/elsewhere" {
			t.Errorf("GET = %d, Location %q; want 302 to http://example.org/elsewhere", resp.StatusCode, loc)
		}
	})
	t.Run("404 from the program", func(t *testing.T) {
		resp, body := httpGet(t, base+"/notfound.sh")
		if resp.StatusCode != 404 || body != "no such thing\n" {
			t.Errorf("GET = %d %q, want the program's 404", resp.StatusCode, body)
		}
	})
	t.Run("no such script", func(t *testing.T) {
		if resp, body := httpGet(t, base+"/nonexistent.sh"); resp.StatusCode != 404 {
			t.Errorf("GET = %d %q, want 404", resp.StatusCode, body)
		}
	})
	t.Run("50 MiB response", func(t *testing.T) {
		resp, err := http.Get(base + "/big.sh")
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.New()
		n, err := io.Copy(sum, resp.Body)
		resp.Body.Close()
		if want := bigSum(); err != nil || n != 52428800 || string(sum.Sum(nil)) != string(want[:]) {
			t.Errorf("read %d bytes (%v), SHA-256 %x; want 52428800, %x", n, err, sum.Sum(nil), want)
		}
	})
	t.Run("client abort mid-response", func(t *testing.T) {
		c := rawGet(t, web, "/stream.sh")
		io.ReadFull(bufio.NewReader(c), make([]byte, 64<<10))
		pid := waitPidFile(t, filepath.Join(s.pids, "stream"))
		c.Close()
		goneWithinASecond(t, pid)
	})
	t.Run("client close before output", func(t *testing.T) {
		if ws.earlyAbort != "close" {
			t.Skip("this web server waits for the response of a client that closed")
		}
		os.Remove(filepath.Join(s.pids, "sleep"))
		c := rawGet(t, web, "/sleep.sh")
		pid := waitPidFile(t, filepath.Join(s.pids, "sleep"))
		c.Close()
		goneWithinASecond(t, pid)
	})
	t.Run("client reset before output", func(t *testing.T) {
		if ws.earlyAbort == "" {
			t.Skip("this web server waits for the response of a client that is gone")
		}
		os.Remove(filepath.Join(s.pids, "sleep"))
		c := rawGet(t, web, "/sleep.sh")
		pid := waitPidFile(t, filepath.Join(s.pids, "sleep"))
		c.(*net.TCPConn).SetLinger(0) // close with RST
		c.Close()
		goneWithinASecond(t, pid)
	})
	t.Run("no refused requests", func(t *testing.T) {
		if strings.Contains(s.gw.output(), "request refused") {
			t.Errorf("gatewayd refused requests of a real web server:\n%s", s.gw.output())
		}
	})
}

// rawGet sends GET path on a new connection to the web server, leaving it
// open.
func rawGet(t *testing.T, web, path string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", web)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n", path)
	return c
}

// TestREADMEWebServers runs the README's sections on serving behind nginx
// over FastCGI and over SCGI: each one's gatewayd command, its nginx block
// (whose lines must be those of its snippet in configs/nginx/) and its curl
// line, with the cgi-bin set-up of the section before them. Only the
// addresses change: gatewayd's port is one the system picks, nginx's a
// free one.
func TestREADMEWebServers(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	block := func(section, lang string) string {
		t.Helper()
		_, s, _ := strings.Cut(string(readme), section)
		s, _, _ = strings.Cut(s, "\n## ")
		_, b, ok := strings.Cut(s, "```"+lang+"\n")
		b, _, _ = strings.Cut(b, "```")
		if !ok {
			t.Fatalf("README's %q section has no %s block", section, lang)
		}
		return b
	}
	setup, _, _ := strings.Cut(block("## Serving a cgi-bin directory", "sh"), "go run ./cmd/gatewayd ")
	for _, tt := range []struct{ section, flag, addr, scheme, snippet string }{
		{"## Behind nginx over FastCGI", "--fastcgi", "127.0.0.1:9000", "fastcgi://", "fastcgi.conf"},
		{"## Behind a web server over SCGI", "--scgi", "127.0.0.1:4000", "scgi://", "scgi.conf"},
	} {
		t.Run(tt.flag, func(t *testing.T) {
			serveLine := strings.TrimSpace(block(tt.section, "sh"))
			nginxBlock := block(tt.section, "nginx")
			console := block(tt.section, "console")

			dir := t.TempDir()
			sh := exec.Command("sh", "-e", "-c", setup)
			sh.Dir = dir
			if out, err := sh.CombinedOutput(); err != nil {
				t.Fatalf("README set-up: %v\n%s", err, out)
			}
			args, ok := strings.CutPrefix(serveLine, "go run ./cmd/gatewayd ")
			if !ok || !strings.Contains(args, tt.flag+" "+tt.addr) {
				t.Fatalf("README's command is %q, want go run ./cmd/gatewayd serve %s %s …", serveLine, tt.flag, tt.addr)
			}
			cmd := exec.Command(gatewayd, strings.Fields(strings.Replace(args, tt.addr, "127.0.0.1:0", 1))...)
			cmd.Dir = dir
			gw := startProcess(t, "gatewayd", cmd)
			var url string
			if !eventually(func() bool {
				m := servingURL.FindStringSubmatch(gw.output())
				if m != nil {
					url = m[1]
				}
				return m != nil
			}) {
				t.Fatalf("gatewayd %s did not start serving:\n%s", args, gw.output())
			}

			// The README's block is the snippet's, with another address.
			snippet, err := os.ReadFile(filepath.Join(configsDir(t), "nginx", tt.snippet))
			if err != nil {
				t.Fatal(err)
			}
			for _, line := range strings.Split(strings.TrimSpace(nginxBlock), "\n") {
				if !strings.Contains(line, tt.addr) && !strings.Contains(string(snippet), line) {
					t.Errorf("README's nginx line %q is not in configs/nginx/%s", line, tt.snippet)
				}
			}
			port, _ := startNginx(t, "", strings.ReplaceAll(nginxBlock, tt.addr, strings.TrimPrefix(url, tt.scheme)))

			m := regexp.MustCompile(`\$ curl -d '([^']*)' http://localhost(/\S*)\n(.*)\n`).FindStringSubmatch(console)
			if m == nil {
				t.Fatalf("README's console block has no curl -d line: %q", console)
			}
			resp, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d%s", port, m[2]), "application/x-www-form-urlencoded", strings.NewReader(m[1]))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(body) != m[3]+"\n" {
				t.Errorf("README example printed %q, README says %q", body, m[3])
			}
		})
	}
}

// TestLighttpdSCGIFixRootScriptname: with fix-root-scriptname lighttpd
// sends the document root as SCRIPT_FILENAME and the whole path as
// PATH_INFO; gatewayd finds a script in a subdirectory along the path, as
// configs/lighttpd/scgi.conf says.
func TestLighttpdSCGIFixRootScriptname(t *testing.T) {
	s := startSCGI(t, true)
	sub := filepath.Join(s.root, "sub")
	os.MkdirAll(sub, 0o755)
	os.WriteFile(filepath.Join(sub, "env.sh"), []byte("#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\nenv\n"), 0o755)
	sock := strings.TrimPrefix(s.url, "scgi+unix:")
	conf := configSnippet(t, s.dir, "lighttpd/scgi.conf", `"/run/gatewayd/scgi.sock"`, `"`+sock+`"`,
		`"check-local" => "disable",`, `"check-local" => "disable", "fix-root-scriptname" => "enable",`)
	port, _ := startLighttpd(t, s.root, `include "`+conf+`"`)
	resp, body := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/sub/env.sh/more?q=1", port))
	for _, want := range []string{"\nSCRIPT_NAME=/sub/env.sh\n", "\nPATH_INFO=/more\n", "\nQUERY_STRING=q=1\n"} {
		if resp.StatusCode != 200 || !strings.Contains("\n"+body, want) {
			t.Errorf("GET /sub/env.sh/more = %d, lacks %q:\n%s", resp.StatusCode, want, body)
		}
	}
}
