package fastcgi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"gatewayd/handler"
	"gatewayd/handler/subprocess"
)

// hold is an app that reads none of its body and writes nothing until
// its request is cancelled or release is closed; a request with WHICH set
// gets WHICH's value at once.
type hold struct{ release chan struct{} }

func (a hold) Start(ctx context.Context, c *handler.Call) (handler.Run, error) {
	if w := c.Env["WHICH"]; w != "" {
		return &fixed{Reader: strings.NewReader("Content-Type: text/plain\r\n\r\n" + w)}, nil
	}
	return &holding{ctx: ctx, release: a.release}, nil
}

type holding struct {
	ctx     context.Context
	release chan struct{}
	done    bool
}

func (h *holding) Read(p []byte) (int, error) {
	if h.done {
		return 0, io.EOF
	}
	select {
	case <-h.ctx.Done():
		return 0, context.Cause(h.ctx)
	case <-h.release:
		h.done = true
		return copy(p, "Content-Type: text/plain\r\n\r\nreleased"), nil
	}
}

func (h *holding) Wait() handler.Exit { return handler.Exit{} }

// closeAndWait half-closes c and reads until the server closes it too, so
// that the server has seen the end of the connection.
func (c *client) closeAndWait() {
	c.t.Helper()
	c.c.(*net.TCPConn).CloseWrite()
	c.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(io.Discard, c.c); err != nil {
		c.t.Fatalf("waiting for the server to close: %v", err)
	}
}

// TestAbandonedRequestsReleaseSlots: requests whose connection ends before
// their parameters are complete give their slot back, and their timers
// never fire for a connection that is gone.
func TestAbandonedRequestsReleaseSlots(t *testing.T) {
	const maxReqs = 3
	addr, logs := serve(t, handler.Config{App: output("Content-Type: text/plain\r\n\r\nok")},
		Config{MaxReqs: maxReqs, ParamsTimeout: 300 * time.Millisecond})
	abandon := []struct {
		name string
		send []byte
	}{
		{"BEGIN then close", begin(1, roleResponder, 0)},
		{"half the params then close", append(begin(1, roleResponder, 0), appendRecord(nil, typeParams, 1, []byte("\x0e\x03REQUEST_METHODGET"))...)},
		{"BEGIN twice", append(begin(1, roleResponder, 0), begin(1, roleResponder, 0)...)},
		{"malformed params", append(begin(1, roleResponder, 0),
			append(appendRecord(nil, typeParams, 1, []byte{5, 1, 'a'}), appendRecord(nil, typeParams, 1, nil)...)...)},
	}
	for _, a := range abandon {
		t.Run(a.name, func(t *testing.T) {
			for range 2 * maxReqs {
				c := dial(t, addr)
				c.send(a.send)
				c.closeAndWait()
			}
			c := dial(t, addr)
			c.send(get(1, 0))
			r := c.response(1)
			if r.end[4] != StatusRequestComplete || !bytes.HasSuffix(r.stdout, []byte("ok")) {
				t.Fatalf("after %d abandoned requests: END_REQUEST % x, stdout %q; want the request served", 2*maxReqs, r.end, r.stdout)
			}
		})
	}
	time.Sleep(600 * time.Millisecond) // past ParamsTimeout of the last abandoned request
	if strings.Contains(logs.String(), "parameters not complete") {
		t.Errorf("a timer of an abandoned request fired on a closed connection:\n%s", logs)
	}
}

