package fastcgi

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/fcgi"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"testing/synctest"
	"time"

	"gatewayd/handler"
)

// pipeListener is a net.Listener whose connections are net.Pipe ends. A
// pipe buffers nothing, so a client that does not read while it writes
// deadlocks at once rather than once the socket buffers are full.
type pipeListener struct {
	conns    chan net.Conn
	done     chan struct{}
	once     sync.Once
	accepted atomic.Int32
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		l.accepted.Add(1)
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

func (l *pipeListener) dial(t testing.TB) *ClientConn {
	c, s := net.Pipe()
	select {
	case l.conns <- s:
	case <-time.After(10 * time.Second):
		t.Fatal("the application does not accept")
	}
	cc := NewClientConn(c)
	t.Cleanup(func() { cc.Close() })
	return cc
}

// fcgiApp serves h with Go's net/http/fcgi, the application side of the
// tests against a real implementation.
func fcgiApp(t testing.TB, h http.Handler) *pipeListener {
	l := &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
	done := make(chan error, 1)
	go func() { done <- fcgi.Serve(l, h) }()
	t.Cleanup(func() {
		l.Close()
		if err := <-done; !errors.Is(err, net.ErrClosed) {
			t.Errorf("fcgi.Serve = %v", err)
		}
	})
	return l
}

// echoHandler answers /echo with the request body and anything else with
// the method, path and query.
var echoHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	if r.URL.Path == "/echo" {
		io.Copy(w, r.Body)
		return
	}
	fmt.Fprintf(w, "%s %s %s", r.Method, r.URL.Path, r.URL.RawQuery)
})

func cgiParams(method, uri string, kv ...string) map[string]string {
	p := map[string]string{
		"REQUEST_METHOD":  method,
		"SERVER_PROTOCOL": "HTTP/1.1",
		"REQUEST_URI":     uri,
		"HTTP_HOST":       "example.com",
		"SCRIPT_NAME":     "",
	}
	for i := 0; i+1 < len(kv); i += 2 {
		p[kv[i]] = kv[i+1]
	}
	return p
}

// splitCGI splits net/http/fcgi's output into its status line and body.
func splitCGI(t *testing.T, out []byte) (status string, body []byte) {
	t.Helper()
	head, body, ok := bytes.Cut(out, []byte("\r\n\r\n"))
	if !ok {
		t.Fatalf("no end of header in %q", out)
	}
	status, _, _ = strings.Cut(string(head), "\r\n")
	return status, body
}

