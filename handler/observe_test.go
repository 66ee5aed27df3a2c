package handler_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"gatewayd/handler"
)

// outcomes records what an Observer is told.
type outcomes struct {
	mu  sync.Mutex
	got []handler.Outcome
}

func (o *outcomes) Observe(out handler.Outcome) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.got = append(o.got, out)
}

// ended is an App whose program prints out and then ends as exit says.
type ended struct {
	out  string
	exit handler.Exit
}

func (e ended) Start(context.Context, *handler.Call) (handler.Run, error) {
	return &endedRun{Reader: strings.NewReader(e.out), exit: e.exit}, nil
}

type endedRun struct {
	io.Reader
	exit handler.Exit
}

func (r *endedRun) Wait() handler.Exit { return r.exit }

// refusing is an App that cannot start anything.
type refusing struct{ err error }

func (r refusing) Start(context.Context, *handler.Call) (handler.Run, error) { return nil, r.err }

// TestObserver: each request is reported once, with the status the client
// got and why its program stopped, in the terms the metrics count.
func TestObserver(t *testing.T) {
	const ok = "Content-Type: text/plain\r\n\r\nhello"
	overloaded := &handler.Error{Status: 503, Err: handler.ErrOverloaded}
	tests := []struct {
		name   string
		cfg    handler.Config
		req    *handler.Request
		w      handler.ResponseWriter
		status int
		stop   string
	}{
		{"served", handler.Config{App: output(ok)}, request(), nil, 200, ""},
		{"error status from the program", handler.Config{App: output("Status: 404 Not Found\r\n\r\n")}, request(), nil, 404, ""},
		{"malformed response", handler.Config{App: output("no header block")}, request(), nil, 500, handler.StopBadResponse},
		{"strict violation", handler.Config{App: output("Content-Type: text/plain\r\nConnection: close\r\n\r\n"), Strict: true},
			request(), nil, 500, handler.StopBadResponse},
		{"killed by a signal", handler.Config{App: ended{"", handler.Exit{Pid: 7, Code: -1, Signal: "segmentation fault"}}},
			request(), nil, 500, handler.StopCrash},
		{"exit status 1", handler.Config{App: ended{"", handler.Exit{Pid: 7, Code: 1}}}, request(), nil, 500, handler.StopCrash},
		{"stopped by us, then no header", handler.Config{App: ended{"", handler.Exit{Pid: 7, Code: -1, Signal: "terminated", Err: errors.New("stopped")}}},
			request(), nil, 500, handler.StopBadResponse},
		{"could not start", handler.Config{App: refusing{errors.New("exec: no such file")}}, request(), nil, 500, handler.StopCrash},
		{"overloaded", handler.Config{App: refusing{overloaded}}, request(), nil, 503, handler.StopOverload},
		{"timeout", handler.Config{App: stall{}, HeaderTimeout: 20 * time.Millisecond}, request(), nil, 504, handler.StopTimeout},
		{"client gone", handler.Config{App: stall{"Content-Type: text/plain\r\n\r\nfirst bytes"}}, request(), &brokenWriter{}, 200, handler.StopAbort},
		{"no such script", handler.Config{App: output(ok), Root: t.TempDir()}, request("PATH_INFO", "/missing.cgi"), nil, 404, ""},
		{"body too large", handler.Config{App: output(ok), MaxBody: 2},
			&handler.Request{Env: request("CONTENT_LENGTH", "5").Env, Body: strings.NewReader("hello")}, nil, 413, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obs := &outcomes{}
			tt.cfg.Observer = obs
			h, err := handler.New(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			w := tt.w
			if w == nil {
				w = handler.NewGatewayWriter(io.Discard)
			}
			tt.req.Frontend = "fastcgi"
			h.Serve(context.Background(), tt.req, w)
			if len(obs.got) != 1 {
				t.Fatalf("observed %d outcomes, want 1: %+v", len(obs.got), obs.got)
			}
			got := obs.got[0]
			if got.Status != tt.status || got.Stop != tt.stop || got.Mount != "/" || got.Frontend != "fastcgi" || got.Duration <= 0 {
				t.Errorf("outcome = %+v, want status %d, stop %q, mount /, frontend fastcgi, a duration", got, tt.status, tt.stop)
			}
		})
	}
}

// TestObserverMounts: the outcome names the mount that answered, after a
// local redirect to another mount too, and none for a path no mount takes.
func TestObserverMounts(t *testing.T) {
	obs := &outcomes{}
	a, _ := handler.New(handler.Config{App: output("Location: /b/x\r\n\r\n"), Observer: obs})
	b, _ := handler.New(handler.Config{App: output("Content-Type: text/plain\r\n\r\nb"), Observer: obs})
	mux, err := handler.NewMux([]handler.Mount{{Prefix: "/a", Handler: a}, {Prefix: "/b", Handler: b}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/a/y", "/b", "/c"} {
		mux.Serve(context.Background(), request("PATH_INFO", path), handler.NewGatewayWriter(io.Discard))
	}
	if len(obs.got) != 3 || obs.got[0].Mount != "/b" || obs.got[0].Status != 200 || obs.got[1].Mount != "/b" ||
		obs.got[2].Mount != "" || obs.got[2].Status != 404 {
		t.Errorf("outcomes = %+v, want two 200s from /b and a 404 from no mount", obs.got)
	}
}
