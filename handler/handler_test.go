package handler_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"gatewayd/environ"
	"gatewayd/handler"
)

const errorPage = "Status: 500 Internal Server Error\r\nContent-Type: text/plain\r\nContent-Length: 59\r\n\r\n" +
	"A server error occurred.  Please contact the administrator."

// output is an App whose programs all print the same CGI output.
type output string

func (o output) Start(context.Context, *handler.Call) (handler.Run, error) {
	return &fixedRun{Reader: strings.NewReader(string(o))}, nil
}

type fixedRun struct{ io.Reader }

func (*fixedRun) Wait() handler.Exit { return handler.Exit{} }

// recorder is an App that prints outputs in turn and records every call.
type recorder struct {
	mu      sync.Mutex
	outputs []string
	calls   []*handler.Call
	bodies  []string
}

func (r *recorder) Start(_ context.Context, c *handler.Call) (handler.Run, error) {
	body, err := io.ReadAll(c.Body)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, c)
	r.bodies = append(r.bodies, string(body))
	out := r.outputs[0]
	if len(r.outputs) > 1 {
		r.outputs = r.outputs[1:]
	}
	return &fixedRun{Reader: strings.NewReader(out)}, nil
}

// stall is an App that prints head and then nothing until it is stopped.
type stall struct{ head string }

func (s stall) Start(ctx context.Context, _ *handler.Call) (handler.Run, error) {
	return &stallRun{ctx: ctx, head: strings.NewReader(s.head)}, nil
}

type stallRun struct {
	ctx  context.Context
	head *strings.Reader
}

func (r *stallRun) Read(p []byte) (int, error) {
	if r.head.Len() > 0 {
		return r.head.Read(p)
	}
	<-r.ctx.Done()
	return 0, errors.New("stopped")
}

func (*stallRun) Wait() handler.Exit { return handler.Exit{Err: errors.New("stopped")} }

// request is a GET / unless changed.
func request(kv ...string) *handler.Request {
	env := environ.Environ{"REQUEST_METHOD": "GET", "SERVER_PROTOCOL": "HTTP/1.1", "PATH_INFO": "/"}
	for i := 0; i+1 < len(kv); i += 2 {
		env[kv[i]] = kv[i+1]
	}
	return &handler.Request{Env: env}
}

// run serves req with cfg and returns the gateway-form output, the result
// and the log.
func run(t *testing.T, cfg handler.Config, req *handler.Request) (string, handler.Result, string) {
	t.Helper()
	var logs bytes.Buffer
	cfg.Logger = hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Debug})
	h, err := handler.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	res := h.Serve(context.Background(), req, handler.NewGatewayWriter(&out))
	return out.String(), res, logs.String()
}

func lines(s string) int { return strings.Count(s, "\n") }

// TestContentLength is wsgiref's testContentLength through the http.Handler
// adapter: one unflushed write gets a length, a flushed one does not.
func TestContentLength(t *testing.T) {
	tests := []struct {
		name string
		h    http.HandlerFunc
		want string
	}{
		{"one chunk", func(w http.ResponseWriter, _ *http.Request) {
			w.Write([]byte("http"))
		}, "Status: 200 OK\r\nContent-Length: 4\r\n\r\nhttp"},
		{"written before return", func(w http.ResponseWriter, _ *http.Request) {
			w.(http.Flusher).Flush()
			w.Write([]byte("http"))
		}, "Status: 200 OK\r\n\r\nhttp"},
		{"utf-8", func(w http.ResponseWriter, _ *http.Request) {
			w.Write([]byte("тест"))
		}, "Status: 200 OK\r\nContent-Length: 8\r\n\r\n\xd1\x82\xd0\xb5\xd1\x81\xd1\x82"},
		{"HEAD-like", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Length", "12345")
		}, "Status: 200 OK\r\nContent-Length: 12345\r\n\r\n"},
		{"empty", func(http.ResponseWriter, *http.Request) {},
			"Status: 200 OK\r\nContent-Length: 0\r\n\r\n"},
		{"bytes data", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Write([]byte("data"))
		}, "Status: 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 4\r\n\r\ndata"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, _ := run(t, handler.Config{App: handler.HTTPApp(tt.h)}, request())
			if got != tt.want {
				t.Errorf("Serve = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestErrorOutput is wsgiref's testBasicErrorOutput and
// testErrorAfterOutput: an app that fails before its headers gets the error
// page; after them, the output just stops. Either way one line is logged.
func TestErrorOutput(t *testing.T) {
	before := handler.HTTPApp(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("This should be caught by handler")
	}))
	got, res, logs := run(t, handler.Config{App: before}, request())
	if got != errorPage {
		t.Errorf("failure before headers: Serve = %q, want %q", got, errorPage)
	}
	if res.Status != 500 || res.Err == nil {
		t.Errorf("failure before headers: Result = %+v, want status 500 and an error", res)
	}
	if !strings.Contains(logs, "This should be caught by handler") || lines(logs) < 1 ||
		strings.Count(logs, "request failed") != 1 {
		t.Errorf("failure before headers: log = %q, want one failure line with the panic", logs)
	}

	after := handler.HTTPApp(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("Some output has been sent"))
		w.(http.Flusher).Flush()
		panic("late")
	}))
	got, _, logs = run(t, handler.Config{App: after}, request())
	if want := "Status: 200 OK\r\n\r\nSome output has been sent"; got != want {
		t.Errorf("failure after headers: Serve = %q, want %q", got, want)
	}
	if strings.Count(logs, "request failed") != 1 || !strings.Contains(logs, "late") {
		t.Errorf("failure after headers: log = %q, want one failure line naming the panic", logs)
	}
}