// run runs a request to its end.
func run(t *testing.T, cc *ClientConn, params map[string]string, body io.Reader) ([]byte, EndRequest) {
	t.Helper()
	r, err := cc.Do(params, body, nil)
	if err != nil {
		t.Fatalf("Do: %v", err)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	e, err := r.End()
	if err != nil {
		t.Fatalf("End: %v", err)
	}
	return out, e
}

func TestClientNetHTTPFcgi(t *testing.T) {
	l := fcgiApp(t, echoHandler)
	cc := l.dial(t)

	out, e := run(t, cc, cgiParams("GET", "/hello?a=1"), nil)
	if status, body := splitCGI(t, out); status != "Status: 200 OK" || string(body) != "GET /hello a=1" {
		t.Errorf("GET = %q, %q", status, body)
	}
	if e != (EndRequest{AppStatus: 0, ProtocolStatus: StatusRequestComplete, Reusable: true}) {
		t.Errorf("GET ended %+v", e)
	}

	// The application echoes as it reads: without the concurrent copy
	// neither side would finish over a pipe, which buffers nothing.
	body := make([]byte, 1<<20+12345)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range body {
		body[i] = byte(rng.Uint32())
	}
	out, e = run(t, cc, cgiParams("POST", "/echo", "CONTENT_LENGTH", strconv.Itoa(len(body))), bytes.NewReader(body))
	if status, got := splitCGI(t, out); status != "Status: 200 OK" || !bytes.Equal(got, body) {
		t.Errorf("POST echoed %d bytes (%s), want the %d sent", len(got), status, len(body))
	}
	if !e.Reusable {
		t.Errorf("POST ended %+v, want Reusable: the application read all its body", e)
	}

	out, e = run(t, cc, cgiParams("GET", "/again"), nil)
	if _, body := splitCGI(t, out); string(body) != "GET /again " || !e.Reusable {
		t.Errorf("third request = %q, %+v", body, e)
	}
	if n := l.accepted.Load(); n != 1 {
		t.Errorf("%d connections for 3 requests, want 1 (FCGI_KEEP_CONN)", n)
	}
}

func TestClientKeepConn(t *testing.T) {
	l := fcgiApp(t, echoHandler)
	cc := l.dial(t)
	for i := range 2 {
		out, e := run(t, cc, cgiParams("GET", "/n?"+strconv.Itoa(i)), nil)
		if _, body := splitCGI(t, out); string(body) != "GET /n "+strconv.Itoa(i) || !e.Reusable {
			t.Errorf("request %d = %q, %+v", i, body, e)
		}
	}
	if n := l.accepted.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}

func TestClientGetValues(t *testing.T) {
	t.Run("net/http/fcgi", func(t *testing.T) {
		// Over a socket: net/http/fcgi writes its empty record as the
		// client writes its request, which a pipe would deadlock.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		go fcgi.Serve(l, echoHandler)
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		cc := NewClientConn(c)
		defer cc.Close()
		v, err := cc.GetValues("FCGI_MPXS_CONNS")
		if err != nil || !maps.Equal(v, map[string]string{"FCGI_MPXS_CONNS": "1"}) {
			t.Errorf("GetValues = %v, %v", v, err)
		}
		// The empty GET_VALUES_RESULT it sends after its answer is
		// skipped.
		if out, e := run(t, cc, cgiParams("GET", "/after"), nil); !bytes.HasSuffix(out, []byte("GET /after ")) || !e.Reusable {
			t.Errorf("request after GetValues = %q, %+v", out, e)
		}
	})
	t.Run("unknown", func(t *testing.T) {
		cc, _ := pipe(t, func(a *fakeApp) error {
			if h, _, err := a.record(); err != nil || h.Type != typeGetValues {
				return fmt.Errorf("record %+v, %v", h, err)
			}
			return a.send(rec(typeUnknownType, 0, "\x09\x00\x00\x00\x00\x00\x00\x00"))
		})
		if v, err := cc.GetValues("FCGI_MPXS_CONNS"); err == nil || !strings.Contains(err.Error(), "does not know FCGI_GET_VALUES") {
			t.Errorf("GetValues = %v, %v", v, err)
		}
		if _, err := cc.Do(nil, nil, nil); !errors.Is(err, errClientUnusable) {
			t.Errorf("Do = %v, want errClientUnusable", err)
		}
	})
	t.Run("busy", func(t *testing.T) {
		cc, _ := pipe(t, func(a *fakeApp) error { return a.request() })
		if _, err := cc.Do(nil, nil, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := cc.GetValues("FCGI_MPXS_CONNS"); !errors.Is(err, errClientBusy) {
			t.Errorf("GetValues during a request = %v, want errClientBusy", err)
		}
	})
}

// The client against gatewayd's own server.
func TestClientServer(t *testing.T) {
	addr, _ := serve(t, handler.Config{App: echo{keys: []string{"REQUEST_METHOD"}, code: 3}, Timeout: 10 * time.Second},
		Config{MaxConns: 7})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	cc := NewClientConn(c)
	defer cc.Close()
	v, err := cc.GetValues("FCGI_MAX_CONNS", "FCGI_BOGUS", "FCGI_MPXS_CONNS")
	if want := map[string]string{"FCGI_MAX_CONNS": "7", "FCGI_MPXS_CONNS": "1"}; err != nil || !maps.Equal(v, want) {
		t.Errorf("GetValues = %v, %v; want %v", v, err, want)
	}
	for _, body := range []string{"", "a body"} {
		var r io.Reader
		method := "GET"
		if body != "" {
			r, method = strings.NewReader(body), "POST"
		}
		out, e := run(t, cc, map[string]string{"REQUEST_METHOD": method, "SERVER_PROTOCOL": "HTTP/1.1",
			"SCRIPT_NAME": "/t.cgi", "CONTENT_LENGTH": strconv.Itoa(len(body))}, r)
		if want := fmt.Sprintf("REQUEST_METHOD=%q\nbody=%q", method, body); !bytes.HasSuffix(out, []byte(want)) {
			t.Errorf("%s = %q, want …%q", method, out, want)
		}
		if e != (EndRequest{AppStatus: 3, Reusable: true}) {
			t.Errorf("%s ended %+v", method, e)
		}
	}
}

// fakeApp is the application end of a connection in a test, speaking raw
// records. Its methods run in the application's goroutine and return
// errors rather than end the test.
type fakeApp struct {
	c   net.Conn
	br  *bufio.Reader
	buf []byte
}

// pipe connects a ClientConn to a fakeApp running script in its own
// goroutine; wait closes the client end and reports script's error.
func pipe(t *testing.T, script func(a *fakeApp) error) (cc *ClientConn, wait func()) {
	t.Helper()
	c, s := net.Pipe()
	a := &fakeApp{c: s, br: bufio.NewReader(s), buf: make([]byte, maxRecord)}
	done := make(chan error, 1)
	go func() {
		defer s.Close()
		done <- script(a)
	}()
	cc = NewClientConn(c)
	var once sync.Once
	wait = func() {
		once.Do(func() {
			cc.Close()
			if err := <-done; err != nil {
				t.Errorf("application: %v", err)
			}
		})
	}
	t.Cleanup(wait)
	return cc, wait
}

func (a *fakeApp) record() (header, []byte, error) {
	h, content, err := readRecord(a.br, a.buf)
	return h, slices.Clone(content), err
}

// params reads BEGIN_REQUEST and the PARAMS stream.
func (a *fakeApp) params() (map[string]string, error) {
	h, content, err := a.record()
	if err != nil {
		return nil, err
	}
	if h.Type != typeBeginRequest || h.ID != 1 || !bytes.Equal(content, []byte{0, roleResponder, flagKeepConn, 0, 0, 0, 0, 0}) {
		return nil, fmt.Errorf("first record %+v % x, want BEGIN_REQUEST RESPONDER KEEP_CONN", h, content)
	}
	var nv []byte
	for {
		h, content, err := a.record()
		if err != nil {
			return nil, err
		}
		if h.Type != typeParams || h.ID != 1 {
			return nil, fmt.Errorf("%v record for %d among PARAMS", h.Type, h.ID)
		}
		if len(content) == 0 {
			break
		}
		nv = append(nv, content...)
	}
	p := map[string]string{}
	for len(nv) > 0 {
		n, v, rest, err := readNameValue(nv)
		if err != nil {
			return nil, err
		}
		p[n] = v
		nv = rest
	}
	return p, nil
}

// stdin reads the STDIN stream.
func (a *fakeApp) stdin() ([]byte, error) {
	var b []byte
	for {
		h, content, err := a.record()
		if err != nil {
			return b, err
		}
		if h.Type != typeStdin || h.ID != 1 {
			return b, fmt.Errorf("%v record for %d among STDIN", h.Type, h.ID)
		}
		if len(content) == 0 {
			return b, nil
		}
		b = append(b, content...)
	}
}

// request reads a whole request with no body.
func (a *fakeApp) request() error {
	if _, err := a.params(); err != nil {
		return err
	}
	if b, err := a.stdin(); err != nil || len(b) > 0 {
		return fmt.Errorf("STDIN %q, %v; want empty", b, err)
	}
	return nil
}

func (a *fakeApp) send(b ...[]byte) error {
	_, err := a.c.Write(bytes.Join(b, nil))
	return err
}

// rest reads what the client sends until it closes.
func (a *fakeApp) rest() ([]byte, error) {
	return io.ReadAll(a.br)
}

// rec is a record as appendRecord builds it; paddedRec one with pad bytes
// of padding, which a reader must skip whatever their number.
func rec(t recType, id uint16, content string) []byte {
	return appendRecord(nil, t, id, []byte(content))
}

func paddedRec(t recType, id uint16, content string, pad int) []byte {
	h := []byte{version1, byte(t), byte(id >> 8), byte(id), byte(len(content) >> 8), byte(len(content)), byte(pad), 0}
	return append(append(h, content...), bytes.Repeat([]byte{0xee}, pad)...)
}

func endRec(app uint32, status uint8) []byte {
	return appendRecord(nil, typeEndRequest, 1, endRequestBody(app, status))
}

// eventLog records STDOUT and STDERR content in the order the caller sees
// it.
type eventLog struct{ events []string }

func (l *eventLog) Write(p []byte) (int, error) {
	l.events = append(l.events, "err:"+string(p))
	return len(p), nil
}

func TestClientStderr(t *testing.T) {
	response := bytes.Join([][]byte{
		rec(typeStderr, 1, "warning 1\n"),
		paddedRec(typeStdout, 1, "Status: 200 OK\r\n", 255),
		paddedRec(typeStderr, 1, "warning 2\n", 0),
		rec(typeStdout, 1, "\r\nbody"),
		rec(typeStderr, 1, ""),
		rec(typeStderr, 1, "late\n"),
		rec(typeStdout, 1, ""),
		endRec(0, StatusRequestComplete),
	}, nil)
	for _, withStderr := range []bool{true, false} {
		t.Run(fmt.Sprint("stderr=", withStderr), func(t *testing.T) {
			cc, _ := pipe(t, func(a *fakeApp) error {
				if err := a.request(); err != nil {
					return err
				}
				return a.send(response)
			})
			var log eventLog
			var stderr io.Writer
			if withStderr {
				stderr = &log
			}
			r, err := cc.Do(nil, nil, stderr)
			if err != nil {
				t.Fatal(err)
			}
			p := make([]byte, 4096)
			for {
				n, err := r.Read(p)
				if n > 0 {
					log.events = append(log.events, "out:"+string(p[:n]))
				}
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("Read: %v", err)
				}
			}
			e, err := r.End()
			if err != nil || !e.Reusable {
				t.Errorf("End = %+v, %v", e, err)
			}
			want := []string{"err:warning 1\n", "out:Status: 200 OK\r\n", "err:warning 2\n", "out:\r\nbody", "err:late\n"}
			if !withStderr {
				want = []string{"out:Status: 200 OK\r\n", "out:\r\nbody"}
			}
			if !slices.Equal(log.events, want) {
				t.Errorf("events %q\nwant   %q", log.events, want)
			}
		})
	}
}

func TestClientEndRequest(t *testing.T) {
	ends := []struct{ app uint32 }{{0}, {3}, {0xffffffff}}
	statuses := []uint8{StatusRequestComplete, StatusCantMpxConn, StatusOverloaded, StatusUnknownRole}
	cc, _ := pipe(t, func(a *fakeApp) error {
		for _, e := range ends {
			for _, s := range statuses {
				if err := a.request(); err != nil {
					return err
				}
				if err := a.send(endRec(e.app, s)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	// All on one connection: END_REQUEST, whatever it says, leaves the
	// connection usable.
	for _, e := range ends {
		for _, s := range statuses {
			r, err := cc.Do(nil, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if n, err := r.Read(make([]byte, 10)); n != 0 || err != io.EOF {
				t.Errorf("Read = %d, %v; want io.EOF: no STDOUT at all is an empty response", n, err)
			}
			got, err := r.End()
			if want := (EndRequest{AppStatus: e.app, ProtocolStatus: s, Reusable: true}); got != want || err != nil {
				t.Errorf("End = %+v, %v; want %+v", got, err, want)
			}
		}
	}
}

func TestClientClosedMidResponse(t *testing.T) {
	stdout := rec(typeStdout, 1, "Content-Type: text/plain\r\n\r\nhello")
	full := bytes.Join([][]byte{stdout, rec(typeStdout, 1, ""), endRec(0, 0)}, nil)
	for _, cut := range []int{0, 5, headerLen, headerLen + 10, len(stdout), len(stdout) + 3, len(full) - 1} {
		t.Run(strconv.Itoa(cut), func(t *testing.T) {
			cc, _ := pipe(t, func(a *fakeApp) error {
				if err := a.request(); err != nil {
					return err
				}
				return a.send(full[:cut]) // and close
			})
			r, err := cc.Do(nil, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			out, err := io.ReadAll(r)
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("Read = %v, want io.ErrUnexpectedEOF", err)
			}
			if want := "Content-Type: text/plain\r\n\r\nhello"; !strings.HasPrefix(want, string(out)) {
				t.Errorf("read %q, not a prefix of %q", out, want)
			}
			if e, err := r.End(); e.Reusable || !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("End = %+v, %v; want not Reusable, io.ErrUnexpectedEOF", e, err)
			}
			if _, err := cc.Do(nil, nil, nil); err == nil {
				t.Error("Do on the closed connection succeeded")
			}
		})
	}
}

func TestClientBadResponse(t *testing.T) {
	tests := []struct {
		name     string
		response []byte
		want     string // in the error; "" for none
	}{
		{"another id", rec(typeStdout, 2, "x"), "STDOUT record for request id 2"},
		{"END_REQUEST of another id", appendRecord(nil, typeEndRequest, 7, endRequestBody(0, 0)), "END_REQUEST record for request id 7"},
		{"version 2", unhex("02 06 00 01 00 00 00 00"), "unsupported protocol version 2"},
		{"short END_REQUEST", rec(typeEndRequest, 1, "\x00\x00\x00\x00"), "END_REQUEST body is not 8 bytes"},
		{"BEGIN_REQUEST", begin(1, roleResponder, 0), "unexpected BEGIN_REQUEST record"},
		{"ABORT_REQUEST", rec(typeAbortRequest, 1, ""), "unexpected ABORT_REQUEST record"},
		{"type 99", rec(99, 1, "x"), "unexpected type 99 record"},
		{"GET_VALUES", rec(typeGetValues, 0, ""), "unexpected management record GET_VALUES"},
		{"management STDOUT", rec(typeStdout, 0, "x"), "unexpected management record STDOUT"},
		{"ignored management", bytes.Join([][]byte{
			rec(typeUnknownType, 0, "\x01\x00\x00\x00\x00\x00\x00\x00"),
			rec(typeGetValuesResult, 0, string(appendNameValue(nil, "FCGI_MPXS_CONNS", "0"))),
			rec(typeStdout, 1, "ok"), endRec(0, 0)}, nil), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cc, _ := pipe(t, func(a *fakeApp) error {
				if err := a.request(); err != nil {
					return err
				}
				if err := a.send(tt.response); err != nil {
					return err
				}
				a.rest() // the connection stays open until the client closes it
				return nil
			})
			r, err := cc.Do(nil, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			out, readErr := io.ReadAll(r)
			e, endErr := r.End()
			if tt.want == "" {
				if readErr != nil || endErr != nil || string(out) != "ok" || !e.Reusable {
					t.Errorf("got %q, %v, End %+v, %v", out, readErr, e, endErr)
				}
				return
			}
			if readErr == nil || !strings.Contains(readErr.Error(), tt.want) {
				t.Errorf("Read = %v, want an error with %q", readErr, tt.want)
			}
			if endErr != readErr || e.Reusable {
				t.Errorf("End = %+v, %v; want not Reusable, %v", e, endErr, readErr)
			}
			if _, err := cc.Do(nil, nil, nil); !errors.Is(err, errClientUnusable) {
				t.Errorf("Do after a bad response = %v, want errClientUnusable", err)
			}
		})
	}
}

// Anything after END_REQUEST would be read as the next request's.
func TestClientBytesAfterEnd(t *testing.T) {
	cc, _ := pipe(t, func(a *fakeApp) error {
		if err := a.request(); err != nil {
			return err
		}
		return a.send(endRec(0, 0), endRec(0, 0))
	})
	if _, e := run(t, cc, nil, nil); e.Reusable {
		t.Errorf("End = %+v after two END_REQUESTs, want not Reusable", e)
	}
}

// An application that closes after END_REQUEST although asked to keep the
// connection: End must not offer it when the close was already seen.
func TestClientClosedAfterEnd(t *testing.T) {
	cc := NewClientConn(&memConn{response: append(rec(typeStdout, 1, "x"), endRec(0, 0)...), eofWithData: true})
	if _, e := run(t, cc, nil, nil); e.Reusable {
		t.Errorf("End = %+v with the connection at its end, want not Reusable", e)
	}
}

func TestClientAbort(t *testing.T) {
	t.Run("during Read", func(t *testing.T) {
		received := make(chan []byte, 1)
		proceed := make(chan struct{})
		cc, wait := pipe(t, func(a *fakeApp) error {
			if err := a.request(); err != nil {
				return err
			}
			if err := a.send(rec(typeStdout, 1, "partial")); err != nil {
				return err
			}
			// Take whatever the client sends from now on, so that a
			// second ABORT_REQUEST could not block it, and answer the
			// first.
			first := make(chan struct{})
			go func() {
				b := make([]byte, headerLen)
				_, err := io.ReadFull(a.br, b)
				close(first)
				rest, _ := a.rest()
				if err != nil {
					b = nil
				}
				received <- append(b, rest...)
			}()
			<-proceed
			<-first
			return a.send(rec(typeStdout, 1, " and then some"), endRec(9, StatusRequestComplete))
		})
		r, err := cc.Do(nil, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		p := make([]byte, 100)
		if n, err := r.Read(p); string(p[:n]) != "partial" || err != nil {
			t.Fatalf("Read = %q, %v", p[:n], err)
		}
		// Abort from several goroutines while another waits in Read.
		read := make(chan string, 1)
		go func() {
			out, err := io.ReadAll(r)
			if err != nil {
				t.Errorf("Read after Abort: %v", err)
			}
			read <- string(out)
		}()
		var wg sync.WaitGroup
		for range 3 {
			wg.Go(func() {
				if err := r.Abort(); err != nil {
					t.Errorf("Abort: %v", err)
				}
			})
		}
		wg.Wait()
		close(proceed)
		if out := <-read; out != " and then some" {
			t.Errorf("Read after Abort = %q", out)
		}
		e, err := r.End()
		if want := (EndRequest{AppStatus: 9}); e != want || err != nil {
			t.Errorf("End = %+v, %v; want %+v: an aborted request's connection is not reused", e, err, want)
		}
		if err := r.Abort(); err != nil {
			t.Errorf("Abort after End = %v", err)
		}
		wait()
		if got := <-received; !bytes.Equal(got, unhex("01 02 00 01 00 00 00 00")) {
			t.Errorf("the application received % x after the request, want one ABORT_REQUEST", got)
		}
	})

	t.Run("while a STDIN write is blocked", func(t *testing.T) {
		proceed := make(chan struct{})
		var got []recType
		cc, wait := pipe(t, func(a *fakeApp) error {
			if _, err := a.params(); err != nil {
				return err
			}
			<-proceed
			for {
				h, _, err := a.record()
				if err != nil {
					return nil // closed by End
				}
				got = append(got, h.Type)
				if h.Type == typeAbortRequest {
					if err := a.send(endRec(4, 0)); err != nil {
						return err
					}
				}
			}
		})
		r, err := cc.Do(nil, bytes.NewReader(make([]byte, 1<<20)), nil)
		if err != nil {
			t.Fatal(err)
		}
		// The application reads nothing until Abort has returned.
		aborted := make(chan error, 1)
		go func() { aborted <- r.Abort() }()
		select {
		case err := <-aborted:
			if err != nil {
				t.Errorf("Abort = %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Abort waits for the blocked STDIN write")
		}
		close(proceed)
		if e, err := r.End(); e != (EndRequest{AppStatus: 4}) || err != nil {
			t.Errorf("End = %+v, %v", e, err)
		}
		wait()
		// The copy had one record in flight at most, and stopped.
		if stdin := len(got) - 1; got[stdin] != typeAbortRequest || stdin > 1 {
			t.Errorf("the application received %v, want ABORT_REQUEST after one STDIN record at most", got)
		}
	})

	t.Run("during the STDIN copy", func(t *testing.T) {
		type summary struct {
			aborts, stdinAfter int
			stdin              int
		}
		got := make(chan summary, 1)
		started, sendEnd := make(chan struct{}), make(chan struct{})
		cc, wait := pipe(t, func(a *fakeApp) error {
			if _, err := a.params(); err != nil {
				return err
			}
			var s summary
			defer func() { got <- s }()
			for {
				// Every record arrives whole: a torn one fails here.
				h, content, err := a.record()
				if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
					// The end, or a record cut by End closing the
					// connection under the copy.
					return nil
				}
				if err != nil {
					return err
				}
				switch {
				case h.ID != 1:
					return fmt.Errorf("%v record for %d", h.Type, h.ID)
				case h.Type == typeStdin && len(content) > 0:
					if s.stdin++; s.stdin == 3 {
						close(started)
					}
					if s.aborts > 0 {
						s.stdinAfter++
					}
				case h.Type == typeAbortRequest:
					if s.aborts++; s.aborts == 1 {
						go func() {
							<-sendEnd
							a.send(endRec(2, StatusRequestComplete))
						}()
					}
				default:
					return fmt.Errorf("unexpected %v record", h.Type)
				}
			}
		})
		r, err := cc.Do(nil, endless{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			<-started
			r.Abort()
			// The copy stops at the abort, without End.
			copied := make(chan struct{})
			go func() {
				r.copying.Wait()
				close(copied)
			}()
			select {
			case <-copied:
			case <-time.After(10 * time.Second):
				t.Error("the STDIN copy goes on after Abort")
			}
			close(sendEnd)
		}()
		if out, err := io.ReadAll(r); len(out) > 0 || err != nil {
			t.Errorf("Read = %q, %v", out, err)
		}
		if e, err := r.End(); e != (EndRequest{AppStatus: 2}) || err != nil {
			t.Errorf("End = %+v, %v", e, err)
		}
		r.copying.Wait()
		wait()
		// A record already going out when Abort came may follow it; no
		// more.
		if s := <-got; s.aborts != 1 || s.stdinAfter > 1 {
			t.Errorf("the application received %d ABORT_REQUESTs and %d STDIN records after the first, want 1 and at most 1", s.aborts, s.stdinAfter)
		}
	})
}

// endless is a body that never ends.
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	n := min(len(p), 1000)
	clear(p[:n])
	return n, nil
}

// blockingBody is a body whose Read waits for release.
type blockingBody struct {
	entered chan struct{} // closed by the first Read
	release chan struct{}
	reads   atomic.Int32
}

func (b *blockingBody) Read(p []byte) (int, error) {
	if b.reads.Add(1) == 1 {
		close(b.entered)
	}
	<-b.release
	return copy(p, "late"), nil
}

func TestClientUnreadBody(t *testing.T) {
	blocked := &blockingBody{entered: make(chan struct{}), release: make(chan struct{})}
	tests := []struct {
		name string
		body io.Reader
	}{
		{"copy blocked writing", bytes.NewReader(make([]byte, 4<<20))},
		{"copy blocked reading body", blocked},
		{"endless body", endless{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ended := make(chan struct{})
			cc, _ := pipe(t, func(a *fakeApp) error {
				if _, err := a.params(); err != nil {
					return err
				}
				// Answer without reading STDIN; read only once the client
				// is done, to see it close.
				if err := a.send(rec(typeStdout, 1, "Status: 413\r\n\r\n"), endRec(0, 0)); err != nil {
					return err
				}
				<-ended
				a.rest()
				return nil
			})
			r, err := cc.Do(cgiParams("POST", "/"), tt.body, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.body == blocked {
				<-blocked.entered
			}
			if out, err := io.ReadAll(r); string(out) != "Status: 413\r\n\r\n" || err != nil {
				t.Errorf("Read = %q, %v", out, err)
			}
			endDone := make(chan struct{})
			go func() {
				defer close(endDone)
				if e, err := r.End(); e.Reusable || err != nil {
					t.Errorf("End = %+v, %v; want not Reusable, no error", e, err)
				}
			}()
			select {
			case <-endDone:
			case <-time.After(10 * time.Second):
				t.Fatal("End waits for the STDIN copy")
			}
			close(ended)
			if _, err := cc.Do(nil, nil, nil); !errors.Is(err, errClientUnusable) {
				t.Errorf("Do = %v, want errClientUnusable", err)
			}
			if tt.body == blocked {
				close(blocked.release)
			}
			// The copy ends on its own, without reading body again.
			r.copying.Wait()
			if tt.body == blocked && blocked.reads.Load() != 1 {
				t.Errorf("body read %d times, want 1", blocked.reads.Load())
			}
		})
	}
}

// holdLastStdin is a connection that delivers the record ending STDIN and
// then holds its Write until release.
type holdLastStdin struct {
	net.Conn
	release chan struct{}
}

func (c holdLastStdin) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	if bytes.HasSuffix(b, emptyStdin) {
		<-c.release
	}
	return n, err
}

// An application that answers as soon as its body ended may do so before
// the write of the last STDIN record returns: End waits for that write
// rather than give up the connection.
func TestClientEndWaitsForLastStdin(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c, s := net.Pipe()
		defer s.Close()
		go func() {
			a := &fakeApp{c: s, br: bufio.NewReader(s), buf: make([]byte, maxRecord)}
			if _, err := a.params(); err != nil {
				t.Error(err)
			}
			if b, err := a.stdin(); string(b) != "body" || err != nil {
				t.Errorf("STDIN %q, %v", b, err)
			}
			a.send(rec(typeStdout, 1, "ok"), endRec(0, 0))
		}()
		release := make(chan struct{})
		cc := NewClientConn(holdLastStdin{c, release})
		defer cc.Close()
		r, err := cc.Do(nil, strings.NewReader("body"), nil)
		if err != nil {
			t.Fatal(err)
		}
		if out, err := io.ReadAll(r); string(out) != "ok" || err != nil {
			t.Fatalf("Read = %q, %v", out, err)
		}
		ended := make(chan EndRequest, 1)
		go func() {
			e, err := r.End()
			if err != nil {
				t.Error(err)
			}
			ended <- e
		}()
		synctest.Wait()
		select {
		case e := <-ended:
			t.Fatalf("End = %+v before the last STDIN write returned", e)
		default:
		}
		close(release)
		if e := <-ended; !e.Reusable {
			t.Errorf("End = %+v, want Reusable", e)
		}
	})
}

func TestClientBodyError(t *testing.T) {
	boom := errors.New("client went away")
	cc, _ := pipe(t, func(a *fakeApp) error {
		if _, err := a.params(); err != nil {
			return err
		}
		if h, content, err := a.record(); err != nil || h.Type != typeStdin || string(content) != "abc" {
			return fmt.Errorf("record %+v %q %v, want STDIN abc", h, content, err)
		}
		// The application waits for the rest; the caller aborts.
		if h, _, err := a.record(); err != nil || h.Type != typeAbortRequest {
			return fmt.Errorf("record %+v %v, want ABORT_REQUEST", h, err)
		}
		return a.send(endRec(1, 0))
	})
	r, err := cc.Do(nil, io.MultiReader(strings.NewReader("abc"), iotest.ErrReader(boom)), nil)
	if err != nil {
		t.Fatal(err)
	}
	r.copying.Wait()
	r.Abort()
	if e, err := r.End(); e.Reusable || e.AppStatus != 1 || err != boom {
		t.Errorf("End = %+v, %v; want appStatus 1, not Reusable, %v", e, err, boom)
	}
}

func TestClientMisuse(t *testing.T) {
	cc, _ := pipe(t, func(a *fakeApp) error {
		if err := a.request(); err != nil {
			return err
		}
		return a.send(rec(typeStdout, 1, "x"), endRec(0, 0))
	})
	r, err := cc.Do(nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cc.Do(nil, nil, nil); !errors.Is(err, errClientBusy) {
		t.Errorf("second Do = %v, want errClientBusy", err)
	}
	if e, err := r.End(); !e.Reusable || err != nil {
		t.Errorf("End = %+v, %v", e, err)
	}
	if _, err := r.End(); !errors.Is(err, errEndTwice) {
		t.Errorf("second End = %v, want errEndTwice", err)
	}
	if n, err := r.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("Read after End = %d, %v; want io.EOF", n, err)
	}
	if err := cc.Close(); err != nil {
		t.Errorf("Close = %v", err)
	}
	if err := cc.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if _, err := cc.Do(nil, nil, nil); !errors.Is(err, net.ErrClosed) && !errors.Is(err, io.ErrClosedPipe) {
		t.Errorf("Do after Close = %v", err)
	}
}

// deadlineResponse is a response with every kind of record and padding,
// for cutting anywhere.
var deadlineResponse = bytes.Join([][]byte{
	rec(typeStdout, 1, "Status: 200 OK\r\n\r\n"),
	paddedRec(typeStderr, 1, "warning\n", 13),
	paddedRec(typeStdout, 1, "hello, world", 3),
	rec(typeUnknownType, 0, "\x0c\x00\x00\x00\x00\x00\x00\x00"),
	rec(typeStdout, 1, ""),
	paddedRec(typeEndRequest, 1, string(endRequestBody(5, StatusRequestComplete)), 2),
}, nil)

// A read deadline that fires anywhere in a record, then a new deadline:
// Read and End carry on from where the stream was, neither losing nor
// repeating a byte.
func TestClientDeadlineMidRecord(t *testing.T) {
	const stdout, stderr = "Status: 200 OK\r\n\r\nhello, world", "warning\n"
	for cut := 1; cut < len(deadlineResponse); cut++ {
		for _, mode := range []string{"Abort and End", "Read on"} {
			t.Run(fmt.Sprintf("%d/%s", cut, mode), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) { deadlineCase(t, cut, mode == "Abort and End", stdout, stderr) })
			})
		}
	}
}

func deadlineCase(t *testing.T, cut int, abort bool, stdout, stderr string) {
	resume := make(chan struct{})
	cc, wait := pipe(t, func(a *fakeApp) error {
		if err := a.request(); err != nil {
			return err
		}
		if err := a.send(deadlineResponse[:cut]); err != nil {
			return err
		}
		<-resume
		if abort {
			if h, _, err := a.record(); err != nil || h.Type != typeAbortRequest {
				return fmt.Errorf("record %+v, %v; want ABORT_REQUEST", h, err)
			}
		}
		if err := a.send(deadlineResponse[cut:]); err != nil {
			return err
		}
		if rest, err := a.rest(); len(rest) > 0 || err != nil {
			return fmt.Errorf("after the response: % x, %v", rest, err)
		}
		return nil
	})
	var errs bytes.Buffer
	r, err := cc.Do(nil, nil, &errs)
	if err != nil {
		t.Fatal(err)
	}
	conn := cc.conn
	conn.SetReadDeadline(time.Now().Add(time.Second))
	var out []byte
	p := make([]byte, 5)
	for {
		n, err := r.Read(p)
		out = append(out, p[:n]...)
		if err != nil {
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("Read = %v, want a timeout", err)
			}
			break
		}
	}
	close(resume)
	if abort {
		if err := r.Abort(); err != nil {
			t.Fatal(err)
		}
	}
	conn.SetReadDeadline(time.Now().Add(time.Second))
	if !abort {
		rest, err := io.ReadAll(r)
		if err != nil {
			t.Fatalf("Read after the timeout: %v", err)
		}
		if out = append(out, rest...); string(out) != stdout {
			t.Errorf("STDOUT %q, want %q", out, stdout)
		}
	} else if !strings.HasPrefix(stdout, string(out)) {
		t.Errorf("STDOUT %q, not a prefix of %q", out, stdout)
	}
	e, err := r.End()
	if want := (EndRequest{AppStatus: 5}); e != want || err != nil {
		t.Errorf("End = %+v, %v; want %+v", e, err, want)
	}
	if errs.String() != stderr {
		t.Errorf("STDERR %q, want %q", errs.String(), stderr)
	}
	wait()
}

// memConn is a connection whose application side is a fixed response;
// it records what is written to it, one entry per Write call.
type memConn struct {
	response    []byte
	eofWithData bool // return io.EOF with the last bytes, as a reader may

	mu     sync.Mutex
	writes [][]byte
}

func (c *memConn) Read(p []byte) (int, error) {
	if len(c.response) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.response)
	c.response = c.response[n:]
	if c.eofWithData && len(c.response) == 0 {
		return n, io.EOF
	}
	return n, nil
}

