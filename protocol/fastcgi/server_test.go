package fastcgi

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"gatewayd/environ"
	"gatewayd/handler"
	"gatewayd/handler/subprocess"
)

// echo is an in-process app that prints the variables it is asked for and
// the body it read, and ends with the given exit code.
type echo struct {
	keys   []string
	code   int
	stderr string
}

func (a echo) Start(_ context.Context, c *handler.Call) (handler.Run, error) {
	body, err := io.ReadAll(c.Body)
	if err != nil {
		return nil, err
	}
	if a.stderr != "" && c.Stderr != nil {
		io.WriteString(c.Stderr, a.stderr)
	}
	var b strings.Builder
	b.WriteString("Content-Type: text/plain\r\n\r\n")
	for _, k := range a.keys {
		fmt.Fprintf(&b, "%s=%q\n", k, c.Env[k])
	}
	fmt.Fprintf(&b, "body=%q", body)
	return &fixed{Reader: strings.NewReader(b.String()), code: a.code}, nil
}

type fixed struct {
	io.Reader
	code int
}

func (f *fixed) Wait() handler.Exit { return handler.Exit{Code: f.code} }

// output is an app that prints the same CGI output every time.
type output string

func (o output) Start(context.Context, *handler.Call) (handler.Run, error) {
	return &fixed{Reader: strings.NewReader(string(o))}, nil
}

// logBuffer collects a server's log lines.
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

// serve starts a Server for app and returns its address and log.
func serve(t testing.TB, hc handler.Config, fc Config) (string, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	log := hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Debug})
	hc.Logger = log.Named("handler")
	h, err := handler.New(hc)
	if err != nil {
		t.Fatal(err)
	}
	fc.Handler = h
	fc.Logger = log.Named("fastcgi")
	s, err := New(fc)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-done; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve = %v, want ErrServerClosed", err)
		}
	})
	return l.Addr().String(), logs
}

// client is a raw FastCGI client that sends exactly the bytes it is given.
type client struct {
	t   testing.TB
	c   net.Conn
	br  *bufio.Reader
	buf []byte
}

func dial(t testing.TB, addr string) *client {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{t: t, c: c, br: bufio.NewReader(c), buf: make([]byte, maxRecord)}
}