// TestIdleConnectionsClosed: silent connections and kept connections with
// no request do not hold the listener's slots.
func TestIdleConnectionsClosed(t *testing.T) {
	const maxConns = 4
	addr, logs := serve(t, handler.Config{App: output("Content-Type: text/plain\r\n\r\nok")},
		Config{MaxConns: maxConns, ParamsTimeout: 300 * time.Millisecond, IdleTimeout: 300 * time.Millisecond})
	idle := []*client{dial(t, addr), dial(t, addr)} // silent
	begun := dial(t, addr)                          // sent BEGIN_REQUEST only
	begun.send(begin(1, roleResponder, flagKeepConn))
	kept := dial(t, addr) // one request, then idle on a kept connection
	kept.send(get(1, flagKeepConn))
	kept.response(1)
	idle = append(idle, begun, kept)

	c := dial(t, addr) // waits for a slot until an idle one is closed
	c.send(get(1, 0))
	if r := c.response(1); !bytes.HasSuffix(r.stdout, []byte("ok")) {
		t.Errorf("with %d idle connections a new request got %q", maxConns, r.stdout)
	}
	for i, c := range idle {
		if !c.eof() {
			t.Errorf("idle connection %d still open", i)
		}
	}
	if !strings.Contains(logs.String(), "no request in time") {
		t.Errorf("a silent connection's close was not logged:\n%s", logs)
	}
}

// TestKeptConnectionWithinIdleTimeout: a kept connection that the web
// server reuses within IdleTimeout stays open, as nginx's pool needs.
func TestKeptConnectionWithinIdleTimeout(t *testing.T) {
	addr, _ := serve(t, handler.Config{App: output("Content-Type: text/plain\r\n\r\nok")},
		Config{ParamsTimeout: 400 * time.Millisecond, IdleTimeout: 10 * time.Second})
	c := dial(t, addr)
	for i := range 3 {
		if i > 0 {
			time.Sleep(500 * time.Millisecond) // longer than ParamsTimeout, within IdleTimeout
		}
		c.send(get(1, flagKeepConn))
		if r := c.response(1); !bytes.HasSuffix(r.stdout, []byte("ok")) {
			t.Fatalf("request %d on a kept connection: %q", i, r.stdout)
		}
	}
}

// TestWriteTimeout: a web server that stops reading loses its connection
// after WriteTimeout, and the program is stopped.
func TestWriteTimeout(t *testing.T) {
	pidfile := filepath.Join(t.TempDir(), "pid")
	r := runner(t, subprocess.Config{KillGrace: 500 * time.Millisecond})
	prog := script(t, `echo $$ > "`+pidfile+`"; printf 'Content-Type: text/plain\r\n\r\n'; exec yes`)
	addr, logs := serve(t, handler.Config{App: r, Program: prog}, Config{WriteTimeout: 300 * time.Millisecond})
	c := dial(t, addr)
	c.c.(*net.TCPConn).SetReadBuffer(4096)
	c.send(get(1, 0))
	pid := waitPid(t, pidfile)
	if !gone(pid) {
		t.Fatalf("program %d still running although its web server has read nothing for long", pid)
	}
	if !strings.Contains(logs.String(), "took no response bytes in time") {
		t.Errorf("the write timeout was not logged:\n%s", logs)
	}
}

// TestUnreadBodyDrained: when a program reads none of a large body, the
// connection is closed only after the web server stopped sending, so that
// it gets the response instead of a reset.
func TestUnreadBodyDrained(t *testing.T) {
	addr, _ := serve(t, handler.Config{App: output("Content-Type: text/plain\r\n\r\nok")}, Config{})
	body := strings.Repeat("x", 10<<20)
	for i := range 10 {
		c := dial(t, addr)
		c.send(begin(1, roleResponder, 0), params(1, "REQUEST_METHOD", "POST", "CONTENT_LENGTH", fmt.Sprint(len(body))))
		sent := make(chan error, 1)
		go func() {
			c.c.SetWriteDeadline(time.Now().Add(10 * time.Second))
			_, err := c.c.Write(stdin(1, body))
			sent <- err
		}()
		var got []byte
		var err error
		for {
			var h header
			var content []byte
			if h, content, err = c.next(); err != nil {
				break
			}
			if h.Type == typeStdout {
				got = append(got, content...)
			}
		}
		if !errors.Is(err, io.EOF) || !bytes.HasSuffix(got, []byte("ok")) {
			t.Fatalf("request %d: response %q ended with %v; want it whole, then EOF", i, got, err)
		}
		if err := <-sent; err != nil {
			t.Fatalf("request %d: sending the body: %v", i, err)
		}
	}
}