// TestCustomErrorPage is wsgiref's error_status/error_headers/error_body.
func TestCustomErrorPage(t *testing.T) {
	cfg := handler.Config{
		App:          output(""),
		ErrorStatus:  handler.Status{Code: 503, Reason: "Busy"},
		ErrorHeaders: []handler.Field{{Name: "Content-Type", Value: "text/html"}, {Name: "Retry-After", Value: "5"}},
		ErrorBody:    []byte("<b>busy</b>"),
	}
	got, _, _ := run(t, cfg, request())
	want := "Status: 503 Busy\r\nContent-Type: text/html\r\nRetry-After: 5\r\nContent-Length: 11\r\n\r\n<b>busy</b>"
	if got != want {
		t.Errorf("Serve = %q, want %q", got, want)
	}
}

// TestResponses drives the CGI response forms of RFC 3875 §6 and the
// repairs of lenient mode through the pipeline, byte for byte.
func TestResponses(t *testing.T) {
	tests := []struct {
		name   string
		out    string
		strict bool
		want   string
		log    string // a word the single log line must hold
	}{
		{"LF document", "Content-Type: text/plain\n\nhello",
			false, "Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nhello", "request"},
		{"status without reason", "Status: 404\r\nContent-Type: text/plain\r\n\r\nnf",
			false, "Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\nnf", "request"},
		{"own reason", "Status: 200 FooBar\r\nContent-Type: text/plain\r\n\r\nx",
			false, "Status: 200 FooBar\r\nContent-Type: text/plain\r\n\r\nx", "request"},
		{"client redirect", "Location: http://foo.com/\r\n\r\n",
			false, "Status: 302 Found\r\nLocation: http://foo.com/\r\nContent-Length: 0\r\n\r\n", "request"},
		{"redirect with status and document",
			"Location: http://x/\r\nStatus: 301 Moved\r\nContent-Type: text/html\r\n\r\n<body>",
			false, "Status: 301 Moved\r\nLocation: http://x/\r\nContent-Type: text/html\r\n\r\n<body>", "request"},
		{"redirect with document", "Location: http://x/\r\nContent-Type: text/html\r\n\r\nSEE-THIS",
			false, "Status: 302 Found\r\nLocation: http://x/\r\nContent-Type: text/html\r\n\r\nSEE-THIS", "request"},
		{"extra newline is body", "Location: http://www.example.org/\r\n\n\n",
			false, "Status: 302 Found\r\nLocation: http://www.example.org/\r\n\r\n\n", "request"},
		{"empty body gets Content-Length 0", "Content-Type: text/plain\r\n\r\n",
			false, "Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n", "request"},
		{"program's Content-Length kept", "Content-Type: text/plain\r\nContent-Length: 99\r\n\r\n",
			false, "Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 99\r\n\r\n", "request"},
		{"no output", "", false, errorPage, "no cgi response"},
		{"no blank line", "Content-Type: text/plain\r\n", false, errorPage, "request failed"},
		{"line without colon", "Content-Type text/plain\r\n\r\nx", false, errorPage, "request failed"},
		{"two-digit status", "Status: 30 FooBar\r\nContent-Type: text/plain\r\n\r\n", false, errorPage, "status"},
		{"two statuses", "Status: 200 OK\r\nStatus: 404 Not Found\r\nContent-Type: text/plain\r\n\r\n",
			false, errorPage, "request failed"},
		{"continuation line", "Content-Type: text/plain\r\n continued\r\n\r\n", false, errorPage, "request failed"},
		{"hop-by-hop dropped", "Content-Type: text/plain\r\nConnection: close\r\n\r\nx",
			false, "Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nx", "repaired"},
		{"hop-by-hop strict", "Content-Type: text/plain\r\nConnection: close\r\n\r\nx",
			true, errorPage, "RFC 3875"},
		{"no Content-Type passed, not guessed", "X-A: 1\r\n\r\nx",
			false, "Status: 200 OK\r\nX-A: 1\r\n\r\nx", "Content-Type"},
		{"duplicate Date dropped", "Content-Type: text/plain\r\nDate: A\r\nDate: B\r\n\r\nx",
			false, "Status: 200 OK\r\nContent-Type: text/plain\r\nDate: A\r\n\r\nx", "repaired"},
		{"NPH-free program output with NUL body", "Content-Type: application/octet-stream\r\n\r\n\x00\xff\x00",
			false, "Status: 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n\x00\xff\x00", "request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, logs := run(t, handler.Config{App: output(tt.out), Strict: tt.strict}, request())
			if got != tt.want {
				t.Errorf("Serve(%q) = %q, want %q", tt.out, got, tt.want)
			}
			if lines(logs) != 1 || !strings.Contains(logs, tt.log) {
				t.Errorf("Serve(%q) logged %q, want one line holding %q", tt.out, logs, tt.log)
			}
		})
	}
}