func (c *client) send(b ...[]byte) {
	c.t.Helper()
	c.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.c.Write(bytes.Join(b, nil)); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// next reads one record; the deadline only keeps a broken server from
// hanging the test.
func (c *client) next() (header, []byte, error) {
	c.c.SetReadDeadline(time.Now().Add(20 * time.Second))
	h, content, err := readRecord(c.br, c.buf)
	return h, slices.Clone(content), err
}

func (c *client) mustNext() (header, []byte) {
	c.t.Helper()
	h, content, err := c.next()
	if err != nil {
		c.t.Fatalf("read record: %v", err)
	}
	return h, content
}

// response collects request id's records until its END_REQUEST.
type response struct {
	stdout, stderr []byte
	records        []header // in arrival order
	end            []byte   // END_REQUEST's body
}

func (c *client) response(id uint16) response {
	c.t.Helper()
	var r response
	for {
		h, content := c.mustNext()
		if h.ID != id {
			c.t.Fatalf("record %v for request %d while reading request %d", h.Type, h.ID, id)
		}
		r.records = append(r.records, h)
		switch h.Type {
		case typeStdout:
			r.stdout = append(r.stdout, content...)
		case typeStderr:
			r.stderr = append(r.stderr, content...)
		case typeEndRequest:
			r.end = content
			return r
		default:
			c.t.Fatalf("unexpected %v record", h.Type)
		}
	}
}

// eof reports whether the server has closed the connection: an end of
// file, or a reset when it closed with bytes of ours unread.
func (c *client) eof() bool {
	_, _, err := c.next()
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
}

func begin(id uint16, role uint16, flags uint8) []byte {
	return appendRecord(nil, typeBeginRequest, id, []byte{byte(role >> 8), byte(role), flags, 0, 0, 0, 0, 0})
}

func params(id uint16, kv ...string) []byte {
	var nv []byte
	for i := 0; i+1 < len(kv); i += 2 {
		nv = appendNameValue(nv, kv[i], kv[i+1])
	}
	return append(records(typeParams, id, nv), appendRecord(nil, typeParams, id, nil)...)
}

func stdin(id uint16, body string) []byte {
	return append(records(typeStdin, id, []byte(body)), appendRecord(nil, typeStdin, id, nil)...)
}

// get is a complete GET for id.
func get(id uint16, flags uint8, kv ...string) []byte {
	kv = append([]string{"REQUEST_METHOD", "GET", "SERVER_PROTOCOL", "HTTP/1.1", "SCRIPT_NAME", "/t.cgi"}, kv...)
	return bytes.Join([][]byte{begin(id, roleResponder, flags), params(id, kv...), stdin(id, "")}, nil)
}

func unhex(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

func endBody(app uint32, status uint8) []byte { return endRequestBody(app, status) }

// script writes an executable shell script and returns its path.
func script(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "probe.cgi")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func runner(t *testing.T, cfg subprocess.Config) *subprocess.Runner {
	r := subprocess.New(cfg)
	t.Cleanup(r.Close)
	return r
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

func waitPid(t *testing.T, path string) int {
	t.Helper()
	for range 400 {
		if b, err := os.ReadFile(path); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				return pid
			}
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("no pid in %s", path)
	return 0
}

func gone(pid int) bool {
	deadline := time.Now().Add(5 * time.Second)
	for alive(pid) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	return !alive(pid)
}

// FastCGI §3.3: padding is skipped, never taken as data.
func TestPadding(t *testing.T) {
	addr, _ := serve(t, handler.Config{App: echo{keys: []string{"X"}}}, Config{})
	for _, pad := range []int{1, 2, 3, 4, 5, 6, 7, 255} {
		t.Run(strconv.Itoa(pad), func(t *testing.T) {
			c := dial(t, addr)
			padded := func(typ recType, content []byte) []byte {
				r := []byte{version1, byte(typ), 0, 1, byte(len(content) >> 8), byte(len(content)), byte(pad), 0}
				r = append(r, content...)
				return append(r, bytes.Repeat([]byte{0xee}, pad)...)
			}
			nv := appendNameValue(appendNameValue(nil, "REQUEST_METHOD", "POST"), "X", "padded")
			nv = appendNameValue(nv, "CONTENT_LENGTH", "5")
			c.send(begin(1, roleResponder, 0), padded(typeParams, nv), padded(typeParams, nil),
				padded(typeStdin, []byte("hello")), padded(typeStdin, nil))
			r := c.response(1)
			if want := "X=\"padded\"\nbody=\"hello\""; !bytes.HasSuffix(r.stdout, []byte(want)) {
				t.Errorf("stdout = %q, want it to end %q", r.stdout, want)
			}
		})
	}
}

// FastCGI §3.3: a stream's value does not depend on how it is split.
func TestSplitting(t *testing.T) {
	addr, _ := serve(t, handler.Config{App: echo{keys: []string{"SERVER_ADDR", "SERVER_PORT", "REQUEST_METHOD"}}}, Config{})
	var nv []byte
	for _, kv := range [][2]string{{"REQUEST_METHOD", "GET"}, {"SERVER_ADDR", "199.170.183.42"}, {"SERVER_PORT", "80"}} {
		nv = appendNameValue(nv, kv[0], kv[1])
	}
	cut := bytes.Index(nv, []byte("VER_ADDR")) // the spec's "…SER" / "VER_ADDR…"
	splits := map[string][][]byte{
		"one record": {nv},
		"mid pair":   {nv[:cut], nv[cut:]},
		"one byte a record ": func() (out [][]byte) {
			for i := range nv {
				out = append(out, nv[i:i+1])
			}
			return out
		}(),
	}
	var want []byte
	for _, name := range []string{"one record", "mid pair", "one byte a record "} {
		c := dial(t, addr)
		msg := begin(1, roleResponder, 0)
		for _, part := range splits[name] {
			msg = appendRecord(msg, typeParams, 1, part)
		}
		msg = appendRecord(msg, typeParams, 1, nil)
		c.send(msg, stdin(1, ""))
		got := c.response(1).stdout
		if want == nil {
			want = got
		}
		if !bytes.Equal(got, want) || !bytes.Contains(got, []byte(`SERVER_ADDR="199.170.183.42"`)) {
			t.Errorf("%s: stdout = %q, want %q", name, got, want)
		}
	}
}

// FastCGI §3.3: GET_VALUES with a request id is an application record
// and is ignored; so are records of inactive requests; id 1 can be reused.
func TestInactiveIDs(t *testing.T) {
	addr, _ := serve(t, handler.Config{App: output("Content-Type: text/plain\r\n\r\nok")}, Config{})
	c := dial(t, addr)
	getValues := appendRecord(nil, typeGetValues, 1, appendNameValue(nil, "FCGI_MAX_CONNS", ""))
	c.send(getValues, appendRecord(nil, typeStdin, 1, []byte("stray")), get(1, flagKeepConn))
	r := c.response(1)
	if !bytes.HasSuffix(r.stdout, []byte("ok")) {
		t.Fatalf("first response = %q", r.stdout)
	}
	c.send(appendRecord(nil, typeStdin, 1, []byte("x")), get(1, flagKeepConn))
	if r := c.response(1); !bytes.HasSuffix(r.stdout, []byte("ok")) || !bytes.Equal(r.end, endBody(0, StatusRequestComplete)) {
		t.Errorf("reused id 1: stdout %q end %x", r.stdout, r.end)
	}
}

// FastCGI §4.1: GET_VALUES gets one record with only the names asked for.
func TestGetValues(t *testing.T) {
	addr, _ := serve(t, handler.Config{App: output("")}, Config{MaxConns: 7, MaxReqs: 12})
	ask := unhex("01 09 00 00 00 30 00 00") // asks for the three variables (FastCGI §4.1)
	ask = append(ask, "\x0e\x00FCGI_MAX_CONNS\x0d\x00FCGI_MAX_REQS\x0f\x00FCGI_MPXS_CONNS"...)
	var nv []byte
	nv = appendNameValue(nv, "FCGI_MAX_CONNS", "7")
	nv = appendNameValue(nv, "FCGI_MAX_REQS", "12")
	nv = appendNameValue(nv, "FCGI_MPXS_CONNS", "1")
	want := appendRecord(nil, typeGetValuesResult, 0, nv)

	bogus := appendNameValue(nil, "FCGI_MAX_CONNS", "")
	bogus = appendNameValue(bogus, "FCGI_BOGUS", "")
	bogus = appendNameValue(bogus, "FCGI_MPXS_CONNS", "")
	wantBogus := appendRecord(nil, typeGetValuesResult, 0,
		appendNameValue(appendNameValue(nil, "FCGI_MAX_CONNS", "7"), "FCGI_MPXS_CONNS", "1"))

	for _, tt := range []struct {
		name      string
		ask, want []byte
	}{
		{"the three", ask, want},
		{"with FCGI_BOGUS", appendRecord(nil, typeGetValues, 0, bogus), wantBogus},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, addr)
			c.send(tt.ask)
			got := make([]byte, len(tt.want))
			c.c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.ReadFull(c.br, got); err != nil || !bytes.Equal(got, tt.want) {
				t.Errorf("reply = % x (%v), want % x", got, err, tt.want)
			}
		})
	}
}

