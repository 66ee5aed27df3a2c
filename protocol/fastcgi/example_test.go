package fastcgi_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/fcgi"
	"net/http/httptest"
	"os"
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

// Asking a Go net/http/fcgi program for two pages on one kept connection,
// as a pool of FastCGI workers does: the raw CGI response, then how the
// request ended and whether the connection carries the next one.
func ExampleClientConn_Do() {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	defer l.Close()
	go fcgi.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "Hello, %s!", r.URL.Query().Get("name"))
	}))

	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		fmt.Println(err)
		return
	}
	cc := fastcgi.NewClientConn(c)
	defer cc.Close()
	for _, name := range []string{"gopher", "again"} {
		req, err := cc.Do(map[string]string{
			"REQUEST_METHOD":  "GET",
			"SERVER_PROTOCOL": "HTTP/1.1",
			"HTTP_HOST":       "example.com",
			"REQUEST_URI":     "/hello?name=" + name,
		}, nil, os.Stderr)
		if err != nil {
			fmt.Println(err)
			return
		}
		out, err := io.ReadAll(req)
		end, endErr := req.End()
		if err != nil || endErr != nil {
			fmt.Println(err, endErr)
			return
		}
		// The header has a Date field; print its status line only.
		head, body, _ := strings.Cut(string(out), "\r\n\r\n")
		status, _, _ := strings.Cut(head, "\r\n")
		fmt.Printf("%s: %s %+v\n", status, body, end)
	}
	// Output:
	// Status: 200 OK: Hello, gopher! {AppStatus:0 ProtocolStatus:0 Reusable:true}
	// Status: 200 OK: Hello, again! {AppStatus:0 ProtocolStatus:0 Reusable:true}
}
