package http

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	nethttp "net/http"
	"testing"
)

// framingStreams are byte streams of one or more requests on a
// connection: the attacks of TestAmbiguousFraming and plain keep-alive
// traffic. They seed FuzzFraming.
var framingStreams = []string{
	"GET / HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n",
	"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nabPOST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\nGET /c HTTP/1.0\n\n",
	"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /s HTTP/1.1\r\nHost: h\r\n\r\n",
	"POST /a HTTP/1.1\r\nHost: h\r\ntransfer-encoding: chunked\r\ncontent-length: 5\r\n\r\n0\r\n\r\nGET /s HTTP/1.1\r\nHost: h\r\n\r\n",
	"POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\nGET /s HTTP/1.1\r\nHost: h\r\n\r\n",
	"POST /a HTTP/1.1\r\nHost: h\r\nX-A: b\r\n Content-Length: 5\r\n\r\nGET /s HTTP/1.1\r\nHost: h\r\n\r\n",
	"POST /a HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\nGET /s HTTP/1.1\r\nHost: h\r\n\r\n",
	"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nabGET /s HTTP/1.1\r\nHost: h\r\n\r\n",
	"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 2, 2\r\n\r\nabGET /s HTTP/1.1\r\nHost: h\r\n\r\n",
	"POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
	"POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\nGET /s HTTP/1.1\r\nHost: h\r\n\r\n",
	"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
}

// summary is a framingConn's results in a comparable form.
func summary(c *framingConn) string {
	var b bytes.Buffer
	for _, f := range c.checked {
		fmt.Fprintf(&b, "%q %q %q last=%v err=%v\n", f.method, f.target, f.proto, f.last, f.err)
	}
	fmt.Fprintf(&b, "stopped=%v skip=%d", c.stopped, c.skip)
	return b.String()
}

func scanAll(parts ...[]byte) *framingConn {
	c := &framingConn{maxBlock: 64 << 10}
	for _, p := range parts {
		c.scan(p)
	}
	return c
}

// TestFramingSplit: the check finds the same in a stream however the
// reads split it.
func TestFramingSplit(t *testing.T) {
	for _, s := range framingStreams {
		want := summary(scanAll([]byte(s)))
		for i := range len(s) {
			if got := summary(scanAll([]byte(s[:i]), []byte(s[i:]))); got != want {
				t.Errorf("scan(%q) split at %d =\n%s\nwant\n%s", s, i, got, want)
			}
		}
		var bytewise [][]byte
		for i := range len(s) {
			bytewise = append(bytewise, []byte{s[i]})
		}
		if got := summary(scanAll(bytewise...)); got != want {
			t.Errorf("scan(%q) a byte at a time =\n%s\nwant\n%s", s, got, want)
		}
	}
}

// FuzzFraming checks the framing check against net/http's own reading of
// the same bytes: every request net/http would read after one the check
// let through keep-alive is one the check saw, with the same request line,
// and the check finds the same however the stream is split.
func FuzzFraming(f *testing.F) {
	for _, s := range framingStreams {
		f.Add([]byte(s), uint(len(s)/2))
	}
	f.Fuzz(func(t *testing.T, data []byte, split uint) {
		c := scanAll(data)
		i := int(split % uint(len(data)+1))
		if got, want := summary(scanAll(data[:i], data[i:])), summary(c); got != want {
			t.Fatalf("scan(%q) split at %d =\n%s\nwant\n%s", data, i, got, want)
		}
		br := bufio.NewReader(bytes.NewReader(data))
		for k := 0; ; k++ {
			req, err := nethttp.ReadRequest(br)
			if err != nil || req.ProtoMajor != 1 {
				return // net/http refuses it and closes the connection
			}
			if k >= len(c.checked) {
				t.Fatalf("net/http reads request %d (%s %s) of %q; the check saw %d", k, req.Method, req.RequestURI, data, len(c.checked))
			}
			fr := c.checked[k]
			if fr.method != req.Method || fr.target != req.RequestURI || fr.proto != req.Proto {
				t.Fatalf("net/http reads request %d as %s %s %s of %q; the check saw %q %q %q",
					k, req.Method, req.RequestURI, req.Proto, data, fr.method, fr.target, fr.proto)
			}
			if fr.err != nil {
				if !errors.Is(fr.err, errFraming) {
					t.Fatalf("check error %v does not wrap errFraming", fr.err)
				}
				return // refused: the connection ends
			}
			if fr.last {
				return
			}
			if req.TransferEncoding != nil {
				t.Fatalf("net/http reads request %d of %q chunked; the check let the connection go on", k, data)
			}
			if _, err := io.Copy(io.Discard, req.Body); err != nil {
				return
			}
		}
	})
}