// FastCGI §4.2: an unknown management record gets UNKNOWN_TYPE, and the request
// in progress still completes.
func TestUnknownType(t *testing.T) {
	addr, _ := serve(t, handler.Config{App: output("Content-Type: text/plain\r\n\r\nok")}, Config{})
	c := dial(t, addr)
	c.send(begin(1, roleResponder, 0), params(1, "REQUEST_METHOD", "GET"), unhex("01 0c 00 00 00 00 00 00"))
	h, content := c.mustNext()
	got := appendRecord(nil, h.Type, h.ID, content)
	if want := unhex("01 0b 00 00 00 08 00 00 0c 00 00 00 00 00 00 00"); !bytes.Equal(got, want) {
		t.Errorf("reply = % x, want % x", got, want)
	}
	c.send(stdin(1, ""))
	if r := c.response(1); !bytes.HasSuffix(r.stdout, []byte("ok")) {
		t.Errorf("request after UNKNOWN_TYPE: %q", r.stdout)
	}
}

// FastCGI §5.1: KEEP_CONN decides who closes.
func TestKeepConn(t *testing.T) {
	addr, _ := serve(t, handler.Config{App: output("Content-Type: text/plain\r\n\r\nok")}, Config{})
	c := dial(t, addr)
	c.send(get(1, 0))
	c.response(1)
	if !c.eof() {
		t.Errorf("connection still open after END_REQUEST without KEEP_CONN")
	}
	c = dial(t, addr)
	for i := range 3 {
		c.send(get(1, flagKeepConn))
		if r := c.response(1); !bytes.HasSuffix(r.stdout, []byte("ok")) {
			t.Fatalf("request %d on a kept connection: %q", i, r.stdout)
		}
	}
}

// FastCGI §6.2: the body arrives on STDIN and the program reads exactly it.
func TestBody(t *testing.T) {
	r := runner(t, subprocess.Config{})
	prog := script(t, `printf 'Content-Type: text/plain\r\n\r\n'; echo "CL=$CONTENT_LENGTH"; cat`)
	addr, _ := serve(t, handler.Config{App: r, Program: prog}, Config{})
	c := dial(t, addr)
	c.send(begin(1, roleResponder, 0), params(1, "REQUEST_METHOD", "POST", "CONTENT_LENGTH", "25"),
		stdin(1, "quantity=100&item=3047936"))
	if got, want := string(c.response(1).stdout), "Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nCL=25\nquantity=100&item=3047936"; got != want {
		t.Errorf("stdout = %q, want %q", got, want)
	}
}

// FastCGI §5.4: ABORT_REQUEST ends the request at once and stops its program.
func TestAbort(t *testing.T) {
	pidfile := filepath.Join(t.TempDir(), "pid")
	r := runner(t, subprocess.Config{KillGrace: 500 * time.Millisecond})
	prog := script(t, `echo $$ > "`+pidfile+`"; exec sleep 30`)
	addr, _ := serve(t, handler.Config{App: r, Program: prog}, Config{})
	c := dial(t, addr)
	c.send(get(1, 0))
	pid := waitPid(t, pidfile)
	c.send(unhex("01 02 00 01 00 00 00 00"))
	res := c.response(1)
	if res.end[4] != StatusRequestComplete {
		t.Errorf("END_REQUEST = %x, want protocolStatus REQUEST_COMPLETE", res.end)
	}
	if !gone(pid) {
		t.Errorf("program %d still running after ABORT_REQUEST", pid)
	}
}

// FastCGI §5.5: appStatus is the program's exit status.
func TestAppStatus(t *testing.T) {
	r := runner(t, subprocess.Config{})
	prog := script(t, `printf 'Content-Type: text/plain\r\n\r\nbye'; exit 3`)
	addr, _ := serve(t, handler.Config{App: r, Program: prog}, Config{})
	c := dial(t, addr)
	c.send(get(1, 0))
	if got := c.response(1).end; !bytes.Equal(got, unhex("00 00 00 03 00 00 00 00")) {
		t.Errorf("END_REQUEST body = % x, want appStatus 3", got)
	}
}

