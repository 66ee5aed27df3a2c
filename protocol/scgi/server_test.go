package scgi_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"gatewayd/handler"
	"gatewayd/handler/subprocess"
	"gatewayd/protocol/scgi"
)

// appFunc is an App in this process: f writes a CGI response to w. It
// must return when ctx ends or a write fails.
type appFunc func(ctx context.Context, c *handler.Call, w io.Writer) error

func (f appFunc) Start(ctx context.Context, c *handler.Call) (handler.Run, error) {
	pr, pw := io.Pipe()
	r := &funcRun{pr: pr, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		pw.CloseWithError(f(ctx, c, pw))
	}()
	return r, nil
}

type funcRun struct {
	pr   *io.PipeReader
	done chan struct{}
}

func (r *funcRun) Read(p []byte) (int, error) { return r.pr.Read(p) }

func (r *funcRun) Wait() handler.Exit {
	r.pr.Close()
	<-r.done
	return handler.Exit{}
}

// recorder is an app that records each call's environment and body and
// answers with a fixed response.
type recorder struct {
	response string
	mu       sync.Mutex
	calls    []recorded
}

type recorded struct {
	env     map[string]string
	body    string
	bodyErr error
}

func (r *recorder) app() appFunc {
	return func(_ context.Context, c *handler.Call, w io.Writer) error {
		b, err := io.ReadAll(c.Body)
		r.mu.Lock()
		r.calls = append(r.calls, recorded{env: c.Env, body: string(b), bodyErr: err})
		r.mu.Unlock()
		_, err = io.WriteString(w, r.response)
		return err
	}
}

func (r *recorder) recorded() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recorded(nil), r.calls...)
}

// logBuffer collects log output from several goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// count returns how many log lines contain s.
func (l *logBuffer) count(s string) int { return strings.Count(l.String(), s) }

// testServer is a Server on a loopback port, shut down when the test ends.
type testServer struct {
	srv  *scgi.Server
	addr string
	logs *logBuffer
	done chan error // Serve's result
}

func startServer(t *testing.T, hc handler.Config, sc scgi.Config) *testServer {
	t.Helper()
	ts := &testServer{logs: &logBuffer{}, done: make(chan error, 1)}
	if hc.Logger == nil {
		hc.Logger = hclog.NewNullLogger()
	}
	h, err := handler.New(hc)
	if err != nil {
		t.Fatal(err)
	}
	sc.Handler = h
	sc.Logger = hclog.New(&hclog.LoggerOptions{Name: "scgi", Output: ts.logs, Level: hclog.Debug})
	ts.srv = scgi.New(sc)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.addr = l.Addr().String()
	go func() { ts.done <- ts.srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := ts.srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-ts.done; !errors.Is(err, scgi.ErrServerClosed) {
			t.Errorf("Serve = %v, want ErrServerClosed", err)
		}
	})
	return ts
}

func dial(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return c.(*net.TCPConn)
}

// do sends raw on a new connection, half-closing it after when closeWrite
// is set, and returns all the server sent until it closed the connection.
func do(t *testing.T, addr, raw string, closeWrite bool) string {
	t.Helper()
	c := dial(t, addr)
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	if closeWrite {
		c.CloseWrite()
	}
	var out bytes.Buffer
	_, err := io.Copy(&out, c)
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		t.Fatalf("the server did not close the connection; it sent %q", out.String())
	}
	return out.String()
}

// request encodes an SCGI request with params and body.
func request(body string, params ...string) string {
	var ps []scgi.Param
	for i := 0; i+1 < len(params); i += 2 {
		ps = append(ps, scgi.Param{Name: params[i], Value: params[i+1]})
	}
	return string(scgi.AppendHeader(nil, int64(len(body)), ps)) + body
}