func (c *memConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes = append(c.writes, slices.Clone(p))
	return len(p), nil
}

func (c *memConn) Close() error                     { return nil }
func (c *memConn) LocalAddr() net.Addr              { return pipeAddr{} }
func (c *memConn) RemoteAddr() net.Addr             { return pipeAddr{} }
func (c *memConn) SetDeadline(time.Time) error      { return nil }
func (c *memConn) SetReadDeadline(time.Time) error  { return nil }
func (c *memConn) SetWriteDeadline(time.Time) error { return nil }

// records splits one Write's bytes into records, failing unless they are
// whole records.
func splitRecords(t *testing.T, b []byte) (hs []header, contents [][]byte) {
	t.Helper()
	r := bytes.NewReader(b)
	for r.Len() > 0 {
		h, content, err := readRecord(r, make([]byte, maxRecord))
		if err != nil {
			t.Fatalf("a Write holds a partial record: %v", err)
		}
		hs, contents = append(hs, h), append(contents, slices.Clone(content))
	}
	return hs, contents
}

func TestClientParams(t *testing.T) {
	many := map[string]string{}
	for i := range 60 {
		many["HTTP_X_"+strconv.Itoa(i)] = strings.Repeat("v", 2000+i)
	}
	many["LONG_NAME_"+strings.Repeat("n", 200)] = "short"
	tests := []struct {
		name    string
		params  map[string]string
		records int // PARAMS records, the empty one included
		whole   bool
	}{
		{"none", nil, 1, true},
		{"one", map[string]string{"SERVER_PORT": "80"}, 2, true},
		{"many", many, 3, true},
		{"huge pair", map[string]string{"HTTP_COOKIE": strings.Repeat("c", 100000)}, 3, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mc := &memConn{response: endRec(0, 0)}
			cc := NewClientConn(mc)
			if _, e := run(t, cc, tt.params, nil); !e.Reusable {
				t.Errorf("End = %+v", e)
			}
			if len(mc.writes) != 1 {
				t.Fatalf("%d writes for a request with no body, want 1", len(mc.writes))
			}
			hs, contents := splitRecords(t, mc.writes[0])
			if h := mc.writes[0][:16]; !bytes.Equal(h, unhex("01 01 00 01 00 08 00 00  00 01 01 00 00 00 00 00")) {
				t.Errorf("BEGIN_REQUEST % x, want RESPONDER with FCGI_KEEP_CONN", h)
			}
			if n := len(hs); n != tt.records+2 || hs[n-1].Type != typeStdin || hs[n-1].ContentLength != 0 {
				t.Fatalf("records %+v, want BEGIN_REQUEST, %d PARAMS, empty STDIN", hs, tt.records)
			}
			var nv []byte
			for i, h := range hs[1 : len(hs)-1] {
				c := contents[i+1]
				if h.Type != typeParams || int(h.ContentLength)+int(h.PaddingLength) > maxParamsContent {
					t.Errorf("record %+v among PARAMS: php-fpm takes at most 65535 bytes with the padding", h)
				}
				if last := i == tt.records-1; last != (len(c) == 0) {
					t.Errorf("PARAMS record %d of %d has %d bytes", i, tt.records, len(c))
				}
				if tt.whole {
					for p := c; len(p) > 0; {
						var err error
						if _, _, p, err = readNameValue(p); err != nil {
							t.Fatalf("PARAMS record %d splits a pair", i)
						}
					}
				}
				nv = append(nv, c...)
			}
			got := map[string]string{}
			for len(nv) > 0 {
				n, v, rest, err := readNameValue(nv)
				if err != nil {
					t.Fatal(err)
				}
				got[n] = v
				nv = rest
			}
			if len(got) != len(tt.params) {
				t.Errorf("%d params, want %d", len(got), len(tt.params))
			}
			for k, v := range tt.params {
				if got[k] != v {
					t.Errorf("param %.20s has %d bytes, want %d", k, len(got[k]), len(v))
				}
			}
		})
	}
}