// TestLocalRedirect: RFC 3875 §6.2.2, a Location path alone is served again
// inside the gateway as a GET without body.
func TestLocalRedirect(t *testing.T) {
	app := &recorder{outputs: []string{
		"Location: /other/p%61th?x=1\r\n\r\nignored body",
		"Content-Type: text/plain\r\n\r\nthere",
	}}
	req := request("REQUEST_METHOD", "POST", "CONTENT_LENGTH", "3", "CONTENT_TYPE", "text/plain", "PATH_INFO", "/first")
	req.Body = strings.NewReader("abc")
	got, _, _ := run(t, handler.Config{App: app}, req)
	if want := "Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nthere"; got != want {
		t.Errorf("Serve = %q, want %q", got, want)
	}
	if len(app.calls) != 2 {
		t.Fatalf("app started %d times, want 2", len(app.calls))
	}
	if app.bodies[0] != "abc" || app.bodies[1] != "" {
		t.Errorf("bodies = %q, want [abc, \"\"]", app.bodies)
	}
	env := app.calls[1].Env
	for k, want := range map[string]string{
		"REQUEST_METHOD": "GET", "PATH_INFO": "/other/path", "QUERY_STRING": "x=1", "REQUEST_URI": "/other/p%61th?x=1",
	} {
		if env[k] != want {
			t.Errorf("redirected %s = %q, want %q", k, env[k], want)
		}
	}
	for _, k := range []string{"CONTENT_LENGTH", "CONTENT_TYPE"} {
		if v, ok := env[k]; ok {
			t.Errorf("redirected %s = %q, want it unset", k, v)
		}
	}
}

func TestRedirectLoop(t *testing.T) {
	app := &recorder{outputs: []string{"Location: /again\r\n\r\n"}}
	got, _, logs := run(t, handler.Config{App: app}, request())
	if got != errorPage {
		t.Errorf("Serve = %q, want the error page", got)
	}
	if len(app.calls) != 11 {
		t.Errorf("app started %d times, want 11 (the first dispatch and 10 redirects)", len(app.calls))
	}
	if !strings.Contains(logs, "redirects") {
		t.Errorf("log = %q, want the redirect limit named", logs)
	}
}