// TestSpecExample: SCGI protocol.txt's example request, its CGI variables
// and body, and the response in gateway form followed by the close (§2).
func TestSpecExample(t *testing.T) {
	rec := &recorder{response: "Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n42"}
	ts := startServer(t, handler.Config{App: rec.app()}, scgi.Config{})
	got := do(t, ts.addr, spec, false)
	if want := "Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n42"; got != want {
		t.Errorf("response = %q, want %q", got, want)
	}
	calls := rec.recorded()
	if len(calls) != 1 {
		t.Fatalf("%d calls, want 1", len(calls))
	}
	c := calls[0]
	for k, want := range map[string]string{
		"REQUEST_METHOD": "POST", "REQUEST_URI": "/deepthought", "CONTENT_LENGTH": "27", "SCGI": "1",
		"SCRIPT_NAME": "", "PATH_INFO": "/deepthought", "GATEWAY_INTERFACE": "CGI/1.1",
	} {
		if got, ok := c.env[k]; !ok || got != want {
			t.Errorf("%s = %q (set %v), want %q", k, got, ok, want)
		}
	}
	if c.body != specBody || c.bodyErr != nil {
		t.Errorf("body = %q, %v; want %q", c.body, c.bodyErr, specBody)
	}
}

// TestRejects: every header case that the codec refuses closes the connection
// with nothing sent, runs no program and logs one line with the reason.
func TestRejects(t *testing.T) {
	rec := &recorder{response: "Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nran"}
	ts := startServer(t, handler.Config{App: rec.app()}, scgi.Config{})
	for _, tt := range scgCases {
		if tt.err == nil && tt.tooLarge == 0 && tt.dup == "" || tt.err == io.EOF {
			continue
		}
		t.Run(tt.id, func(t *testing.T) {
			before := ts.logs.count("request refused")
			logged := len(ts.logs.String())
			c := dial(t, ts.addr)
			io.WriteString(c, tt.in)
			c.CloseWrite()
			got, err := io.ReadAll(c) // EOF, or a reset when input was left unread
			if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
				t.Fatal("the connection was not closed")
			}
			if len(got) != 0 {
				t.Errorf("server sent %q, want nothing", got)
			}
			if n := ts.logs.count("request refused") - before; n != 1 {
				t.Errorf("%d refusal lines logged, want 1:\n%s", n, ts.logs)
			}
			if line := ts.logs.String()[logged:]; tt.dup != "" && !strings.Contains(line, `duplicate header name \"`+tt.dup+`\"`) {
				t.Errorf("refusal %q does not name %s", line, tt.dup)
			}
		})
	}
	if n := len(rec.recorded()); n != 0 {
		t.Errorf("the app ran %d times for malformed requests", n)
	}
	want := []string{
		"first header is not CONTENT_LENGTH", "bad CONTENT_LENGTH", "no SCGI header", "SCGI header is not 1",
		"empty header name", "not NUL-terminated", "odd number", "not terminated by ','", "bad netstring length",
		"over the limit of 65536", "unexpected EOF", "duplicate header name",
	}
	for _, w := range want {
		if !strings.Contains(ts.logs.String(), w) {
			t.Errorf("no refusal logged with %q:\n%s", w, ts.logs)
		}
	}
}

// TestQuietClose: a connection closed before its first byte (a port probe)
// is no refused request.
func TestQuietClose(t *testing.T) {
	ts := startServer(t, handler.Config{App: (&recorder{}).app()}, scgi.Config{})
	if got := do(t, ts.addr, "", true); got != "" {
		t.Errorf("server sent %q", got)
	}
	if n := ts.logs.count("request refused"); n != 0 {
		t.Errorf("%d refusals logged for an empty connection:\n%s", n, ts.logs)
	}
}

// TestReadHeaderTimeout: a peer that stops in the middle of its header is
// cut off after ReadHeaderTimeout.
func TestReadHeaderTimeout(t *testing.T) {
	ts := startServer(t, handler.Config{App: (&recorder{}).app()}, scgi.Config{ReadHeaderTimeout: 50 * time.Millisecond})
	if got := do(t, ts.addr, spec[:20], false); got != "" {
		t.Errorf("server sent %q", got)
	}
	if !strings.Contains(ts.logs.String(), "i/o timeout") {
		t.Errorf("no timeout logged:\n%s", ts.logs)
	}
}

