package worker_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/fcgi"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatewayd/handler"
	"gatewayd/handler/worker"
)

// fcgiServer serves h over FastCGI on a unix socket, as php-fpm or a Go
// net/http/fcgi program would, and counts the connections it accepted.
type fcgiServer struct {
	addr     string
	accepted atomic.Int64
	mu       sync.Mutex
	conns    []net.Conn
	l        net.Listener
}

func startFCGI(t *testing.T, h http.HandlerFunc) *fcgiServer {
	t.Helper()
	s := &fcgiServer{addr: filepath.Join(t.TempDir(), "app.sock")}
	l, err := net.Listen("unix", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	s.l = l
	go fcgi.Serve(countingListener{l, s}, h)
	t.Cleanup(func() { l.Close(); s.dropConns() })
	return s
}

// dropConns closes every connection the server has, as php-fpm does when a
// process ends after pm.max_requests.
func (s *fcgiServer) dropConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Close()
	}
	s.conns = nil
}

type countingListener struct {
	net.Listener
	s *fcgiServer
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.s.accepted.Add(1)
		l.s.mu.Lock()
		l.s.conns = append(l.s.conns, c)
		l.s.mu.Unlock()
	}
	return c, err
}

func hello(w http.ResponseWriter, r *http.Request) {
	fmt.Fprintf(w, "hello %s", fcgi.ProcessEnv(r)["X_VAR"])
}

func TestRemote(t *testing.T) {
	s := startFCGI(t, hello)
	r := worker.NewRemote(worker.RemoteConfig{Network: "unix", Address: s.addr, Name: "/fpm"})
	t.Cleanup(r.Close)
	h := pipeline(t, r, handler.Config{})
	for i := range 5 {
		rec, res := serve(t, h, "GET", "/x", nil)
		if rec.status != 200 || rec.body.String() != "hello from-env" {
			t.Fatalf("request %d: %d %q (%v)", i, rec.status, rec.body.String(), res.Err)
		}
	}
	if n := s.accepted.Load(); n != 1 {
		t.Errorf("5 requests in a row took %d connections, want 1 kept", n)
	}
}

func TestRemoteKeptConnectionClosed(t *testing.T) {
	s := startFCGI(t, hello)
	r := worker.NewRemote(worker.RemoteConfig{Network: "unix", Address: s.addr})
	t.Cleanup(r.Close)
	h := pipeline(t, r, handler.Config{})
	if rec, res := serve(t, h, "GET", "/x", nil); rec.status != 200 {
		t.Fatalf("first: %d (%v)", rec.status, res.Err)
	}
	s.dropConns()
	time.Sleep(10 * time.Millisecond)
	if rec, res := serve(t, h, "GET", "/x", nil); rec.status != 200 || rec.body.String() != "hello from-env" {
		t.Fatalf("after the server closed the kept connection: %d %q (%v)", rec.status, rec.body.String(), res.Err)
	}
	if n := s.accepted.Load(); n != 2 {
		t.Errorf("accepted %d connections, want 2", n)
	}
}

func TestRemoteDown(t *testing.T) {
	addr := filepath.Join(t.TempDir(), "nobody.sock")
	r := worker.NewRemote(worker.RemoteConfig{Network: "unix", Address: addr, Name: "/fpm"})
	t.Cleanup(r.Close)
	logs := &syncBuffer{}
	h := pipeline(t, r, handler.Config{Logger: newLogger(logs)})
	rec, res := serve(t, h, "GET", "/x", nil)
	if rec.status != 502 {
		t.Fatalf("status %d, want 502 (%v)", rec.status, res.Err)
	}
	if n := strings.Count(logs.String(), "\n"); n != 1 || !strings.Contains(logs.String(), "FastCGI server unix:"+addr) {
		t.Errorf("want one log line naming the server, got:\n%s", logs)
	}
}

func TestRemoteBounded(t *testing.T) {
	var running, most atomic.Int64
	s := startFCGI(t, func(w http.ResponseWriter, r *http.Request) {
		n := running.Add(1)
		defer running.Add(-1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
		fmt.Fprint(w, "ok")
	})
	r := worker.NewRemote(worker.RemoteConfig{Network: "unix", Address: s.addr, MaxConns: 3, MaxQueue: 100})
	t.Cleanup(r.Close)
	h := pipeline(t, r, handler.Config{})
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range 12 {
		wg.Go(func() {
			if rec, _ := serve(t, h, "GET", "/x", nil); rec.status != 200 {
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	if failed.Load() > 0 || most.Load() > 3 || s.accepted.Load() > 3 {
		t.Errorf("12 requests on 3 connections: %d failed, %d at once, %d connections", failed.Load(), most.Load(), s.accepted.Load())
	}
}

// TestRemoteOverloaded: a server that refuses a request with
// FCGI_OVERLOADED in END_REQUEST, as a FastCGI server at its limit may,
// gives 503.
func TestRemoteOverloaded(t *testing.T) {
	addr := filepath.Join(t.TempDir(), "busy.sock")
	l, err := net.Listen("unix", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go serveRecords(l, func(recType byte) []byte {
		if recType == 1 { // BEGIN_REQUEST: refused at once
			return []byte{1, 3, 0, 1, 0, 8, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0}
		}
		return nil
	})
	r := worker.NewRemote(worker.RemoteConfig{Network: "unix", Address: addr})
	t.Cleanup(r.Close)
	h := pipeline(t, r, handler.Config{})
	rec, res := serve(t, h, "GET", "/x", nil)
	if rec.status != 503 {
		t.Fatalf("status %d, want 503 (%v)", rec.status, res.Err)
	}
}
