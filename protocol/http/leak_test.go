package http_test

import (
	"context"
	"io"
	"net"
	nethttp "net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"gatewayd/handler"
	"gatewayd/handler/subprocess"
	gwhttp "gatewayd/protocol/http"
)

// TestNoGoroutineLeak serves finished, timed-out and abandoned requests
// through real children, shuts down, and checks that every goroutine the
// server, the pipeline and the runner started has ended.
func TestNoGoroutineLeak(t *testing.T) {
	root := t.TempDir()
	scripts := map[string]string{
		"ok.sh":     "printf 'Content-Type: text/plain\\r\\n\\r\\nok'\n",
		"slow.sh":   "exec sleep 30\n",
		"stream.sh": "printf 'Content-Type: text/plain\\r\\n\\r\\n'; exec yes\n",
		"post.sh":   "printf 'Content-Type: text/plain\\r\\n\\r\\n'; exit 0\n", // never reads its body
	}
	for name, body := range scripts {
		if err := os.WriteFile(filepath.Join(root, name), []byte("#!/bin/sh\n"+body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	before := runtime.NumGoroutine()

	r := subprocess.New(subprocess.Config{KillGrace: 200 * time.Millisecond})
	h, err := handler.New(handler.Config{App: r, Root: root, HeaderTimeout: 300 * time.Millisecond, Logger: hclog.NewNullLogger()})
	if err != nil {
		t.Fatal(err)
	}
	srv := gwhttp.New(gwhttp.Config{Handler: h})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	base := "http://" + l.Addr().String()

	tr := &nethttp.Transport{}
	client := &nethttp.Client{Transport: tr}
	for _, path := range []string{"/ok.sh", "/slow.sh", "/missing.sh"} {
		resp, err := client.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	// A body the program never reads, sent slowly.
	pr, pw := io.Pipe()
	go func() {
		pw.Write([]byte(strings.Repeat("x", 1000)))
		time.Sleep(200 * time.Millisecond)
		pw.CloseWithError(io.ErrUnexpectedEOF)
	}()
	if resp, err := client.Post(base+"/post.sh", "text/plain", pr); err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	// A client that leaves mid-response.
	resp, err := client.Get(base + "/stream.sh")
	if err != nil {
		t.Fatal(err)
	}
	io.ReadFull(resp.Body, make([]byte, 4096))
	resp.Body.Close()
	tr.CloseIdleConnections()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	<-done
	r.Close()

	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines before, %d after shutdown:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}