// TestTruncatedBody: the web server closes the connection one byte short
// of CONTENT_LENGTH: the program reads the 26 bytes that came and then an
// error, and nothing hangs.
func TestTruncatedBody(t *testing.T) {
	rec := &recorder{response: "Content-Type: text/plain\r\n\r\nok"}
	ts := startServer(t, handler.Config{App: rec.app()}, scgi.Config{})
	do(t, ts.addr, spec[:len(spec)-1], true)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for len(rec.recorded()) == 0 && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	calls := rec.recorded()
	if len(calls) != 1 {
		t.Fatalf("%d calls, want 1", len(calls))
	}
	if c := calls[0]; c.body != specBody[:26] || !errors.Is(c.bodyErr, io.ErrUnexpectedEOF) {
		t.Errorf("program read %q, %v; want %q and io.ErrUnexpectedEOF", c.body, c.bodyErr, specBody[:26])
	}
}

// TestByteAtATime: the spec request written one byte per write.
func TestByteAtATime(t *testing.T) {
	rec := &recorder{response: "Content-Type: text/plain\r\n\r\n42"}
	ts := startServer(t, handler.Config{App: rec.app()}, scgi.Config{})
	c := dial(t, ts.addr)
	for i := range len(spec) {
		if _, err := c.Write([]byte{spec[i]}); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := io.ReadAll(c)
	if want := "Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n42"; string(got) != want {
		t.Errorf("response = %q, want %q", got, want)
	}
	if calls := rec.recorded(); len(calls) != 1 || calls[0].body != specBody {
		t.Errorf("calls = %+v, want one with the spec body", calls)
	}
}

// TestEnviron: how header params become the CGI environment: repeated
// HTTP_* names, raw bytes, and SCRIPT_NAME and PATH_INFO for web servers
// that send neither.
func TestEnviron(t *testing.T) {
	rec := &recorder{response: "Content-Type: text/plain\r\n\r\n"}
	ts := startServer(t, handler.Config{App: rec.app()}, scgi.Config{})
	unset := "\x00unset"
	tests := []struct {
		name   string
		params []string
		want   map[string]string
	}{
		{"HTTP_COOKIE three times, as nginx 1.22 sends it",
			[]string{"HTTP_COOKIE", "a=1", "HTTP_COOKIE", "b=2", "HTTP_COOKIE", "c=3"},
			map[string]string{"HTTP_COOKIE": "a=1; b=2; c=3"}},
		{"other HTTP_* joined with comma",
			[]string{"HTTP_ACCEPT", "text/html", "HTTP_ACCEPT", "text/plain"},
			map[string]string{"HTTP_ACCEPT": "text/html, text/plain"}},
		{"HTTP_X_FOO twice, apart, as nginx 1.22 sends X-Foo, X-Other, X-Foo",
			[]string{"HTTP_X_FOO", "a", "HTTP_X_OTHER", "o", "HTTP_X_FOO", "b"},
			map[string]string{"HTTP_X_FOO": "a, b", "HTTP_X_OTHER": "o"}},
		{"the web server's own variables (scgi_param, SetEnv)",
			[]string{"FOO", "bar", "HTTPS", "on", "proxy-scgi-pathinfo", "1", "EMPTY", ""},
			map[string]string{"FOO": "bar", "HTTPS": "on", "proxy-scgi-pathinfo": "1", "EMPTY": ""}},
		{"latin-1 bytes", []string{"HTTP_X_L1", "caf\xe9"}, map[string]string{"HTTP_X_L1": "caf\xe9"}},
		{"httpoxy", []string{"HTTP_PROXY", "http://evil/"}, map[string]string{"HTTP_PROXY": unset}},
		{"nginx: PATH_INFO from DOCUMENT_URI",
			[]string{"REQUEST_URI", "/a%20b/c.sh/x?q=1", "DOCUMENT_URI", "/a b/c.sh/x"},
			map[string]string{"SCRIPT_NAME": "", "PATH_INFO": "/a b/c.sh/x"}},
		{"PATH_INFO from REQUEST_URI, decoded",
			[]string{"REQUEST_URI", "//a%20b/c%2Fd?q=%20"},
			map[string]string{"SCRIPT_NAME": "", "PATH_INFO": "/a b/c/d"}},
		{"PATH_INFO from an absolute-form REQUEST_URI",
			[]string{"REQUEST_URI", "http://example.org/x/y?q"},
			map[string]string{"SCRIPT_NAME": "", "PATH_INFO": "/x/y"}},
		{"PATH_INFO from a REQUEST_URI with a bad escape, raw",
			[]string{"REQUEST_URI", "/a%zz"},
			map[string]string{"SCRIPT_NAME": "", "PATH_INFO": "/a%zz"}},
		{"neither URI: no PATH_INFO", nil, map[string]string{"SCRIPT_NAME": "", "PATH_INFO": unset}},
		{"SCRIPT_NAME sent: taken as it is",
			[]string{"SCRIPT_NAME", "/app/x.sh", "REQUEST_URI", "/app/x.sh", "DOCUMENT_URI", "/app/x.sh"},
			map[string]string{"SCRIPT_NAME": "/app/x.sh", "PATH_INFO": unset}},
		{"PATH_INFO sent: taken as it is",
			[]string{"PATH_INFO", "/p", "REQUEST_URI", "/q"},
			map[string]string{"SCRIPT_NAME": "", "PATH_INFO": "/p"}},
		{"Apache's proxy:scgi SCRIPT_FILENAME dropped",
			[]string{"SCRIPT_FILENAME", "proxy:scgi://127.0.0.1:4000/x.sh", "SCRIPT_NAME", "", "PATH_INFO", "/x.sh"},
			map[string]string{"SCRIPT_FILENAME": unset, "SCRIPT_NAME": "", "PATH_INFO": "/x.sh"}},
		{"a real SCRIPT_FILENAME kept",
			[]string{"SCRIPT_FILENAME", "/srv/cgi-bin/x.sh"},
			map[string]string{"SCRIPT_FILENAME": "/srv/cgi-bin/x.sh"}},
		{"both sent (lighttpd)",
			[]string{"SCRIPT_NAME", "/s", "PATH_INFO", "/p", "DOCUMENT_URI", "/d"},
			map[string]string{"SCRIPT_NAME": "/s", "PATH_INFO": "/p"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(rec.recorded())
			do(t, ts.addr, request("", tt.params...), false)
			calls := rec.recorded()
			if len(calls) != before+1 {
				t.Fatalf("the app ran %d times, want once", len(calls)-before)
			}
			env := calls[before].env
			for k, want := range tt.want {
				got, ok := env[k]
				if !ok {
					got = unset
				}
				if got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
		})
	}
}

// TestContentLength: CONTENT_LENGTH frames every SCGI request, but the
// program sees it only when there is a body (RFC 3875 §4.1.2), as nginx
// sends CONTENT_LENGTH 0 for a GET.
func TestContentLength(t *testing.T) {
	rec := &recorder{response: "Content-Type: text/plain\r\n\r\n"}
	ts := startServer(t, handler.Config{App: rec.app()}, scgi.Config{})
	unset := "\x00unset"
	tests := []struct {
		name, raw, want string
	}{
		{"GET, no body", request("", "REQUEST_METHOD", "GET"), unset},
		{"POST, empty body", request("", "REQUEST_METHOD", "POST", "HTTP_CONTENT_LENGTH", "0"), unset},
		{"POST, a body", request("abc", "REQUEST_METHOD", "POST"), "3"},
		{"spec example", spec, "27"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(rec.recorded())
			do(t, ts.addr, tt.raw, false)
			calls := rec.recorded()
			if len(calls) != before+1 {
				t.Fatalf("the app ran %d times, want once", len(calls)-before)
			}
			got, ok := calls[before].env["CONTENT_LENGTH"]
			if !ok {
				got = unset
			}
			if got != tt.want {
				t.Errorf("CONTENT_LENGTH of %q = %q, want %q", tt.raw, got, tt.want)
			}
		})
	}
}

// TestNPH: a non-parsed-header program's status line reaches the web
// server as a Status field (SCGI does not specify the response format).
func TestNPH(t *testing.T) {
	app := appFunc(func(_ context.Context, _ *handler.Call, w io.Writer) error {
		_, err := io.WriteString(w, "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n\r\ngone")
		return err
	})
	ts := startServer(t, handler.Config{App: app, Program: "/cgi-bin/nph-probe"}, scgi.Config{})
	got := do(t, ts.addr, request(""), false)
	if want := "Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\ngone"; got != want {
		t.Errorf("response = %q, want %q", got, want)
	}
}

// TestLargeBodies: a 4 MiB body in and a 16 MiB response out, checksummed.
func TestLargeBodies(t *testing.T) {
	app := appFunc(func(_ context.Context, c *handler.Call, w io.Writer) error {
		h := sha256.New()
		n, err := io.Copy(h, c.Body)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "Content-Type: application/octet-stream\r\nX-Body: %d %x\r\n\r\n", n, h.Sum(nil))
		chunk := bytes.Repeat([]byte("0123456789abcdef"), 4096)
		for range 256 {
			if _, err := w.Write(chunk); err != nil {
				return err
			}
		}
		return nil
	})
	ts := startServer(t, handler.Config{App: app}, scgi.Config{})
	body := strings.Repeat("gatewayd", 512<<10)
	got := do(t, ts.addr, request(body), false)
	head, resp, _ := strings.Cut(got, "\r\n\r\n")
	if want := fmt.Sprintf("X-Body: %d %x", len(body), sha256.Sum256([]byte(body))); !strings.Contains(head, want) {
		t.Errorf("header block %q lacks %q", head, want)
	}
	if want := strings.Repeat("0123456789abcdef", 4096*256); resp != want {
		t.Errorf("response body of %d bytes, want %d", len(resp), len(want))
	}
}

