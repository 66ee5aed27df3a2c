package scgi_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/hashicorp/go-hclog"

	"gatewayd/handler"
	"gatewayd/protocol/scgi"
)

// protocolErrors are the errors ReadHeader may wrap for bytes that break
// the protocol.
var protocolErrors = []error{
	scgi.ErrLength, scgi.ErrTerminator, scgi.ErrUnterminated, scgi.ErrOddStrings, scgi.ErrEmptyName,
	scgi.ErrNoContentLength, scgi.ErrContentLength, scgi.ErrNoSCGI, scgi.ErrSCGIVersion,
	io.EOF, io.ErrUnexpectedEOF,
}

// kind names the class of a ReadHeader error.
func kind(err error) string {
	if err == nil {
		return "ok"
	}
	if _, ok := errors.AsType[*scgi.TooLargeError](err); ok {
		return "too large"
	}
	if _, ok := errors.AsType[*scgi.DuplicateNameError](err); ok {
		return "duplicate name"
	}
	for _, e := range protocolErrors {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	return "unknown: " + err.Error()
}

// FuzzReadHeader checks the codec on any input: it never panics, every
// error is one of its kinds, the result does not depend on how the input
// is split, and an accepted header keeps the protocol's rules — no name
// but an HTTP_* one twice (SCGI protocol.txt §2) — and survives
// AppendHeader.
func FuzzReadHeader(f *testing.F) {
	for _, tt := range scgCases {
		f.Add([]byte(tt.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		const max = 512
		br := bufio.NewReader(bytes.NewReader(data))
		h, err := scgi.ReadHeader(br, max)
		h1, err1 := scgi.ReadHeader(bufio.NewReader(iotest.OneByteReader(bytes.NewReader(data))), max)
		if kind(err) != kind(err1) || !reflect.DeepEqual(h, h1) {
			t.Fatalf("read whole: %q, %v; byte by byte: %q, %v", h.Params, err, h1.Params, err1)
		}
		if k := kind(err); len(k) > 8 && k[:8] == "unknown:" {
			t.Fatalf("ReadHeader(%q) = %v, of no known kind", data, err)
		}
		if err != nil {
			return
		}

		consumed := len(data) - br.Buffered()
		if consumed < 4 || data[consumed-1] != ',' || consumed > len("512:")+max+1 {
			t.Fatalf("ReadHeader consumed %d bytes of %q", consumed, data)
		}
		if cl, err := strconv.ParseInt(h.Params[0].Value, 10, 64); h.Params[0].Name != "CONTENT_LENGTH" || err != nil || cl != h.ContentLength {
			t.Fatalf("first param %q, want CONTENT_LENGTH %d", h.Params[0], h.ContentLength)
		}
		scgiSeen := false
		var rest []scgi.Param
		seen := map[string]bool{}
		for _, p := range h.Params {
			if p.Name == "" || bytes.IndexByte([]byte(p.Name+p.Value), 0) >= 0 {
				t.Fatalf("param %q accepted", p)
			}
			if seen[p.Name] && !strings.HasPrefix(p.Name, "HTTP_") {
				t.Fatalf("%q accepted twice in %q", p.Name, h.Params)
			}
			seen[p.Name] = true
			switch p.Name {
			case "SCGI":
				scgiSeen = scgiSeen || p.Value == "1"
			case "CONTENT_LENGTH":
			default:
				rest = append(rest, p)
			}
		}
		if !scgiSeen {
			t.Fatalf("accepted without SCGI=1: %q", h.Params)
		}

		enc := scgi.AppendHeader(nil, h.ContentLength, h.Params)
		h2, err := scgi.ReadHeader(bufio.NewReader(bytes.NewReader(enc)), 0)
		want := append([]scgi.Param{{Name: "CONTENT_LENGTH", Value: fmt.Sprint(h.ContentLength)}, {Name: "SCGI", Value: "1"}}, rest...)
		if err != nil || h2.ContentLength != h.ContentLength || !reflect.DeepEqual(h2.Params, want) {
			t.Fatalf("ReadHeader(AppendHeader(%q)) = %q, %v; want %q", h.Params, h2.Params, err, want)
		}
	})
}

// digestApp answers with the request's PATH_INFO and the length and
// SHA-256 of its body.
var digestApp = appFunc(func(_ context.Context, c *handler.Call, w io.Writer) error {
	h := sha256.New()
	n, err := io.Copy(h, c.Body)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "Content-Type: text/plain\r\n\r\n%q %d %x", c.Env["PATH_INFO"], n, h.Sum(nil))
	return err
})

// FuzzServer writes arbitrary bytes to a running Server while a
// well-formed request is served on another connection: that request gets
// its response, the fuzzed connection is closed, and the server shuts
// down cleanly.
func FuzzServer(f *testing.F) {
	for _, tt := range scgCases {
		f.Add([]byte(tt.in))
	}
	f.Add([]byte(request("hello", "REQUEST_URI", "/x")))
	f.Add([]byte(request("", "REQUEST_URI", "/x", "CONTENT_LENGTH", "999")))
	f.Add([]byte(request("", "HTTP_COOKIE", "a=1", "REQUEST_URI", "/x", "HTTP_COOKIE", "b=2")))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := handler.New(handler.Config{App: digestApp, Logger: hclog.NewNullLogger()})
		if err != nil {
			t.Fatal(err)
		}
		srv := scgi.New(scgi.Config{Handler: h, ReadHeaderTimeout: time.Second})
		// A unix socket: thousands of inputs a second would use up the
		// loopback's ports in TIME_WAIT.
		addr := filepath.Join(t.TempDir(), "scgi.sock")
		l, err := net.Listen("unix", addr)
		if err != nil {
			t.Fatal(err)
		}
		served := make(chan error, 1)
		go func() { served <- srv.Serve(l) }()

		fuzzed := make(chan error, 1)
		go func() {
			c, err := net.Dial("unix", addr)
			if err != nil {
				fuzzed <- err
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(20 * time.Second))
			c.Write(data)
			c.(*net.UnixConn).CloseWrite()
			_, err = io.Copy(io.Discard, c)
			if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
				fuzzed <- errors.New("the fuzzed connection was not closed")
				return
			}
			fuzzed <- nil
		}()

		c, err := net.Dial("unix", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(20 * time.Second))
		io.WriteString(c, request("body", "REQUEST_URI", "/well/formed"))
		got, err := io.ReadAll(c)
		c.Close()
		want := fmt.Sprintf("Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n%q 4 %x", "/well/formed", sha256.Sum256([]byte("body")))
		if err != nil || string(got) != want {
			t.Errorf("well-formed request beside %q = %q, %v; want %q", data, got, err, want)
		}
		if err := <-fuzzed; err != nil {
			t.Errorf("fuzzed connection %q: %v", data, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown after %q: %v", data, err)
		}
		<-served
	})
}
