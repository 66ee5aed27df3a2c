package worker_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/fcgi"
	"os"
	"path/filepath"
	"strings"

	"gatewayd/environ"
	"gatewayd/handler"
	"gatewayd/handler/worker"
)

// Requests forwarded to a FastCGI server that runs on its own, here a Go
// net/http/fcgi program on a unix socket; php-fpm would be
// Address: "/run/php/php-fpm.sock".
func ExampleNewRemote() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "app.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Close()
	go fcgi.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s from FastCGI", r.URL.Path)
	}))

	remote := worker.NewRemote(worker.RemoteConfig{Network: "unix", Address: sock, Name: "/fpm"})
	defer remote.Close()
	h, _ := handler.New(handler.Config{App: remote})
	req := &handler.Request{Env: environ.Environ{
		"REQUEST_METHOD": "GET", "SERVER_PROTOCOL": "HTTP/1.1", "SCRIPT_NAME": "",
		"PATH_INFO": "/hello", "REQUEST_URI": "/hello", "SERVER_NAME": "example", "SERVER_PORT": "80",
	}}
	var out strings.Builder
	res := h.Serve(context.Background(), req, handler.NewGatewayWriter(&out))
	_, body, _ := strings.Cut(out.String(), "\r\n\r\n")
	fmt.Println(res.Status, body)
	// Output:
	// 200 /hello from FastCGI
}