// TestUnreadBody: a request whose body the program never read gets its
// response, and the web server can finish sending the body: the
// connection is drained before it is closed, not reset. nginx would
// otherwise fail with "Connection reset by peer" while sending the body
// and answer 502.
func TestUnreadBody(t *testing.T) {
	app := appFunc(func(_ context.Context, _ *handler.Call, w io.Writer) error {
		_, err := io.WriteString(w, "Status: 413 Too Big\r\nContent-Type: text/plain\r\n\r\nno thanks")
		return err
	})
	ts := startServer(t, handler.Config{App: app}, scgi.Config{})
	body := strings.Repeat("x", 8<<20)
	for i := range 3 {
		c := dial(t, ts.addr)
		sent := make(chan error, 1)
		go func() {
			_, err := io.WriteString(c, request(body))
			sent <- err
		}()
		got, err := io.ReadAll(c)
		if want := "Status: 413 Too Big\r\nContent-Type: text/plain\r\n\r\nno thanks"; string(got) != want || err != nil {
			t.Errorf("try %d: response = %q, %v; want %q", i, got, err, want)
		}
		if err := <-sent; err != nil {
			t.Errorf("try %d: sending the body: %v", i, err)
		}
		c.Close()
	}
}

// blocker is an app that waits for its request's context to end, and
// says when it started and when it saw the end.
type blocker struct {
	started, stopped chan struct{}
}

