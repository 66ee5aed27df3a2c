package fastcgi_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"strings"

	"github.com/yookoala/gofast"

	"gatewayd/handler"
	"gatewayd/handler/demo"
	"gatewayd/protocol/fastcgi"
)

// Serving the demo app over FastCGI, as nginx's fastcgi_pass would reach
// it, and asking it once with a FastCGI client.
func ExampleNew() {
	h, _ := handler.New(handler.Config{App: demo.App{}})
	srv, err := fastcgi.New(fastcgi.Config{Handler: h})
	if err != nil {
		fmt.Println(err)
		return
	}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	done := make(chan error)
	go func() { done <- srv.Serve(l) }()

	client, _ := gofast.SimpleClientFactory(gofast.SimpleConnFactory("tcp", l.Addr().String()))()
	resp, _ := client.Do(&gofast.Request{
		Role:   gofast.RoleResponder,
		Params: map[string]string{"REQUEST_METHOD": "GET", "SCRIPT_NAME": "", "PATH_INFO": "/hello"},
		Stdin:  io.NopCloser(strings.NewReader("")),
	})
	rec := httptest.NewRecorder()
	resp.WriteTo(rec, io.Discard)
	client.Close()
	first, _, _ := strings.Cut(rec.Body.String(), "\n")
	fmt.Println(rec.Code, first)

	srv.Shutdown(context.Background())
	fmt.Println(<-done)
	// Output:
	// 200 Hello world!
	// fastcgi: server closed
}