// eofWithData returns io.EOF with the last bytes, as io.Reader allows.
type eofWithData struct{ r *bytes.Reader }

func (r eofWithData) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err == nil && r.r.Len() == 0 {
		err = io.EOF
	}
	return n, err
}

func TestClientStdinRecords(t *testing.T) {
	body := make([]byte, 3*stdinChunk+1001)
	for i := range body {
		body[i] = byte(i)
	}
	never := &blockingBody{entered: make(chan struct{}), release: make(chan struct{})}
	for _, tt := range []struct {
		name          string
		body          io.Reader
		contentLength string // "" for none
		writes        int    // after BEGIN_REQUEST and PARAMS
		want          []byte
	}{
		{"EOF after the data", bytes.NewReader(body), "", 5, body},
		{"EOF with the data", eofWithData{bytes.NewReader(body)}, "", 4, body},
		{"one byte at a time", iotest.OneByteReader(bytes.NewReader(body[:100])), "", 101, body[:100]},
		{"CONTENT_LENGTH", bytes.NewReader(body), strconv.Itoa(len(body)), 4, body},
		{"body past CONTENT_LENGTH", bytes.NewReader(body), "40000", 2, body[:40000]},
		// Not read past CONTENT_LENGTH: the copy ends though body does not.
		{"body that blocks past CONTENT_LENGTH", io.MultiReader(bytes.NewReader(body[:10]), never), "10", 1, body[:10]},
		{"body shorter than CONTENT_LENGTH", bytes.NewReader(body[:10]), "1000", 2, body[:10]},
		{"bad CONTENT_LENGTH", bytes.NewReader(body[:10]), "-1", 2, body[:10]},
		{"CONTENT_LENGTH 0", bytes.NewReader(body), "0", 0, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			mc := &memConn{response: endRec(0, 0)}
			cc := NewClientConn(mc)
			params := map[string]string{"A": "b"}
			if tt.contentLength != "" {
				params["CONTENT_LENGTH"] = tt.contentLength
			}
			r, err := cc.Do(params, tt.body, nil)
			if err != nil {
				t.Fatal(err)
			}
			r.copying.Wait() // so that End finds the copy done
			if e, err := r.End(); !e.Reusable || err != nil {
				t.Errorf("End = %+v, %v", e, err)
			}
			if got := len(mc.writes) - 1; got != tt.writes {
				t.Errorf("%d STDIN writes, want %d", got, tt.writes)
			}
			var got []byte
			ended := false
			for i, w := range mc.writes {
				hs, contents := splitRecords(t, w)
				if i == 0 {
					// BEGIN_REQUEST, PARAMS and, with no copy, STDIN's end.
					k := slices.IndexFunc(hs, func(h header) bool { return h.Type == typeStdin })
					if (k >= 0) != (tt.writes == 0) {
						t.Errorf("the first write has %v", hs)
					}
					if k < 0 {
						continue
					}
					hs, contents = hs[k:], contents[k:]
				}
				for i, h := range hs {
					if h.Type != typeStdin || h.ID != 1 || ended || len(contents[i]) > stdinChunk {
						t.Fatalf("record %+v in STDIN", h)
					}
					ended = h.ContentLength == 0
					got = append(got, contents[i]...)
				}
			}
			if !ended || !bytes.Equal(got, tt.want) {
				t.Errorf("STDIN %d bytes, ended %v; want %d bytes", len(got), ended, len(tt.want))
			}
		})
	}
	if n := never.reads.Load(); n != 0 {
		t.Errorf("body read %d times past CONTENT_LENGTH", n)
	}
}