func TestTimeouts(t *testing.T) {
	const gatewayTimeout = "Status: 504 Gateway Timeout\r\nContent-Type: text/plain\r\nContent-Length: 20\r\n\r\n504 Gateway Timeout\n"
	tests := []struct {
		name string
		app  handler.App
		cfg  handler.Config
		want string
	}{
		{"no headers", stall{}, handler.Config{HeaderTimeout: 50 * time.Millisecond}, gatewayTimeout},
		{"half a header", stall{"Content-Type: text/pl"}, handler.Config{Timeout: 50 * time.Millisecond}, gatewayTimeout},
		{"idle before the body", stall{"Content-Type: text/plain\r\n\r\n"},
			handler.Config{IdleTimeout: 50 * time.Millisecond}, gatewayTimeout},
		{"idle in the body", stall{"Content-Type: text/plain\r\n\r\npartial"},
			handler.Config{IdleTimeout: 50 * time.Millisecond}, "Status: 200 OK\r\nContent-Type: text/plain\r\n\r\npartial"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.App = tt.app
			got, res, logs := run(t, tt.cfg, request())
			if got != tt.want {
				t.Errorf("Serve = %q, want %q", got, tt.want)
			}
			if res.Err == nil || strings.Count(logs, "request failed") != 1 || !strings.Contains(logs, "time") {
				t.Errorf("Result.Err = %v, log = %q; want one failure line naming the timeout", res.Err, logs)
			}
		})
	}
}

// brokenWriter fails every write, as a vanished client does.
type brokenWriter struct{ header bool }

func (w *brokenWriter) WriteHeader(handler.Status, *handler.Headers) error {
	w.header = true
	return nil
}
func (*brokenWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }
func (*brokenWriter) Flush() error              { return errors.New("broken pipe") }