// FastCGI §5.5: an unknown role gets UNKNOWN_ROLE and no STDOUT.
func TestUnknownRole(t *testing.T) {
	addr, _ := serve(t, handler.Config{App: output("Content-Type: text/plain\r\n\r\nok")}, Config{})
	c := dial(t, addr)
	c.send(unhex("01 01 00 01 00 08 00 00 00 09 00 00 00 00 00 00"))
	got := make([]byte, 16)
	c.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c.br, got); err != nil || !bytes.Equal(got, unhex("01 03 00 01 00 08 00 00 00 00 00 00 03 00 00 00")) {
		t.Errorf("reply = % x (%v)", got, err)
	}
	if !c.eof() {
		t.Errorf("connection open after rejecting a request without KEEP_CONN")
	}
}

// FastCGI §5.5: past FCGI_MAX_REQS a request gets OVERLOADED at once.
func TestOverloaded(t *testing.T) {
	pidfile := filepath.Join(t.TempDir(), "pid")
	r := runner(t, subprocess.Config{MaxChildren: 1, KillGrace: 100 * time.Millisecond})
	prog := script(t, `echo $$ > "`+pidfile+`"; exec sleep 30`)
	addr, _ := serve(t, handler.Config{App: r, Program: prog}, Config{MaxReqs: 1})
	held := dial(t, addr)
	held.send(get(1, 0))
	waitPid(t, pidfile)
	c := dial(t, addr)
	c.send(get(1, 0))
	got := make([]byte, 16)
	c.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c.br, got); err != nil || !bytes.Equal(got, unhex("01 03 00 01 00 08 00 00 00 00 00 00 02 00 00 00")) {
		t.Errorf("reply = % x (%v), want END_REQUEST OVERLOADED", got, err)
	}
}

// FastCGI §6.1: STDOUT always ends with an empty record; STDERR records, when
// asked for, carry the program's stderr and end before END_REQUEST.
func TestStreams(t *testing.T) {
	r := runner(t, subprocess.Config{})
	prog := script(t, `printf 'Hello, stderr!\n' >&2; printf 'Content-Type: text/plain\r\n\r\n'`)
	addr, _ := serve(t, handler.Config{App: r, Program: prog}, Config{StderrRecords: true})
	c := dial(t, addr)
	c.send(get(1, 0))
	res := c.response(1)
	var kinds []string
	for _, h := range res.records {
		kinds = append(kinds, fmt.Sprintf("%v/%d", h.Type, h.ContentLength))
	}
	last := len(res.records) - 1
	if res.records[last-2].Type != typeStdout || res.records[last-2].ContentLength != 0 ||
		res.records[last-1].Type != typeStderr || res.records[last-1].ContentLength != 0 {
		t.Errorf("records %v: want empty STDOUT, empty STDERR, END_REQUEST last", kinds)
	}
	if string(res.stderr) != "Hello, stderr!\n" {
		t.Errorf("stderr = %q", res.stderr)
	}
	if string(res.stdout) != "Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n" {
		t.Errorf("stdout = %q", res.stdout)
	}
}

// FastCGI §6.1: NPH output becomes CGI headers; no HTTP status line reaches nginx.
func TestNPH(t *testing.T) {
	r := runner(t, subprocess.Config{})
	dir := t.TempDir()
	prog := filepath.Join(dir, "nph-probe.cgi")
	os.WriteFile(prog, []byte("#!/bin/sh\nprintf 'HTTP/1.0 200 OK\\r\\nContent-Type: text/plain\\r\\n\\r\\nok'\n"), 0o755)
	addr, _ := serve(t, handler.Config{App: r, Program: prog}, Config{})
	c := dial(t, addr)
	c.send(get(1, 0))
	if got := string(c.response(1).stdout); got != "Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nok" {
		t.Errorf("stdout = %q", got)
	}
}

// FastCGI §6.2: a body shorter than CONTENT_LENGTH ends in EOF, not a hang.
func TestShortBody(t *testing.T) {
	r := runner(t, subprocess.Config{})
	prog := script(t, `printf 'Content-Type: text/plain\r\n\r\n'; wc -c`)
	addr, _ := serve(t, handler.Config{App: r, Program: prog}, Config{})
	c := dial(t, addr)
	c.send(begin(1, roleResponder, 0), params(1, "REQUEST_METHOD", "POST", "CONTENT_LENGTH", "15"), stdin(1, "0123456789"))
	if got := string(c.response(1).stdout); !strings.HasSuffix(got, "\r\n\r\n10\n") {
		t.Errorf("stdout = %q, want the program to count 10 bytes", got)
	}
}

