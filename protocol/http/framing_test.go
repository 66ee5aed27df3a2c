package http_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"gatewayd/handler"
	gwhttp "gatewayd/protocol/http"
)

// pathRecorder is an app that records the PATH_INFO of every request it
// runs, reads its body and answers "ran PATH_INFO body".
type pathRecorder struct {
	mu  sync.Mutex
	ran []string
}

func (p *pathRecorder) Start(_ context.Context, c *handler.Call) (handler.Run, error) {
	b, err := io.ReadAll(c.Body)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.ran = append(p.ran, c.Env["PATH_INFO"])
	p.mu.Unlock()
	return run{strings.NewReader(fmt.Sprintf("Content-Type: text/plain\r\n\r\nran %s %s", c.Env["PATH_INFO"], b))}, nil
}

func (p *pathRecorder) paths() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.ran)
}

// responses sends raw on a new connection and returns the status of every
// response the server sends until it closes the connection.
func responses(t *testing.T, addr, raw string) []int {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	// A safety net, not a sync point: each case ends with the server
	// closing the connection.
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(c)
	var codes []int
	for {
		resp, err := nethttp.ReadResponse(br, nil)
		if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
			t.Fatalf("the server did not close the connection after %v", codes)
		}
		if err != nil {
			return codes // the close
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		codes = append(codes, resp.StatusCode)
		if err != nil {
			return codes
		}
	}
}

// smuggled is a request hidden in the body of the one before it; next is
// a plain request after another. Both ask for the connection to be closed
// after them, so that a server that runs them ends the exchange at once.
const (
	smuggled = "GET /smuggled HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
	next     = "GET /next HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
)

// withLength is a request whose Content-Length covers the chunked body
// "0\r\n\r\n" and the smuggled request after it: a front end that frames
// by Content-Length sees one request, one that frames by
// Transfer-Encoding sees two.
func withLength(head string) string {
	return strings.ReplaceAll(head, "LEN", fmt.Sprint(len("0\r\n\r\n"+smuggled))) + "0\r\n\r\n" + smuggled
}

// TestAmbiguousFraming: a request whose body length is ambiguous (RFC
// 9112 §6.1, §6.3) runs no program, is answered 400 (or 501 for a transfer
// coding net/http does not know) and ends its connection, so that nothing
// hidden after it is served. Requests with a plain length keep the
// connection alive; a chunked one is served and then ends it.
func TestAmbiguousFraming(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want []int    // the statuses of the responses, in order
		ran  []string // the PATH_INFO of each program run
	}{
		{"Content-Length and Transfer-Encoding",
			withLength("POST /first HTTP/1.1\r\nHost: h\r\nContent-Length: LEN\r\nTransfer-Encoding: chunked\r\n\r\n"),
			[]int{400}, nil},
		{"Transfer-Encoding and Content-Length",
			withLength("POST /first HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: LEN\r\n\r\n"),
			[]int{400}, nil},
		{"lower-case names",
			withLength("POST /first HTTP/1.1\r\nHost: h\r\ncontent-length: LEN\r\ntransfer-encoding: Chunked\r\n\r\n"),
			[]int{400}, nil},
		{"Transfer-Encoding folded",
			"POST /first HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n" + smuggled,
			[]int{400}, nil},
		{"Transfer-Encoding in HTTP/1.0",
			"POST /first HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n" + smuggled,
			[]int{400}, nil},
		{"Transfer-Encoding and Content-Length in HTTP/1.0",
			"POST /first HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n" + smuggled,
			[]int{400}, nil},
		{"Content-Length twice, same value",
			"POST /first HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab" + smuggled,
			[]int{400}, nil},
		{"Content-Length twice, different values",
			"POST /first HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nContent-Length: 60\r\n\r\nab" + smuggled,
			[]int{400}, nil},
		{"Content-Length list",
			"POST /first HTTP/1.1\r\nHost: h\r\nContent-Length: 2, 2\r\n\r\nab" + smuggled,
			[]int{400}, nil},
		{"Content-Length with a sign",
			"POST /first HTTP/1.1\r\nHost: h\r\nContent-Length: +2\r\n\r\nab" + smuggled,
			[]int{400}, nil},
		{"Transfer-Encoding gzip, chunked",
			"POST /first HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n" + smuggled,
			[]int{501}, nil},
		{"Transfer-Encoding chunked twice",
			"POST /first HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled,
			[]int{501}, nil},
		{"Transfer-Encoding identity",
			"POST /first HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n\r\n" + smuggled,
			[]int{501}, nil},
		{"an ambiguous request after a plain one",
			"GET /before HTTP/1.1\r\nHost: h\r\n\r\n" +
				withLength("POST /first HTTP/1.1\r\nHost: h\r\nContent-Length: LEN\r\nTransfer-Encoding: chunked\r\n\r\n"),
			[]int{200, 400}, []string{"/before"}},
		{"Content-Length bodies keep the connection",
			"POST /first HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nab" +
				"POST /second HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\ncde" + next,
			[]int{200, 200, 200}, []string{"/first", "/second", "/next"}},
		{"a chunked body ends the connection",
			"POST /first HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n" + next,
			[]int{200}, []string{"/first"}},
		{"OPTIONS * answered, the connection kept",
			"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n" + next,
			[]int{200, 200}, []string{"/next"}},
		{"a field folded into another is no framing field",
			"POST /first HTTP/1.1\r\nHost: h\r\nX-A: b\r\n Content-Length: 70\r\n\r\n" + next,
			[]int{200, 200}, []string{"/first", "/next"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := &pathRecorder{}
			addr := start(t, "tcp", "127.0.0.1:0", handler.Config{App: app}, gwhttp.Config{})
			if got := responses(t, addr, tt.raw); !slices.Equal(got, tt.want) {
				t.Errorf("responses(%.60q…) = %v, want %v", tt.raw, got, tt.want)
			}
			if got := app.paths(); !slices.Equal(got, tt.ran) {
				t.Errorf("programs run for %.60q… = %q, want %q", tt.raw, got, tt.ran)
			}
		})
	}
}