func TestClientGone(t *testing.T) {
	var logs bytes.Buffer
	h, _ := handler.New(handler.Config{
		App:    stall{"Content-Type: text/plain\r\n\r\nfirst bytes"},
		Logger: hclog.New(&hclog.LoggerOptions{Output: &logs}),
	})
	done := make(chan handler.Result)
	go func() { done <- h.Serve(context.Background(), request(), &brokenWriter{}) }()
	select {
	case res := <-done:
		if res.Err == nil || !strings.Contains(res.Err.Error(), "client went away") {
			t.Errorf("Result.Err = %v, want the client gone", res.Err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not stop the app when the client went away")
	}
	if lines(logs.String()) != 1 || !strings.Contains(logs.String(), "aborted") {
		t.Errorf("log = %q, want one line saying the request was aborted", logs.String())
	}
}

func TestBody(t *testing.T) {
	tests := []struct {
		name     string
		env      []string
		body     io.Reader
		status   int
		wantBody string
		wantCL   string // "-" for unset
	}{
		{"known length cuts the stream", []string{"CONTENT_LENGTH", "3"}, strings.NewReader("abcdef"), 200, "abc", "3"},
		{"fewer bytes than announced", []string{"CONTENT_LENGTH", "8"}, strings.NewReader("short"), 200, "short", "8"},
		{"nginx empty CONTENT_LENGTH", []string{"CONTENT_LENGTH", ""}, nil, 200, "", "-"},
		{"unknown length is counted", nil, strings.NewReader("0123456789"), 200, "0123456789", "10"},
		{"empty unknown body", nil, strings.NewReader(""), 200, "", "-"},
		{"over the limit", []string{"CONTENT_LENGTH", "11"}, strings.NewReader("01234567890"), 413, "", ""},
		{"unknown over the limit", nil, strings.NewReader("01234567890"), 413, "", ""},
		{"bad CONTENT_LENGTH", []string{"CONTENT_LENGTH", "1a"}, strings.NewReader("x"), 400, "", ""},
		{"negative CONTENT_LENGTH", []string{"CONTENT_LENGTH", "-1"}, strings.NewReader("x"), 400, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := &recorder{outputs: []string{"Content-Type: text/plain\r\n\r\n"}}
			req := request(tt.env...)
			req.Body = tt.body
			_, res, _ := run(t, handler.Config{App: app, MaxBody: 10}, req)
			if res.Status != tt.status {
				t.Fatalf("status = %d, want %d (%v)", res.Status, tt.status, res.Err)
			}
			if tt.status != 200 {
				if len(app.calls) != 0 {
					t.Errorf("the app ran for a rejected body")
				}
				return
			}
			if app.bodies[0] != tt.wantBody {
				t.Errorf("app read %q, want %q", app.bodies[0], tt.wantBody)
			}
			cl, ok := app.calls[0].Env["CONTENT_LENGTH"]
			if !ok {
				cl = "-"
			}
			if cl != tt.wantCL {
				t.Errorf("CONTENT_LENGTH = %q, want %q", cl, tt.wantCL)
			}
		})
	}
}

func TestEnviron(t *testing.T) {
	t.Setenv("GATEWAYD_TEST_PASSED", "passed")
	t.Setenv("GATEWAYD_TEST_HIDDEN", "hidden")
	t.Setenv("NOTIFY_SOCKET", "/run/systemd/notify")
	app := &recorder{outputs: []string{"Content-Type: text/plain\r\n\r\n"}}
	cfg := handler.Config{
		App:            app,
		PassEnv:        []string{"GATEWAYD_TEST_PASSED", "NOTIFY_SOCKET"}, // passed by mistake
		Env:            environ.Environ{"CONFIGURED": "c", "REQUEST_METHOD": "configured"},
		ServerSoftware: "gatewayd/test",
	}
	run(t, cfg, request("HTTP_PROXY", "http://evil/", "HTTP_CONTENT_TYPE", "x", "GATEWAY_INTERFACE", "CGI/01.1",
		"LISTEN_FDS", "2", "WATCHDOG_USEC", "1000"))
	env := app.calls[0].Env
	want := map[string]string{
		"GATEWAYD_TEST_PASSED": "passed", "CONFIGURED": "c", "REQUEST_METHOD": "GET",
		"GATEWAY_INTERFACE": "CGI/1.1", "SERVER_SOFTWARE": "gatewayd/test", "QUERY_STRING": "", "SCRIPT_NAME": "",
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
	for _, k := range []string{"HTTP_PROXY", "HTTP_CONTENT_TYPE", "GATEWAYD_TEST_HIDDEN", "NOTIFY_SOCKET", "LISTEN_FDS", "WATCHDOG_USEC"} {
		if v, ok := env[k]; ok {
			t.Errorf("%s = %q, want it unset", k, v)
		}
	}
}

// TestCaseDuplicates: names that differ only in case are one variable
// (RFC 3875 §4.1): the program sees one of them, and the log says so.
func TestCaseDuplicates(t *testing.T) {
	app := &recorder{outputs: []string{"Content-Type: text/plain\r\n\r\n"}}
	_, _, logs := run(t, handler.Config{App: app}, request("HTTP_X", "good", "http_x", "evil", "path", "/evil"))
	env := app.calls[0].Env
	if env["HTTP_X"] != "good" || env["PATH"] != os.Getenv("PATH") {
		t.Errorf("HTTP_X = %q, PATH = %q; want the upper-case spellings kept", env["HTTP_X"], env["PATH"])
	}
	for _, k := range []string{"http_x", "path"} {
		if v, ok := env[k]; ok {
			t.Errorf("%s = %q reached the program beside its upper-case spelling", k, v)
		}
	}
	if !strings.Contains(logs, "differ only in case") || !strings.Contains(logs, "http_x") {
		t.Errorf("log does not name the dropped variables:\n%s", logs)
	}
}

// TestScriptRoot: --root maps the URL path onto executable files inside the
// root, and nothing outside it.
func TestScriptRoot(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	write := func(path string, mode os.FileMode) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(root, "a.cgi"), 0o755)
	write(filepath.Join(root, "sub", "b.cgi"), 0o755)
	write(filepath.Join(root, "plain.txt"), 0o644)
	write(filepath.Join(outside, "evil.cgi"), 0o755)
	if err := os.Symlink(filepath.Join(outside, "evil.cgi"), filepath.Join(root, "link.cgi")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "out")); err != nil {
		t.Fatal(err)
	}
	realRoot, _ := filepath.EvalSymlinks(root)

	tests := []struct {
		path       string
		status     int
		script     string // SCRIPT_NAME
		pathInfo   string
		translated string // "-" for unset
	}{
		{"/a.cgi", 200, "/a.cgi", "", "-"},
		{"/a.cgi/x/y", 200, "/a.cgi", "/x/y", filepath.Join(realRoot, "x/y")},
		{"/a.cgi/", 200, "/a.cgi", "/", realRoot},
		{"/sub/b.cgi/z", 200, "/sub/b.cgi", "/z", filepath.Join(realRoot, "z")},
		{"//sub//b.cgi", 200, "//sub//b.cgi", "", "-"},
		{"/missing.cgi", 404, "", "", ""},
		{"/sub", 404, "", "", ""},
		{"/", 404, "", "", ""},
		{"/../etc/passwd", 403, "", "", ""},
		{"/sub/../a.cgi", 403, "", "", ""},
		{"/plain.txt", 403, "", "", ""},
		{"/link.cgi", 403, "", "", ""},
		{"/out/evil.cgi", 403, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			app := &recorder{outputs: []string{"Content-Type: text/plain\r\n\r\n"}}
			_, res, _ := run(t, handler.Config{App: app, Root: root}, request("PATH_INFO", tt.path, "SCRIPT_NAME", ""))
			if res.Status != tt.status {
				t.Fatalf("status = %d, want %d (%v)", res.Status, tt.status, res.Err)
			}
			if tt.status != 200 {
				return
			}
			c := app.calls[0]
			if c.Env["SCRIPT_NAME"] != tt.script || c.Env["PATH_INFO"] != tt.pathInfo {
				t.Errorf("SCRIPT_NAME, PATH_INFO = %q, %q, want %q, %q",
					c.Env["SCRIPT_NAME"], c.Env["PATH_INFO"], tt.script, tt.pathInfo)
			}
			pt, ok := c.Env["PATH_TRANSLATED"]
			if !ok {
				pt = "-"
			}
			if pt != tt.translated {
				t.Errorf("PATH_TRANSLATED = %q, want %q", pt, tt.translated)
			}
			if c.Env["SCRIPT_FILENAME"] != c.Program || !strings.HasPrefix(c.Program, realRoot) {
				t.Errorf("Program = %q, SCRIPT_FILENAME = %q, want the same path inside %s", c.Program, c.Env["SCRIPT_FILENAME"], realRoot)
			}
		})
	}
}