// FastCGI §6.3: an authorizer's response is relayed; on 200 its body is dropped.
func TestAuthorizer(t *testing.T) {
	tests := []struct{ out, want string }{
		{"Status: 200 OK\r\nVariable-X-LIGHTTPD-FCGI-AUTH: LighttpdTestContent\r\n\r\nignored body",
			"Status: 200 OK\r\nVariable-X-LIGHTTPD-FCGI-AUTH: LighttpdTestContent\r\n\r\n"},
		{"Status: 403 Forbidden\r\n\r\n", "Status: 403 Forbidden\r\nContent-Length: 0\r\n\r\n"},
		{"Status: 401 Unauthorized\r\nWWW-Authenticate: Basic\r\nContent-Type: text/plain\r\n\r\nno",
			"Status: 401 Unauthorized\r\nWWW-Authenticate: Basic\r\nContent-Type: text/plain\r\n\r\nno"},
	}
	for _, tt := range tests {
		t.Run(tt.want[:len("Status: 200")], func(t *testing.T) {
			var env environ.Environ
			app := appFunc(func(c *handler.Call) string { env = c.Env; return tt.out })
			addr, _ := serve(t, handler.Config{App: app}, Config{})
			c := dial(t, addr)
			c.send(begin(1, roleAuthorizer, 0), params(1, "REQUEST_METHOD", "GET", "REMOTE_USER", "sha"),
				appendRecord(nil, typeStdin, 1, nil))
			if got := string(c.response(1).stdout); got != tt.want {
				t.Errorf("stdout = %q, want %q", got, tt.want)
			}
			if env["FCGI_ROLE"] != "AUTHORIZER" || env["REMOTE_USER"] != "sha" {
				t.Errorf("FCGI_ROLE %q REMOTE_USER %q", env["FCGI_ROLE"], env["REMOTE_USER"])
			}
		})
	}
}

// appFunc is an app whose output depends on the call.
type appFunc func(*handler.Call) string

func (f appFunc) Start(_ context.Context, c *handler.Call) (handler.Run, error) {
	return &fixed{Reader: strings.NewReader(f(c))}, nil
}

// FastCGI §6.4: a filter reads its body, then the FCGI_DATA stream.
func TestFilter(t *testing.T) {
	addr, _ := serve(t, handler.Config{App: echo{keys: []string{"CONTENT_LENGTH", "FCGI_DATA_LENGTH", "FCGI_ROLE"}}}, Config{})
	c := dial(t, addr)
	c.send(begin(1, roleFilter, 0),
		params(1, "REQUEST_METHOD", "GET", "CONTENT_LENGTH", "3", "FCGI_DATA_LENGTH", "5", "FCGI_DATA_LAST_MOD", "0"),
		stdin(1, "abc"), appendRecord(nil, typeData, 1, []byte("hello")), appendRecord(nil, typeData, 1, nil))
	want := "CONTENT_LENGTH=\"8\"\nFCGI_DATA_LENGTH=\"5\"\nFCGI_ROLE=\"FILTER\"\nbody=\"abchello\""
	if got := string(c.response(1).stdout); !strings.HasSuffix(got, want) {
		t.Errorf("stdout = %q, want it to end %q", got, want)
	}
}

// FastCGI §6.1 and §3.4: a value with NUL never reaches the environment; long
// names and values (1- and 4-byte lengths) arrive intact.
func TestParams(t *testing.T) {
	r := runner(t, subprocess.Config{})
	prog := script(t, `printf 'Content-Type: text/plain\r\n\r\n'; env`)
	addr, _ := serve(t, handler.Config{App: r, Program: prog}, Config{})
	long := "HTTP_" + strings.Repeat("N", 295)
	big := strings.Repeat("v", 70000)
	c := dial(t, addr)
	c.send(begin(1, roleResponder, 0), params(1, "REQUEST_METHOD", "GET", "X_NUL", "a\x00b", long, "1", "HTTP_X_BIG", big),
		stdin(1, ""))
	env := string(c.response(1).stdout)
	if strings.Contains(env, "X_NUL") {
		t.Errorf("a value with NUL reached the program")
	}
	if !strings.Contains(env, "\n"+long+"=1\n") || !strings.Contains(env, "\nHTTP_X_BIG="+big+"\n") {
		t.Errorf("the 300-byte name or the 70000-byte value did not arrive intact")
	}
}

// FastCGI §3.5: the web server closing mid-STDOUT stops the program, and the
// daemon keeps serving.
func TestClosedMidResponse(t *testing.T) {
	pidfile := filepath.Join(t.TempDir(), "pid")
	r := runner(t, subprocess.Config{KillGrace: 500 * time.Millisecond})
	prog := script(t, `echo $$ > "`+pidfile+`"; printf 'Content-Type: text/plain\r\n\r\n'; exec yes`)
	addr, _ := serve(t, handler.Config{App: r, Program: prog}, Config{})
	c := dial(t, addr)
	c.send(get(1, 0))
	c.mustNext()
	pid := waitPid(t, pidfile)
	c.c.Close()
	if !gone(pid) {
		t.Errorf("program %d still running after the connection closed", pid)
	}
	os.Remove(pidfile)
	c = dial(t, addr)
	c.send(get(1, 0))
	if h, _ := c.mustNext(); h.Type != typeStdout {
		t.Errorf("after a broken connection the next request got %v", h.Type)
	}
}

