package subprocess_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"gatewayd/environ"
	"gatewayd/handler"
	"gatewayd/handler/subprocess"
)

// A Runner is the App of a handler that runs a CGI program per request.
func ExampleNew() {
	r := subprocess.New(subprocess.Config{MaxChildren: 8})
	defer r.Close()
	h, err := handler.New(handler.Config{
		App:     r,
		Program: "/bin/echo",
		Args:    []string{"Content-Type: text/plain\n"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	req := &handler.Request{Env: environ.Environ{"REQUEST_METHOD": "GET", "SERVER_PROTOCOL": "HTTP/1.1"}}
	var out strings.Builder
	h.Serve(context.Background(), req, handler.NewGatewayWriter(&out))
	fmt.Printf("%q\n", out.String())
	// Output:
	// "Status: 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n"
}

// Stop ends every program still running, for a daemon that must exit now;
// from then on requests get 503.
func ExampleRunner_Stop() {
	r := subprocess.New(subprocess.Config{})
	defer r.Close()
	h, err := handler.New(handler.Config{App: r, Program: "/bin/echo"})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Stop(ctx); err != nil {
		fmt.Println(err)
		return
	}
	req := &handler.Request{Env: environ.Environ{"REQUEST_METHOD": "GET", "SERVER_PROTOCOL": "HTTP/1.1"}}
	res := h.Serve(context.Background(), req, handler.NewGatewayWriter(io.Discard))
	fmt.Println(res.Status)
	// Output:
	// 503
}