// pauseThenEnd prints head, pauses for d and ends: its output ends right
// when the idle flush is due.
type pauseThenEnd struct {
	head string
	d    time.Duration
}

func (p pauseThenEnd) Start(context.Context, *handler.Call) (handler.Run, error) {
	return &pauseRun{head: strings.NewReader(p.head), d: p.d}, nil
}

type pauseRun struct {
	head   *strings.Reader
	d      time.Duration
	paused bool
}

func (r *pauseRun) Read(p []byte) (int, error) {
	if r.head.Len() > 0 {
		return r.head.Read(p)
	}
	if !r.paused {
		r.paused = true
		time.Sleep(r.d)
	}
	return 0, io.EOF
}

func (*pauseRun) Wait() handler.Exit { return handler.Exit{} }

// afterWriter fails the test on any use after Serve has returned: by then
// the front-end may be writing the next response on the same connection.
type afterWriter struct {
	t      *testing.T
	mu     sync.Mutex
	served bool
}

func (w *afterWriter) check(what string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.served {
		w.t.Errorf("%s after Serve returned", what)
	}
}
func (w *afterWriter) WriteHeader(handler.Status, *handler.Headers) error {
	w.check("WriteHeader")
	return nil
}
func (w *afterWriter) Write(p []byte) (int, error) { w.check("Write"); return len(p), nil }
func (w *afterWriter) Flush() error                { w.check("Flush"); return nil }

func TestNoFlushAfterServe(t *testing.T) {
	for i := range 200 {
		d := time.Duration(1500+10*i) * time.Microsecond // around the 2ms flush delay
		h, _ := handler.New(handler.Config{App: pauseThenEnd{"Content-Type: text/plain\r\n\r\nbody", d}})
		w := &afterWriter{t: t}
		h.Serve(context.Background(), request(), w)
		w.mu.Lock()
		w.served = true
		w.mu.Unlock()
	}
	time.Sleep(10 * time.Millisecond) // a late flush would show now
}