// FastCGI §8: a version other than 1 closes the connection.
func TestVersion(t *testing.T) {
	addr, logs := serve(t, handler.Config{App: output("")}, Config{})
	c := dial(t, addr)
	c.send(unhex("02 01 00 01 00 08 00 00 00 01 00 00 00 00 00 00"))
	if !c.eof() {
		t.Errorf("connection open after a version 2 record")
	}
	if !strings.Contains(logs.String(), "unsupported protocol version 2") {
		t.Errorf("log = %q, want the reason", logs)
	}
}

// FastCGI appendix B.1: the specification's simple GET flow, byte for byte.
func TestSimpleFlow(t *testing.T) {
	addr, _ := serve(t, handler.Config{App: output("Content-type: text/html\r\n\r\n<html>\n<head> ... ")}, Config{})
	c := dial(t, addr)
	c.send(begin(1, roleResponder, 0), params(1, "SERVER_PORT", "80", "SERVER_ADDR", "199.170.183.42", "REQUEST_METHOD", "GET"),
		appendRecord(nil, typeStdin, 1, nil))
	c.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, _ := io.ReadAll(c.br)
	body := "Status: 200 OK\r\nContent-type: text/html\r\n\r\n<html>\n<head> ... "
	want := appendRecord(nil, typeStdout, 1, []byte(body))
	want = appendRecord(want, typeStdout, 1, nil)
	want = appendRecord(want, typeEndRequest, 1, endBody(0, StatusRequestComplete))
	if !bytes.Equal(got, want) {
		t.Errorf("reply =\n% x\nwant\n% x", got, want)
	}
}

// FastCGI appendix B.3: the error flow: stdout, stderr, both closed, appStatus 938.
func TestErrorFlow(t *testing.T) {
	addr, _ := serve(t, handler.Config{App: echo{code: 938, stderr: "config error: missing SI_UID\n"}},
		Config{StderrRecords: true})
	c := dial(t, addr)
	c.send(get(1, 0))
	r := c.response(1)
	if string(r.stderr) != "config error: missing SI_UID\n" || !bytes.Equal(r.end, unhex("00 00 03 aa 00 00 00 00")) {
		t.Errorf("stderr %q end % x; want the message and appStatus 938", r.stderr, r.end)
	}
}

// FastCGI appendix B.4: two requests on one connection, the second finishing first.
func TestMultiplexed(t *testing.T) {
	release := make(chan struct{})
	app := appFunc(func(c *handler.Call) string {
		if c.Env["WHICH"] == "slow" {
			<-release
		}
		return "Content-Type: text/plain\r\n\r\n" + c.Env["WHICH"]
	})
	addr, _ := serve(t, handler.Config{App: app}, Config{})
	c := dial(t, addr)
	c.send(begin(1, roleResponder, flagKeepConn), begin(2, roleResponder, flagKeepConn),
		params(1, "REQUEST_METHOD", "GET", "WHICH", "slow"), params(2, "REQUEST_METHOD", "GET", "WHICH", "fast"),
		appendRecord(nil, typeStdin, 1, nil), appendRecord(nil, typeStdin, 2, nil))
	if r := c.response(2); !bytes.HasSuffix(r.stdout, []byte("fast")) {
		t.Fatalf("request 2 = %q", r.stdout)
	}
	close(release)
	if r := c.response(1); !bytes.HasSuffix(r.stdout, []byte("slow")) {
		t.Errorf("request 1 = %q", r.stdout)
	}
}

// TestBounds: each bound closes only the connection that breaks it, with a
// logged reason.
func TestBounds(t *testing.T) {
	addr, logs := serve(t, handler.Config{App: output("Content-Type: text/plain\r\n\r\nok")},
		Config{MaxParamsBytes: 1000, MaxConnParamsBytes: 2000, MaxConnRequests: 3, ParamsTimeout: 200 * time.Millisecond})
	unfinished := func(id uint16) []byte { // BEGIN and 900 bytes of PARAMS
		return append(begin(id, roleResponder, flagKeepConn),
			appendRecord(nil, typeParams, id, appendNameValue(nil, "HTTP_X", strings.Repeat("x", 890)))...)
	}
	tests := []struct {
		name, reason string
		send         []byte
	}{
		{"params over the limit", "parameters over the limit",
			append(begin(1, roleResponder, 0), params(1, "HTTP_X", strings.Repeat("x", 2000))...)},
		{"params over the connection's limit", "over the connection's limit of 2000 bytes",
			bytes.Join([][]byte{unfinished(1), unfinished(2), unfinished(3)}, nil)},
		{"too many requests", "more than 3 requests",
			bytes.Join([][]byte{begin(1, roleResponder, 1), begin(2, roleResponder, 1), begin(3, roleResponder, 1), begin(4, roleResponder, 1)}, nil)},
		{"slow params", "not complete in time", begin(1, roleResponder, 0)},
		{"STDIN before the params end", "STDIN before the end", append(begin(1, roleResponder, 0), stdin(1, "x")...)},
		{"short BEGIN_REQUEST body", "BEGIN_REQUEST body is not 8 bytes", appendRecord(nil, typeBeginRequest, 1, []byte{0, 1})},
		{"BEGIN for a running request", "which is running", append(begin(1, roleResponder, 0), begin(1, roleResponder, 0)...)},
		{"malformed params", "malformed name-value pair",
			append(begin(1, roleResponder, 0), append(appendRecord(nil, typeParams, 1, []byte{5, 1, 'a'}), appendRecord(nil, typeParams, 1, nil)...)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bystander := dial(t, addr) // its request runs, waiting for its body
			bystander.send(begin(1, roleResponder, flagKeepConn), params(1, "REQUEST_METHOD", "POST", "CONTENT_LENGTH", "2"))
			c := dial(t, addr)
			c.send(tt.send)
			for {
				_, _, err := c.next()
				if err != nil {
					break
				}
			}
			deadline := time.Now().Add(5 * time.Second)
			for !strings.Contains(logs.String(), tt.reason) && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if !strings.Contains(logs.String(), tt.reason) {
				t.Errorf("log lacks %q:\n%s", tt.reason, logs)
			}
			// The bystander's request, begun before, still completes.
			bystander.send(stdin(1, "hi"))
			if r := bystander.response(1); !bytes.HasSuffix(r.stdout, []byte("ok")) {
				t.Errorf("bystander's request = %q", r.stdout)
			}
		})
	}
}