func newBlocker() *blocker {
	return &blocker{started: make(chan struct{}, 100), stopped: make(chan struct{}, 100)}
}

func (b *blocker) app() appFunc {
	return func(ctx context.Context, c *handler.Call, w io.Writer) error {
		io.Copy(io.Discard, c.Body)
		b.started <- struct{}{}
		<-ctx.Done()
		b.stopped <- struct{}{}
		return ctx.Err()
	}
}

func wait(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not happen", what)
	}
}

// TestClientAbort: when the web server closes the connection after the
// request — its client went away — the request's context ends.
func TestClientAbort(t *testing.T) {
	b := newBlocker()
	ts := startServer(t, handler.Config{App: b.app()}, scgi.Config{})
	for _, body := range []string{"", specBody} {
		t.Run(fmt.Sprintf("body of %d bytes", len(body)), func(t *testing.T) {
			c := dial(t, ts.addr)
			io.WriteString(c, request(body, "REQUEST_METHOD", "POST"))
			wait(t, b.started, "the app's start")
			c.Close()
			wait(t, b.stopped, "the cancellation of the request")
		})
	}
}

// alive reports whether pid is a live process (a zombie counts as gone).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(rest, "Z")
}

// TestClientAbortKillsProgram: the same with a real child, which is gone
// once its web server has left.
func TestClientAbortKillsProgram(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	root := t.TempDir()
	pidFile := filepath.Join(t.TempDir(), "pid")
	script := "#!/bin/sh\necho $$ > " + pidFile + "\nexec sleep 60\n"
	if err := os.WriteFile(filepath.Join(root, "sleep.sh"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	r := subprocess.New(subprocess.Config{KillGrace: 500 * time.Millisecond})
	t.Cleanup(r.Close) // after the server's shutdown, registered later
	ts := startServer(t, handler.Config{App: r, Root: root}, scgi.Config{})
	c := dial(t, ts.addr)
	io.WriteString(c, request("", "REQUEST_METHOD", "GET", "REQUEST_URI", "/sleep.sh", "DOCUMENT_URI", "/sleep.sh"))
	var pid int
	for deadline := time.Now().Add(10 * time.Second); pid == 0 && time.Now().Before(deadline); {
		b, _ := os.ReadFile(pidFile)
		pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		time.Sleep(5 * time.Millisecond)
	}
	if pid == 0 {
		t.Fatal("the program did not start")
	}
	c.Close()
	for deadline := time.Now().Add(10 * time.Second); alive(pid) && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if alive(pid) {
		t.Errorf("program %d still running after its web server left", pid)
	}
}

// TestShutdown: Shutdown lets a request in flight finish, then Serve
// returns ErrServerClosed and nothing more is accepted.
func TestShutdown(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	app := appFunc(func(_ context.Context, _ *handler.Call, w io.Writer) error {
		close(started)
		<-release
		_, err := io.WriteString(w, "Content-Type: text/plain\r\n\r\nfinished")
		return err
	})
	h, _ := handler.New(handler.Config{App: app, Logger: hclog.NewNullLogger()})
	srv := scgi.New(scgi.Config{Handler: h})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()

	c := dial(t, l.Addr().String())
	io.WriteString(c, request(""))
	<-started
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(context.Background()) }()
	if err := <-served; !errors.Is(err, scgi.ErrServerClosed) {
		t.Errorf("Serve = %v, want ErrServerClosed", err)
	}
	if c2, err := net.Dial("tcp", l.Addr().String()); err == nil {
		c2.Close()
		t.Errorf("a connection was accepted after Shutdown")
	}
	close(release)
	got, _ := io.ReadAll(c)
	if want := "Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nfinished"; string(got) != want {
		t.Errorf("request in flight = %q, want %q", got, want)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown = %v", err)
	}
	l2, _ := net.Listen("tcp", "127.0.0.1:0")
	if err := srv.Serve(l2); !errors.Is(err, scgi.ErrServerClosed) {
		t.Errorf("Serve after Shutdown = %v, want ErrServerClosed", err)
	}
}

// TestShutdownDeadline: requests that outlive Shutdown's context are
// stopped, and Shutdown returns the context's error once they have ended.
func TestShutdownDeadline(t *testing.T) {
	b := newBlocker()
	h, _ := handler.New(handler.Config{App: b.app(), Logger: hclog.NewNullLogger()})
	srv := scgi.New(scgi.Config{Handler: h})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	c := dial(t, l.Addr().String())
	io.WriteString(c, request(""))
	wait(t, b.started, "the app's start")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want context.DeadlineExceeded", err)
	}
	select {
	case <-b.stopped:
	default:
		t.Errorf("Shutdown returned before the request it stopped had ended")
	}
	<-served
}