// TestUnreadBodyDoesNotStallNeighbours: a program that reads none of its
// body holds back neither the other requests of its connection nor its
// own ABORT_REQUEST.
func TestUnreadBodyDoesNotStallNeighbours(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	addr, _ := serve(t, handler.Config{App: hold{release}}, Config{})
	c := dial(t, addr)
	const size = 16 << 20 // far more than the socket and pipe buffers hold
	c.send(begin(1, roleResponder, flagKeepConn), params(1, "REQUEST_METHOD", "POST", "CONTENT_LENGTH", fmt.Sprint(size)))
	sent := make(chan error, 1)
	go func() {
		c.c.SetWriteDeadline(time.Now().Add(20 * time.Second))
		_, err := c.c.Write(bytes.Join([][]byte{stdin(1, strings.Repeat("x", size)), get(2, flagKeepConn, "WHICH", "fast")}, nil))
		sent <- err
	}()
	if r := c.response(2); !bytes.HasSuffix(r.stdout, []byte("fast")) {
		t.Fatalf("neighbour of a request that reads no body = %q", r.stdout)
	}
	if err := <-sent; err != nil {
		t.Fatalf("sending: %v", err)
	}
	c.send(unhex("01 02 00 01 00 00 00 00")) // ABORT_REQUEST
	if res := c.response(1); res.end == nil || res.end[4] != StatusRequestComplete {
		t.Errorf("END_REQUEST after ABORT_REQUEST = % x", res.end)
	}
}

// TestGetValuesManyNames: GET_VALUES asking for the same names thousands
// of times gets one well-formed record naming each once, and the
// connection goes on.
func TestGetValuesManyNames(t *testing.T) {
	addr, _ := serve(t, handler.Config{App: output("Content-Type: text/plain\r\n\r\nok")}, Config{MaxConns: 7})
	var ask []byte
	for len(ask)+16 <= maxContent {
		ask = appendNameValue(ask, "FCGI_MAX_CONNS", "")
	}
	c := dial(t, addr)
	c.send(appendRecord(nil, typeGetValues, 0, ask))
	h, content := c.mustNext()
	want := appendNameValue(nil, "FCGI_MAX_CONNS", "7")
	if h.Type != typeGetValuesResult || !bytes.Equal(content, want) {
		t.Errorf("reply = %v of %d bytes, want GET_VALUES_RESULT % x", h.Type, len(content), want)
	}
	c.send(get(1, 0))
	if r := c.response(1); !bytes.HasSuffix(r.stdout, []byte("ok")) {
		t.Errorf("request after GET_VALUES = %q", r.stdout)
	}
}

// TestRecordOverLimitPanics: no record longer than its 16-bit length field
// can say is ever encoded.
func TestRecordOverLimitPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Errorf("appendRecord with %d content bytes did not panic", maxContent+1)
		}
	}()
	appendRecord(nil, typeStdout, 1, make([]byte, maxContent+1))
}

// stallHead writes its head and then nothing until its request is stopped.
type stallHead string

func (a stallHead) Start(ctx context.Context, _ *handler.Call) (handler.Run, error) {
	r := &holding{ctx: ctx}
	return &fixed{Reader: io.MultiReader(strings.NewReader(string(a)), r)}, nil
}

// TestAbortedResponse: a response cut short by a timeout after its header
// gets no END_REQUEST: its connection is reset, so that the web server
// sees it incomplete.
func TestAbortedResponse(t *testing.T) {
	addr, _ := serve(t, handler.Config{App: stallHead("Content-Type: text/plain\r\n\r\npartial"), Timeout: 300 * time.Millisecond}, Config{})
	c := dial(t, addr)
	c.send(get(1, flagKeepConn))
	for {
		h, content, err := c.next()
		if err != nil {
			if !errors.Is(err, syscall.ECONNRESET) {
				t.Fatalf("the connection ended with %v, want a reset", err)
			}
			break
		}
		if h.Type == typeEndRequest {
			t.Fatalf("END_REQUEST % x for a response cut short", content)
		}
	}
}
