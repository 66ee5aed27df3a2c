package scgi_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gatewayd/handler"
	"gatewayd/handler/demo"
	"gatewayd/protocol/scgi"
)

// Serving the demo app over SCGI on a port the system picks, as nginx's
// scgi_pass would reach it, then shutting down once the requests in flight
// are done.
func ExampleNew() {
	h, err := handler.New(handler.Config{App: demo.App{}})
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := scgi.New(scgi.Config{Handler: h})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	done := make(chan error)
	go func() { done <- srv.Serve(l) }()

	// What nginx sends for GET /hello with its stock scgi_params, in short.
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		fmt.Println(err)
		return
	}
	c.Write(scgi.AppendHeader(nil, 0, []scgi.Param{
		{Name: "REQUEST_METHOD", Value: "GET"},
		{Name: "REQUEST_URI", Value: "/hello?x=1"},
		{Name: "QUERY_STRING", Value: "x=1"},
		{Name: "DOCUMENT_URI", Value: "/hello"},
		{Name: "SERVER_PROTOCOL", Value: "HTTP/1.1"},
	}))
	resp, _ := io.ReadAll(c) // the server closes the connection after the response
	c.Close()
	head, body, _ := strings.Cut(string(resp), "\r\n\r\n")
	fmt.Println(strings.Split(head, "\r\n")[0])
	for _, line := range strings.Split(body, "\n") {
		if line == "Hello world!" || strings.HasPrefix(line, "PATH_INFO") || strings.HasPrefix(line, "SCRIPT_NAME") {
			fmt.Println(line)
		}
	}

	srv.Shutdown(context.Background())
	fmt.Println(<-done)
	// Output:
	// Status: 200 OK
	// Hello world!
	// PATH_INFO = '/hello'
	// SCRIPT_NAME = ''
	// scgi: Server closed
}

// One Server may serve several listeners, here a unix socket such as
// lighttpd's "socket" option or nginx's scgi_pass unix:PATH reach.
func ExampleServer_Serve() {
	h, _ := handler.New(handler.Config{App: demo.App{}})
	srv := scgi.New(scgi.Config{Handler: h})
	dir, _ := os.MkdirTemp("", "scgi-example-")
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "scgi.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		fmt.Println(err)
		return
	}
	done := make(chan error)
	go func() { done <- srv.Serve(l) }()

	c, err := net.Dial("unix", sock)
	if err != nil {
		fmt.Println(err)
		return
	}
	c.Write(scgi.AppendHeader(nil, 0, []scgi.Param{{Name: "REQUEST_METHOD", Value: "HEAD"}}))
	line, _ := bufio.NewReader(c).ReadString('\n')
	c.Close()
	fmt.Printf("%q\n", line)

	srv.Shutdown(context.Background())
	fmt.Println(<-done)
	// Output:
	// "Status: 200 OK\r\n"
	// scgi: Server closed
}

// Shutdown with a deadline: a request that outlives it is stopped, and
// Shutdown says so once it has ended.
func ExampleServer_Shutdown() {
	started := make(chan struct{})
	stuck := appFunc(func(ctx context.Context, _ *handler.Call, _ io.Writer) error {
		close(started)
		<-ctx.Done() // a program that would run for ever
		return ctx.Err()
	})
	h, _ := handler.New(handler.Config{App: stuck})
	srv := scgi.New(scgi.Config{Handler: h})
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(l)
	c, _ := net.Dial("tcp", l.Addr().String())
	defer c.Close()
	c.Write(scgi.AppendHeader(nil, 0, nil))
	<-started

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	fmt.Println(srv.Shutdown(ctx))
	// Output: context deadline exceeded
}

// Reading the spec's example request: the header, then exactly
// CONTENT_LENGTH bytes of body.
func ExampleReadHeader() {
	r := bufio.NewReader(strings.NewReader("70:CONTENT_LENGTH\x0027\x00SCGI\x001\x00" +
		"REQUEST_METHOD\x00POST\x00REQUEST_URI\x00/deepthought\x00,What is the answer to life?"))
	h, err := scgi.ReadHeader(r, scgi.DefaultMaxHeaderBytes)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range h.Params {
		fmt.Printf("%s=%s\n", p.Name, p.Value)
	}
	body := make([]byte, h.ContentLength)
	io.ReadFull(r, body)
	fmt.Printf("%s\n", body)

	_, err = scgi.ReadHeader(bufio.NewReader(strings.NewReader("070:")), 0)
	fmt.Println(err)
	// Output:
	// CONTENT_LENGTH=27
	// SCGI=1
	// REQUEST_METHOD=POST
	// REQUEST_URI=/deepthought
	// What is the answer to life?
	// scgi: bad netstring length: leading zero
}

// Encoding a request header, as a web server sends it: CONTENT_LENGTH
// first, then SCGI=1, then the variables.
func ExampleAppendHeader() {
	b := scgi.AppendHeader(nil, 27, []scgi.Param{
		{Name: "REQUEST_METHOD", Value: "POST"},
		{Name: "REQUEST_URI", Value: "/deepthought"},
	})
	fmt.Printf("%q\n", b)
	// Output: "70:CONTENT_LENGTH\x0027\x00SCGI\x001\x00REQUEST_METHOD\x00POST\x00REQUEST_URI\x00/deepthought\x00,"
}