// TestMaxConns: with MaxConns 1 a second connection waits until the first
// is done.
func TestMaxConns(t *testing.T) {
	rec := &recorder{response: "Content-Type: text/plain\r\n\r\nok"}
	ts := startServer(t, handler.Config{App: rec.app()}, scgi.Config{MaxConns: 1})
	first := dial(t, ts.addr) // holds the only slot, sending nothing yet
	second := dial(t, ts.addr)
	io.WriteString(second, request(""))
	second.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, err := second.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Fatalf("second connection answered while the first held the slot")
	}
	second.SetReadDeadline(time.Now().Add(30 * time.Second))
	io.WriteString(first, request(""))
	for _, c := range []net.Conn{first, second} {
		if got, _ := io.ReadAll(c); !strings.HasSuffix(string(got), "\r\n\r\nok") {
			t.Errorf("response = %q, want ok", got)
		}
	}
}

// TestNoGoroutineLeak serves finished, refused, aborted and truncated
// requests through real children, shuts down, and checks that every
// goroutine the server, the pipeline and the runner started has ended.
func TestNoGoroutineLeak(t *testing.T) {
	root := t.TempDir()
	scripts := map[string]string{
		"ok.sh":    "printf 'Content-Type: text/plain\\r\\n\\r\\nok'\n",
		"slow.sh":  "exec sleep 30\n",
		"post.sh":  "printf 'Content-Type: text/plain\\r\\n\\r\\n'; exit 0\n", // never reads its body
		"cat.sh":   "printf 'Content-Type: text/plain\\r\\n\\r\\n'; exec cat\n",
		"yes.sh":   "printf 'Content-Type: text/plain\\r\\n\\r\\n'; exec yes\n",
		"nph-x.sh": "printf 'HTTP/1.0 200 OK\\r\\nContent-Type: text/plain\\r\\n\\r\\nnph'\n",
	}
	for name, body := range scripts {
		if err := os.WriteFile(filepath.Join(root, name), []byte("#!/bin/sh\n"+body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	before := runtime.NumGoroutine()

	r := subprocess.New(subprocess.Config{KillGrace: 200 * time.Millisecond})
	h, err := handler.New(handler.Config{App: r, Root: root, HeaderTimeout: 300 * time.Millisecond, Logger: hclog.NewNullLogger()})
	if err != nil {
		t.Fatal(err)
	}
	srv := scgi.New(scgi.Config{Handler: h, ReadHeaderTimeout: 200 * time.Millisecond})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	addr := l.Addr().String()
	get := func(path, body string) string {
		return request(body, "REQUEST_METHOD", "POST", "REQUEST_URI", path)
	}
	for _, raw := range []string{get("/ok.sh", ""), get("/slow.sh", ""), get("/missing.sh", ""),
		get("/post.sh", strings.Repeat("x", 1<<20)), get("/cat.sh", "abc"), get("/nph-x.sh", "")} {
		do(t, addr, raw, false)
	}
	do(t, addr, "bogus", true)
	do(t, addr, spec[:30], false) // cut off by ReadHeaderTimeout
	// A body cut short, a client gone mid-response, one gone before it.
	do(t, addr, get("/cat.sh", "abcdef")[:50], true)
	c := dial(t, addr)
	io.WriteString(c, get("/yes.sh", ""))
	io.ReadFull(c, make([]byte, 64<<10))
	c.Close()
	c = dial(t, addr)
	io.WriteString(c, get("/slow.sh", ""))
	c.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	<-done
	r.Close()

	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines before, %d after shutdown:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}

// TestNewWithoutHandler: a Config without a Handler is a programming error.
func TestNewWithoutHandler(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Errorf("New(Config{}) did not panic")
		}
	}()
	scgi.New(scgi.Config{})
}