// TestWebServerAddrs: FCGI_WEB_SERVER_ADDRS refuses other peers.
func TestWebServerAddrs(t *testing.T) {
	addr, logs := serve(t, handler.Config{App: output("Content-Type: text/plain\r\n\r\nok")},
		Config{WebServerAddrs: []string{"192.0.2.1"}})
	c := dial(t, addr)
	c.send(get(1, 0))
	if !c.eof() {
		t.Errorf("connection from 127.0.0.1 served although only 192.0.2.1 is allowed")
	}
	if !strings.Contains(logs.String(), "FCGI_WEB_SERVER_ADDRS") {
		t.Errorf("refusal not logged: %s", logs)
	}
	addr, _ = serve(t, handler.Config{App: output("Content-Type: text/plain\r\n\r\nok")},
		Config{WebServerAddrs: []string{"192.0.2.1", " 127.0.0.1"}})
	c = dial(t, addr)
	c.send(get(1, 0))
	if r := c.response(1); !bytes.HasSuffix(r.stdout, []byte("ok")) {
		t.Errorf("allowed peer got %q", r.stdout)
	}
}

// TestBackpressure: a web server that stops reading stops the program: its
// output waits in the socket and pipe buffers, not in gatewayd's memory.
func TestBackpressure(t *testing.T) {
	dir := t.TempDir()
	r := runner(t, subprocess.Config{})
	// 64 MiB is far more than the kernel's buffers on the way can hold.
	prog := script(t, `printf 'Content-Type: application/octet-stream\r\n\r\n'
head -c 67108864 /dev/zero
touch "`+dir+`/finished"`)
	addr, _ := serve(t, handler.Config{App: r, Program: prog}, Config{})
	c := dial(t, addr)
	c.send(get(1, 0))
	_, first := c.mustNext() // the program runs and writes
	time.Sleep(500 * time.Millisecond)
	if _, err := os.Stat(filepath.Join(dir, "finished")); err == nil {
		t.Fatalf("the program wrote 64 MiB while nobody read it: gatewayd buffered its output")
	}
	res := c.response(1)
	if n := len(first) + len(res.stdout); n < 64<<20 {
		t.Errorf("read %d bytes of output, want all 64 MiB", n)
	}
	if _, err := os.Stat(filepath.Join(dir, "finished")); err != nil {
		t.Errorf("the program did not finish once its output was read")
	}
}

// TestPipedUpload: a body piped into a program arrives whole and in order,
// whether the program keeps up or starts reading late (the body waits in
// memory and a file meanwhile). One that exits without reading gets its
// response through, the rest of its body is dropped, and the connection
// goes on.
func TestPipedUpload(t *testing.T) {
	r := runner(t, subprocess.Config{})
	body := make([]byte, 8<<20)
	for i := range body {
		body[i] = byte(i*7 + i>>13)
	}
	sum := sha256.Sum256(body)
	want := hex.EncodeToString(sum[:])
	for _, delay := range []string{"0", "0.5"} {
		prog := script(t, `sleep `+delay+`
printf 'Content-Type: text/plain\r\n\r\n'; sha256sum | cut -c1-64`)
		addr, _ := serve(t, handler.Config{App: r, Program: prog}, Config{})
		c := dial(t, addr)
		go c.c.Write(bytes.Join([][]byte{begin(1, roleResponder, 0),
			params(1, "REQUEST_METHOD", "POST", "CONTENT_LENGTH", fmt.Sprint(len(body))), stdin(1, string(body))}, nil))
		if got := strings.TrimSpace(string(c.response(1).stdout)); !strings.HasSuffix(got, want) {
			t.Errorf("program reading after %ss: response %q, want the body's SHA-256 %s", delay, got, want)
		}
	}

	prog := script(t, `printf 'Content-Type: text/plain\r\n\r\nbye'`)
	addr, _ := serve(t, handler.Config{App: r, Program: prog}, Config{})
	c := dial(t, addr)
	go c.c.Write(bytes.Join([][]byte{begin(1, roleResponder, flagKeepConn),
		params(1, "REQUEST_METHOD", "POST", "CONTENT_LENGTH", fmt.Sprint(len(body))), stdin(1, string(body)),
		get(2, flagKeepConn)}, nil))
	if got := c.response(1).stdout; !bytes.HasSuffix(got, []byte("bye")) {
		t.Errorf("program that reads nothing: response %q", got)
	}
	if got := c.response(2).stdout; !bytes.HasSuffix(got, []byte("bye")) {
		t.Errorf("the next request on the connection: response %q", got)
	}
}