// wellFormed parses a response the way the specification reads, with
// readRecord: the STDOUT and STDERR of request 1, END_REQUEST, and whether
// bytes follow it. ok is false for anything else.
func wellFormed(data []byte) (stdout, stderr []byte, end EndRequest, trailing, ok bool) {
	r := bytes.NewReader(data)
	buf := make([]byte, maxRecord)
	for {
		h, content, err := readRecord(r, buf)
		if err != nil {
			return nil, nil, end, false, false
		}
		switch {
		case h.ID == 0 && (h.Type == typeUnknownType || h.Type == typeGetValuesResult):
		case h.ID != 1:
			return nil, nil, end, false, false
		case h.Type == typeStdout:
			stdout = append(stdout, content...)
		case h.Type == typeStderr:
			stderr = append(stderr, content...)
		case h.Type == typeEndRequest && len(content) == 8:
			end.AppStatus, end.ProtocolStatus, _ = parseEndRequest(content)
			return stdout, stderr, end, r.Len() > 0, true
		default:
			return nil, nil, end, false, false
		}
	}
}

func FuzzClientResponse(f *testing.F) {
	good := bytes.Join([][]byte{
		rec(typeStdout, 1, "Status: 200 OK\r\n\r\n"),
		rec(typeStderr, 1, "warning"),
		paddedRec(typeStdout, 1, "body", 200),
		rec(typeStdout, 1, ""),
		endRec(7, StatusOverloaded),
	}, nil)
	f.Add(good)
	f.Add(deadlineResponse)
	f.Add(append(slices.Clone(good), endRec(0, 0)...))
	f.Add(good[:len(good)-3])
	f.Add(append(rec(typeStdout, 2, "x"), good...))
	f.Add(append(rec(typeGetValues, 0, ""), good...))
	f.Add(unhex("01 06 00 01 ff ff ff 00"))
	f.Add(append(unhex("01 03 00 01 00 07 01 00"), make([]byte, 8)...))
	f.Fuzz(func(t *testing.T, data []byte) {
		stdout, stderr, end, trailing, ok := wellFormed(data)
		for _, size := range []int{1, 7, 512, 1 << 17} {
			var errs bytes.Buffer
			cc := NewClientConn(&memConn{response: data})
			r, err := cc.Do(map[string]string{"A": "b"}, nil, &errs)
			if err != nil {
				t.Fatal(err)
			}
			var out []byte
			p := make([]byte, size)
			var readErr error
			for range len(data) + 2 { // each Read consumes a byte or ends
				var n int
				n, readErr = r.Read(p)
				out = append(out, p[:n]...)
				if readErr != nil {
					break
				}
			}
			if readErr == nil {
				t.Fatal("Read does not end")
			}
			e, endErr := r.End()
			if !ok {
				if readErr == io.EOF || endErr == nil || e.Reusable {
					t.Fatalf("malformed response: Read %v, End %+v, %v", readErr, e, endErr)
				}
				continue
			}
			end.Reusable = !trailing
			if trailing && len(data) > maxRecord {
				// Whether the bytes after END_REQUEST were read along
				// with it depends on where reads fell.
				end.Reusable = e.Reusable
			}
			if readErr != io.EOF || endErr != nil || e != end || !bytes.Equal(out, stdout) || !bytes.Equal(errs.Bytes(), stderr) {
				t.Fatalf("Read %q, %v; STDERR %q; End %+v, %v\nwant %q, %q, %+v", out, readErr, errs.Bytes(), e, endErr, stdout, stderr, end)
			}
		}
	})
}