// TestWebServerRoutes: behind a web server the script is SCRIPT_FILENAME,
// else DOCUMENT_ROOT + SCRIPT_NAME walked back as fcgiwrap does; either
// must lie inside the root.
func TestWebServerRoutes(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	for _, p := range []string{filepath.Join(root, "cgi-bin", "a.cgi"), filepath.Join(outside, "b.cgi")} {
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755)
	}
	os.WriteFile(filepath.Join(root, "cgi-bin", "plain"), []byte("x"), 0o644)
	realRoot, _ := filepath.EvalSymlinks(root)
	script := filepath.Join(realRoot, "cgi-bin", "a.cgi")
	tests := []struct {
		name           string
		env            []string
		status         int
		program        string
		scriptName     string
		pathInfo       string
		scriptFilename string
	}{
		{"SCRIPT_FILENAME", []string{"SCRIPT_FILENAME", script, "SCRIPT_NAME", "/cgi-bin/a.cgi", "PATH_INFO", "/x"},
			200, script, "/cgi-bin/a.cgi", "/x", script},
		{"SCRIPT_FILENAME outside the root", []string{"SCRIPT_FILENAME", filepath.Join(outside, "b.cgi")}, 403, "", "", "", ""},
		{"SCRIPT_FILENAME missing", []string{"SCRIPT_FILENAME", filepath.Join(realRoot, "nope.cgi")}, 404, "", "", "", ""},
		{"SCRIPT_FILENAME not executable", []string{"SCRIPT_FILENAME", filepath.Join(realRoot, "cgi-bin", "plain")}, 403, "", "", "", ""},
		{"SCRIPT_FILENAME a directory: the path decides", []string{"SCRIPT_FILENAME", realRoot + "/", "DOCUMENT_ROOT", realRoot,
			"SCRIPT_NAME", "", "PATH_INFO", "/cgi-bin/a.cgi/x"}, 200, script, "/cgi-bin/a.cgi", "/x", script},
		{"DOCUMENT_ROOT + SCRIPT_NAME", []string{"DOCUMENT_ROOT", realRoot, "SCRIPT_NAME", "/cgi-bin/a.cgi", "PATH_INFO", ""},
			200, script, "/cgi-bin/a.cgi", "", script},
		{"DOCUMENT_ROOT + SCRIPT_NAME with path info", []string{"DOCUMENT_ROOT", realRoot, "SCRIPT_NAME", "/cgi-bin/a.cgi/x/y", "PATH_INFO", ""},
			200, script, "/cgi-bin/a.cgi", "/x/y", script},
		{"DOCUMENT_ROOT + SCRIPT_NAME + PATH_INFO, split by the web server", []string{"DOCUMENT_ROOT", realRoot,
			"SCRIPT_NAME", "/cgi-bin/a.cgi", "PATH_INFO", "/x"}, 200, script, "/cgi-bin/a.cgi", "/x", script},
		{"a redirect under a mount: DOCUMENT_ROOT + PATH_INFO", []string{"DOCUMENT_ROOT", realRoot,
			"SCRIPT_NAME", "", "PATH_INFO", "/cgi-bin/a.cgi"}, 200, script, "/cgi-bin/a.cgi", "", script},
		{"nginx's own document root, location / → the path under the root", []string{"DOCUMENT_ROOT", outside,
			"SCRIPT_NAME", "/cgi-bin/a.cgi/x", "PATH_INFO", ""}, 200, script, "/cgi-bin/a.cgi", "/x", script},
		{"DOCUMENT_ROOT outside the root", []string{"DOCUMENT_ROOT", outside, "SCRIPT_NAME", "/b.cgi"}, 403, "", "", "", ""},
		{"DOCUMENT_ROOT + SCRIPT_NAME missing", []string{"DOCUMENT_ROOT", realRoot, "SCRIPT_NAME", "/cgi-bin/zz/y"}, 404, "", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := &recorder{outputs: []string{"Content-Type: text/plain\r\n\r\n"}}
			_, res, _ := run(t, handler.Config{App: app, Root: root}, request(tt.env...)) // PATH_INFO "/" unless set
			if res.Status != tt.status {
				t.Fatalf("status = %d, want %d (%v)", res.Status, tt.status, res.Err)
			}
			if tt.status != 200 {
				return
			}
			c := app.calls[0]
			if c.Program != tt.program || c.Env["SCRIPT_NAME"] != tt.scriptName ||
				c.Env["PATH_INFO"] != tt.pathInfo || c.Env["SCRIPT_FILENAME"] != tt.scriptFilename {
				t.Errorf("program %q SCRIPT_NAME %q PATH_INFO %q SCRIPT_FILENAME %q; want %q %q %q %q",
					c.Program, c.Env["SCRIPT_NAME"], c.Env["PATH_INFO"], c.Env["SCRIPT_FILENAME"],
					tt.program, tt.scriptName, tt.pathInfo, tt.scriptFilename)
			}
		})
	}
}

