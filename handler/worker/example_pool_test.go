//go:build unix

package worker_test

import (
	"context"
	"fmt"
	"os"
	"strings"

	"gatewayd/environ"
	"gatewayd/handler"
	"gatewayd/handler/worker"
)

// Two persistent workers serve the pipeline's requests. The worker here is
// this test binary, a Go net/http/fcgi program; a PHP site would give
// Command: []string{"/usr/bin/php-cgi"} and a Root of scripts.
func ExampleNewPool() {
	pool, err := worker.NewPool(worker.Config{
		Command:   []string{os.Args[0]},
		Env:       environ.Environ{"GATEWAYD_TEST_FCGI": "serve"},
		Processes: 2,
		Name:      "/app",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer pool.Stop(context.Background())
	h, _ := handler.New(handler.Config{App: pool})
	req := &handler.Request{Env: environ.Environ{
		"REQUEST_METHOD": "GET", "SERVER_PROTOCOL": "HTTP/1.1", "SCRIPT_NAME": "",
		"PATH_INFO": "/greet", "QUERY_STRING": "name=worker", "REQUEST_URI": "/greet?name=worker",
		"SERVER_NAME": "example", "SERVER_PORT": "80",
	}}
	var out strings.Builder
	res := h.Serve(context.Background(), req, handler.NewGatewayWriter(&out))
	_, body, _ := strings.Cut(out.String(), "\r\n\r\n")
	fmt.Println(res.Status, body)
	fmt.Println(len(pool.Status().Pids), "workers")
	// Output:
	// 200 hello worker
	// 2 workers
}
