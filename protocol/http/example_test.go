package http_test

import (
	"context"
	"fmt"
	"io"
	"net"
	nethttp "net/http"

	"gatewayd/handler"
	"gatewayd/handler/demo"
	gwhttp "gatewayd/protocol/http"
)

// Serving the demo app over HTTP on a port the system picks, then shutting
// down once the requests in flight are done.
func ExampleNew() {
	h, err := handler.New(handler.Config{App: demo.App{}})
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := gwhttp.New(gwhttp.Config{Handler: h, ServerSoftware: "gatewayd/example"})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	done := make(chan error)
	go func() { done <- srv.Serve(l) }()

	resp, err := nethttp.Get("http://" + l.Addr().String() + "/hello")
	if err != nil {
		fmt.Println(err)
		return
	}
	line := make([]byte, len("Hello world!"))
	io.ReadFull(resp.Body, line)
	resp.Body.Close()
	fmt.Println(resp.Status, resp.Header.Get("Server"))
	fmt.Printf("%s\n", line)

	srv.Shutdown(context.Background())
	fmt.Println(<-done)
	// Output:
	// 200 OK gatewayd/example
	// Hello world!
	// http: Server closed
}
