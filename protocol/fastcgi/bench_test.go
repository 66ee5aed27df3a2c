package fastcgi

import (
	"bytes"
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