// BenchmarkClientConn is requests on a kept connection, over a unix
// socket, to an application that answers every request with the same
// small response: a GET, and a POST whose body the STDIN copy sends.
func BenchmarkClientConn(b *testing.B) {
	l, err := net.Listen("unix", filepath.Join(b.TempDir(), "s"))
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	const stdout = "Status: 200 OK\r\nContent-Type: text/plain\r\n\r\nHello, world!\n"
	response := bytes.Join([][]byte{
		rec(typeStdout, 1, stdout),
		rec(typeStdout, 1, ""),
		endRec(0, 0),
	}, nil)
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		buf := make([]byte, maxRecord)
		for {
			h, content, err := readRecord(br, buf)
			if err != nil {
				return
			}
			if h.Type == typeStdin && len(content) == 0 {
				if _, err := c.Write(response); err != nil {
					return
				}
			}
		}
	}()
	c, err := net.Dial("unix", l.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	cc := NewClientConn(c)
	defer cc.Close()
	get := cgiParams("GET", "/index.php?page=1",
		"SCRIPT_FILENAME", "/var/www/index.php", "QUERY_STRING", "page=1", "REMOTE_ADDR", "192.0.2.1",
		"REMOTE_PORT", "54321", "SERVER_NAME", "example.com", "SERVER_PORT", "443", "HTTPS", "on",
		"HTTP_USER_AGENT", "Mozilla/5.0", "HTTP_ACCEPT", "*/*", "GATEWAY_INTERFACE", "CGI/1.1")
	post := maps.Clone(get)
	post["REQUEST_METHOD"], post["CONTENT_LENGTH"], post["CONTENT_TYPE"] = "POST", "4096", "application/octet-stream"
	data := make([]byte, 4096)
	p := make([]byte, 4096)
	for _, bb := range []struct {
		name   string
		params map[string]string
		body   *bytes.Reader
	}{
		{"GET", get, nil},
		{"POST 4KiB", post, bytes.NewReader(data)},
	} {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var body io.Reader
				if bb.body != nil {
					bb.body.Reset(data)
					body = bb.body
				}
				r, err := cc.Do(bb.params, body, nil)
				if err != nil {
					b.Fatal(err)
				}
				n := 0
				for {
					k, err := r.Read(p[n:])
					n += k
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				if e, err := r.End(); !e.Reusable || err != nil || n != len(stdout) {
					b.Fatalf("End = %+v, %v after %d bytes", e, err, n)
				}
			}
		})
	}
}
