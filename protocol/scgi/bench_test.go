package scgi_test

import (
	"bytes"
	"io"
	"net"
	"testing"

	"gatewayd/handler"
	"gatewayd/handler/demo"
	"gatewayd/protocol/scgi"
)

// BenchmarkServe is one request per connection, as every SCGI web server
// sends them, to the in-process demo app.
func BenchmarkServe(b *testing.B) {
	h, err := handler.New(handler.Config{App: demo.App{}})
	if err != nil {
		b.Fatal(err)
	}
	srv := scgi.New(scgi.Config{Handler: h})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(l)
	defer srv.Shutdown(b.Context())
	req := scgi.AppendHeader(nil, 0, []scgi.Param{
		{Name: "REQUEST_METHOD", Value: "GET"}, {Name: "REQUEST_URI", Value: "/bench"},
		{Name: "DOCUMENT_URI", Value: "/bench"}, {Name: "SERVER_PROTOCOL", Value: "HTTP/1.1"},
	})
	var buf bytes.Buffer
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		c.Write(req)
		buf.Reset()
		io.Copy(&buf, c)
		c.Close()
		if !bytes.HasPrefix(buf.Bytes(), []byte("Status: 200 OK")) {
			b.Fatalf("response %q", buf.Bytes())
		}
	}
}
