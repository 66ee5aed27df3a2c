package fastcgi

import (
	"bytes"
	"context"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"

	"gatewayd/handler"
	"gatewayd/handler/demo"
)

// BenchmarkServe is one request per connection, as nginx sends them
// without fastcgi_keep_conn, to the in-process demo app.
func BenchmarkServe(b *testing.B) {
	addr, _ := serve(b, handler.Config{App: demo.App{}}, Config{})
	req := get(1, 0, "PATH_INFO", "/bench")
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		c := dial(b, addr)
		c.send(req)
		if r := c.response(1); !bytes.HasPrefix(r.stdout, []byte("Status: 200 OK")) {
			b.Fatalf("response %q", r.stdout)
		}
		c.c.Close()
	}
}

// bulk is an App whose program writes a header and then size bytes of
// body, 64 KiB at a time, and drains whatever body it is given.
type bulk struct{ size int64 }

func (a bulk) Start(_ context.Context, c *handler.Call) (handler.Run, error) {
	return &bulkRun{head: strings.NewReader("Content-Type: application/octet-stream\r\n\r\n"), left: a.size, body: c.Body}, nil
}

type bulkRun struct {
	head *strings.Reader
	left int64
	body io.Reader
}

var chunk = make([]byte, 64<<10)

func (r *bulkRun) Read(p []byte) (int, error) {
	if r.body != nil {
		io.Copy(io.Discard, r.body) // the body first, as drain.c does
		r.body = nil
	}
	if r.head.Len() > 0 {
		return r.head.Read(p)
	}
	if r.left == 0 {
		return 0, io.EOF
	}
	n := copy(p, chunk[:min(int64(len(chunk)), r.left)])
	r.left -= int64(n)
	return n, nil
}

func (*bulkRun) Wait() handler.Exit { return handler.Exit{} }

// bulkRequest sends one request with params and body to addr on a
// connection of its own and returns how many response bytes came back.
func bulkRequest(b *testing.B, addr string, params map[string]string, body io.Reader) int64 {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	cc := NewClientConn(conn)
	defer cc.Close()
	params["SERVER_PROTOCOL"], params["SCRIPT_NAME"] = "HTTP/1.1", "/t"
	req, err := cc.Do(params, body, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	n, err := io.Copy(io.Discard, req)
	if end, endErr := req.End(); err != nil || endErr != nil || end.AppStatus != 0 {
		b.Fatalf("%d bytes: %v %v %+v", n, err, endErr, end)
	}
	return n
}

// BenchmarkDownload moves a 64 MiB body from an in-process program
// through the pipeline and the FastCGI server to a client over loopback
// TCP: the server's output path alone.
func BenchmarkDownload(b *testing.B) {
	const size = 64 << 20
	addr, _ := serve(b, handler.Config{App: bulk{size: size}, NoAccessLog: true}, Config{})
	b.SetBytes(size)
	b.ResetTimer()
	for range b.N {
		if n := bulkRequest(b, addr, map[string]string{"REQUEST_METHOD": "GET"}, nil); n < size {
			b.Fatalf("%d bytes, want %d", n, size)
		}
	}
}

// BenchmarkUpload moves a 64 MiB body from a client over loopback TCP
// through the FastCGI server and the pipeline to an in-process program
// that drains it: the server's input path alone.
func BenchmarkUpload(b *testing.B) {
	const size = 64 << 20
	addr, _ := serve(b, handler.Config{App: bulk{}, NoAccessLog: true}, Config{MaxBody: 2 * size})
	body := make([]byte, size)
	b.SetBytes(size)
	b.ResetTimer()
	for range b.N {
		bulkRequest(b, addr, map[string]string{"REQUEST_METHOD": "POST", "CONTENT_LENGTH": strconv.Itoa(size)}, bytes.NewReader(body))
	}
}