// TestRedirectUnderMount: a local redirect behind a web server's mount
// (nginx location /cgi-bin/ → SCRIPT_FILENAME, DOCUMENT_ROOT) finds its
// target under the document root.
func TestRedirectUnderMount(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "cgi-bin"), 0o755)
	for _, name := range []string{"a.cgi", "b.cgi"} {
		os.WriteFile(filepath.Join(root, "cgi-bin", name), []byte("#!/bin/sh\n"), 0o755)
	}
	realRoot, _ := filepath.EvalSymlinks(root)
	app := &recorder{outputs: []string{"Location: /cgi-bin/b.cgi/more?x=1\r\n\r\n", "Content-Type: text/plain\r\n\r\nb"}}
	req := request("DOCUMENT_ROOT", realRoot, "SCRIPT_NAME", "/cgi-bin/a.cgi", "PATH_INFO", "",
		"SCRIPT_FILENAME", filepath.Join(realRoot, "cgi-bin", "a.cgi"))
	got, _, _ := run(t, handler.Config{App: app, Root: root}, req)
	if got != "Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nb" || len(app.calls) != 2 {
		t.Fatalf("Serve = %q after %d calls", got, len(app.calls))
	}
	c := app.calls[1]
	if c.Program != filepath.Join(realRoot, "cgi-bin", "b.cgi") || c.Env["SCRIPT_NAME"] != "/cgi-bin/b.cgi" ||
		c.Env["PATH_INFO"] != "/more" || c.Env["QUERY_STRING"] != "x=1" {
		t.Errorf("redirected to %q with SCRIPT_NAME %q PATH_INFO %q QUERY_STRING %q",
			c.Program, c.Env["SCRIPT_NAME"], c.Env["PATH_INFO"], c.Env["QUERY_STRING"])
	}
}

// TestReadBodyFirst: the whole body is read before the program starts; one
// that ends early is a client gone: nothing runs and nothing is written.
func TestReadBodyFirst(t *testing.T) {
	for _, n := range []int{5, 200 << 10} { // in memory, and spooled
		body := strings.Repeat("b", n)
		app := &recorder{outputs: []string{"Content-Type: text/plain\r\n\r\n"}}
		req := request("CONTENT_LENGTH", strconv.Itoa(n))
		req.Body = strings.NewReader(body + "TRAILING")
		_, res, _ := run(t, handler.Config{App: app, ReadBodyFirst: true}, req)
		if res.Status != 200 || len(app.bodies) != 1 || app.bodies[0] != body {
			t.Errorf("%d bytes: status %d, the app read %d bytes", n, res.Status, len(strings.Join(app.bodies, "")))
		}
	}
	app := &recorder{outputs: []string{"Content-Type: text/plain\r\n\r\n"}}
	req := request("CONTENT_LENGTH", "100")
	req.Body = strings.NewReader("short")
	out, res, logs := run(t, handler.Config{App: app, ReadBodyFirst: true}, req)
	if out != "" || res.Status != 0 || len(app.calls) != 0 || !errors.Is(res.Err, io.ErrUnexpectedEOF) {
		t.Errorf("short body: output %q, status %d, %d calls, %v; want nothing run or written", out, res.Status, len(app.calls), res.Err)
	}
	if lines(logs) != 1 || !strings.Contains(logs, "aborted") {
		t.Errorf("short body logged %q, want one line saying the request was aborted", logs)
	}
}

// TestNoAccessLog: without the access log a request that succeeds logs
// nothing, and one that fails still logs its line.
func TestNoAccessLog(t *testing.T) {
	for _, tt := range []struct {
		name, output, want string
	}{
		{"success", "Content-Type: text/plain\r\n\r\nok", ""},
		{"failure", "garbage", "request failed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, logs := run(t, handler.Config{App: output(tt.output), NoAccessLog: true}, request())
			if tt.want == "" && logs != "" || !strings.Contains(logs, tt.want) {
				t.Errorf("log = %q, want %q", logs, tt.want)
			}
		})
	}
}

// TestRefuse: a request the front-end refuses runs nothing and gets the
// error page of its status, logged once.
func TestRefuse(t *testing.T) {
	app := &recorder{outputs: []string{"Content-Type: text/plain\r\n\r\nran"}}
	req := request()
	req.Refuse = handler.Errorf(http.StatusBadRequest, "http: ambiguous framing")
	out, res, logs := run(t, handler.Config{App: app}, req)
	if want := "Status: 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 16\r\n\r\n400 Bad Request\n"; out != want || res.Status != 400 {
		t.Errorf("Serve = %d %q, want %q", res.Status, out, want)
	}
	if len(app.calls) != 0 {
		t.Errorf("the app ran for a refused request")
	}
	if strings.Count(logs, "\n") != 1 || !strings.Contains(logs, "ambiguous framing") {
		t.Errorf("log = %q, want one line with the reason", logs)
	}
}