// TestPipedRecordsAtOnce: records of two requests that arrive in one
// write, while both programs read, each reach their own program in order,
// a responder's DATA and the bytes past CONTENT_LENGTH left out.
func TestPipedRecordsAtOnce(t *testing.T) {
	dir := t.TempDir()
	prog := script(t, `printf 'Content-Type: text/plain\r\n\r\n'; touch "`+dir+`/$HTTP_WHICH"; cat`)
	addr, _ := serve(t, handler.Config{App: runner(t, subprocess.Config{}), Program: prog}, Config{})
	c := dial(t, addr)
	c.send(begin(1, roleResponder, flagKeepConn), begin(2, roleResponder, flagKeepConn),
		params(1, "REQUEST_METHOD", "POST", "CONTENT_LENGTH", "13", "HTTP_WHICH", "one"),
		params(2, "REQUEST_METHOD", "POST", "CONTENT_LENGTH", "2", "HTTP_WHICH", "two"))
	for _, name := range []string{"one", "two"} { // both programs run, their stdin piped
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
			if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
				break
			} else if time.Now().After(deadline) {
				t.Fatalf("program %s did not start", name)
			}
		}
	}
	rec := func(tp recType, id uint16, s string) []byte { return appendRecord(nil, tp, id, []byte(s)) }
	c.send(rec(typeStdin, 1, "one-"), rec(typeStdin, 1, "two-"), rec(typeStdin, 2, "A"), rec(typeData, 1, "data"),
		rec(typeStdin, 1, "thr"), rec(typeStdin, 1, "ee-past"), rec(typeStdin, 2, "B"), rec(typeStdin, 2, "C"),
		rec(typeStdin, 1, ""), rec(typeStdin, 2, ""))
	got := map[uint16]string{}
	for ended := 0; ended < 2; {
		h, content := c.mustNext()
		switch h.Type {
		case typeStdout:
			got[h.ID] += string(content)
		case typeEndRequest:
			ended++
		}
	}
	for id, want := range map[uint16]string{1: "one-two-three", 2: "AB"} {
		if _, body, _ := strings.Cut(got[id], "\r\n\r\n"); body != want {
			t.Errorf("request %d's program read %q, want %q", id, body, want)
		}
	}
}

// TestStreamFraming: whatever the size of a write, small ones through the
// connection's buffer and large ones in one writev around the caller's
// bytes, a stream goes out as records of at most 65,535 bytes, each padded
// to a multiple of 8 and in order.
func TestStreamFraming(t *testing.T) {
	ln, err := net.Listen("unix", filepath.Join(t.TempDir(), "s"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("unix", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	c := &conn{s: &Server{cfg: Config{WriteTimeout: 10 * time.Second}}, rwc: server}
	c.bw = bufio.NewWriterSize(deadlineWriter{c}, maxRecord)
	s := &stream{c: c, r: &request{id: 7}, t: typeStdout}

	var want []byte
	sizes := []int{1, directWrite - 1, 3, directWrite, maxContent, maxContent + 1, 5*maxContent + 17, 2}
	for i, n := range sizes {
		want = append(want, bytes.Repeat([]byte{byte('a' + i)}, n)...)
	}
	done := make(chan error, 1)
	go func() {
		at := 0
		for _, n := range sizes {
			if m, err := s.Write(want[at : at+n]); m != n || err != nil {
				done <- fmt.Errorf("Write of %d bytes = %d, %v", n, m, err)
				return
			}
			at += n
		}
		c.wmu.Lock()
		defer c.wmu.Unlock()
		done <- c.bw.Flush()
	}()

	br := bufio.NewReader(client)
	buf := make([]byte, maxRecord)
	var got []byte
	for len(got) < len(want) {
		client.SetReadDeadline(time.Now().Add(10 * time.Second))
		h, content, err := readRecord(br, buf)
		if err != nil {
			t.Fatalf("after %d of %d bytes: %v", len(got), len(want), err)
		}
		if h.Type != typeStdout || h.ID != 7 || (int(h.ContentLength)+int(h.PaddingLength))%8 != 0 {
			t.Fatalf("record %+v: want STDOUT of request 7, padded to a multiple of 8", h)
		}
		got = append(got, content...)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("the records carry %d bytes, not the %d written in order", len(got), len(want))
	}
}
