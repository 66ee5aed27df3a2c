package handler_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"gatewayd/environ"
	"gatewayd/handler"
	"gatewayd/handler/subprocess"
)

// mux builds a Mux of one recorder per prefix and returns them.
func mux(t *testing.T, prefixes ...string) (*handler.Mux, map[string]*recorder, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	log := hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Debug})
	apps := map[string]*recorder{}
	var mounts []handler.Mount
	for _, p := range prefixes {
		app := &recorder{outputs: []string{"Content-Type: text/plain\r\n\r\n" + p}}
		h, err := handler.New(handler.Config{App: app, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		apps[p] = app
		mounts = append(mounts, handler.Mount{Prefix: p, Handler: h})
	}
	m, err := handler.NewMux(mounts, log)
	if err != nil {
		t.Fatal(err)
	}
	return m, apps, &logs
}

func TestMuxRoutes(t *testing.T) {
	tests := []struct {
		name       string
		env        []string
		mount      string // "" for 404
		scriptName string
		pathInfo   string
	}{
		{"exact prefix", []string{"SCRIPT_NAME", "", "PATH_INFO", "/git"}, "/git", "/git", ""},
		{"below the prefix", []string{"SCRIPT_NAME", "", "PATH_INFO", "/git/info/refs"}, "/git", "/git", "/info/refs"},
		{"longest prefix", []string{"SCRIPT_NAME", "", "PATH_INFO", "/git/deep/x"}, "/git/deep", "/git/deep", "/x"},
		{"whole segments only", []string{"SCRIPT_NAME", "", "PATH_INFO", "/gitx"}, "/", "", "/gitx"},
		{"root mount keeps the split", []string{"SCRIPT_NAME", "/a.cgi", "PATH_INFO", "/more"}, "/", "/a.cgi", "/more"},
		{"web server's SCRIPT_NAME", []string{"SCRIPT_NAME", "/git/info/refs"}, "/git", "/git", "/info/refs"},
		{"SCRIPT_NAME and PATH_INFO", []string{"SCRIPT_NAME", "/git", "PATH_INFO", "/info/refs"}, "/git", "/git", "/info/refs"},
		{"DOCUMENT_URI", []string{"DOCUMENT_URI", "/cgi-bin/x.cgi"}, "/cgi-bin", "/cgi-bin", "/x.cgi"},
		{"REQUEST_URI decoded", []string{"REQUEST_URI", "/cgi-bin/a%20b?q=1"}, "/cgi-bin", "/cgi-bin", "/a b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, apps, _ := mux(t, "/", "/git", "/git/deep", "/cgi-bin")
			var out strings.Builder
			req := &handler.Request{Env: environ.Environ{"REQUEST_METHOD": "GET", "SERVER_PROTOCOL": "HTTP/1.1"}}
			for i := 0; i+1 < len(tt.env); i += 2 {
				req.Env[tt.env[i]] = tt.env[i+1]
			}
			m.Serve(context.Background(), req, handler.NewGatewayWriter(&out))
			for p, app := range apps {
				if (p == tt.mount) != (len(app.calls) == 1) {
					t.Errorf("mount %q served %d requests, want the request served by %q", p, len(app.calls), tt.mount)
				}
			}
			c := apps[tt.mount].calls
			if len(c) == 1 && (c[0].Env["SCRIPT_NAME"] != tt.scriptName || c[0].Env["PATH_INFO"] != tt.pathInfo) {
				t.Errorf("SCRIPT_NAME %q PATH_INFO %q, want %q %q", c[0].Env["SCRIPT_NAME"], c[0].Env["PATH_INFO"], tt.scriptName, tt.pathInfo)
			}
		})
	}
}

func TestMuxNotFound(t *testing.T) {
	m, apps, logs := mux(t, "/git")
	var out strings.Builder
	res := m.Serve(context.Background(), request("PATH_INFO", "/other"), handler.NewGatewayWriter(&out))
	if res.Status != 404 || !strings.HasPrefix(out.String(), "Status: 404 Not Found\r\n") || len(apps["/git"].calls) != 0 {
		t.Errorf("Serve(/other) = %d %q, want 404", res.Status, out.String())
	}
	if n := strings.Count(logs.String(), "\n"); n != 1 || !strings.Contains(logs.String(), "/other") {
		t.Errorf("log = %q, want one line naming the path", logs)
	}
}

// TestMuxRedirect: a local redirect is routed again, into another mount.
func TestMuxRedirect(t *testing.T) {
	m, apps, _ := mux(t, "/a", "/b")
	apps["/a"].outputs = []string{"Location: /b/x?y=1\r\n\r\n"}
	var out strings.Builder
	m.Serve(context.Background(), request("PATH_INFO", "/a"), handler.NewGatewayWriter(&out))
	if got := out.String(); got != "Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n/b" {
		t.Fatalf("Serve = %q, want /b's answer", got)
	}
	if c := apps["/b"].calls[0]; c.Env["SCRIPT_NAME"] != "/b" || c.Env["PATH_INFO"] != "/x" || c.Env["QUERY_STRING"] != "y=1" {
		t.Errorf("redirected with SCRIPT_NAME %q PATH_INFO %q QUERY_STRING %q", c.Env["SCRIPT_NAME"], c.Env["PATH_INFO"], c.Env["QUERY_STRING"])
	}
}

func TestNewMuxErrors(t *testing.T) {
	h, _ := handler.New(handler.Config{App: output("")})
	for _, mounts := range [][]handler.Mount{
		{{Prefix: "git", Handler: h}},
		{{Prefix: "/git/", Handler: h}},
		{{Prefix: "/a//b", Handler: h}},
		{{Prefix: "/a/../b", Handler: h}},
		{{Prefix: "/git", Handler: h}, {Prefix: "/git", Handler: h}},
		{{Prefix: "/git"}},
	} {
		if _, err := handler.NewMux(mounts, hclog.NewNullLogger()); err == nil {
			t.Errorf("NewMux(%v) = nil error", mounts)
		}
	}
}

// TestMuxLimitsPerMount: a mount whose program slots are all taken does not
// starve another: each mount has its own runner.
func TestMuxLimitsPerMount(t *testing.T) {
	dir := t.TempDir()
	slow := filepath.Join(dir, "slow.cgi")
	fast := filepath.Join(dir, "fast.cgi")
	started := filepath.Join(dir, "started")
	os.WriteFile(slow, []byte("#!/bin/sh\ntouch "+started+"\nexec sleep 30\n"), 0o755)
	os.WriteFile(fast, []byte("#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\nfast'\n"), 0o755)
	var mounts []handler.Mount
	for _, mt := range []struct{ prefix, program string }{{"/slow", slow}, {"/fast", fast}} {
		r := subprocess.New(subprocess.Config{MaxChildren: 1, MaxQueue: 1, QueueTimeout: 100 * time.Millisecond, KillGrace: 100 * time.Millisecond})
		t.Cleanup(r.Close)
		h, err := handler.New(handler.Config{App: r, Program: mt.program})
		if err != nil {
			t.Fatal(err)
		}
		mounts = append(mounts, handler.Mount{Prefix: mt.prefix, Handler: h})
	}
	m, err := handler.NewMux(mounts, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { m.Serve(ctx, request("PATH_INFO", "/slow"), handler.NewGatewayWriter(&strings.Builder{})) })
	defer func() { cancel(); wg.Wait() }()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(started); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the slow program did not start")
		}
	}
	if res := m.Serve(context.Background(), request("PATH_INFO", "/slow"), handler.NewGatewayWriter(&strings.Builder{})); res.Status != 503 {
		t.Errorf("second /slow request = %d, want 503: its mount's one slot is taken", res.Status)
	}
	var out strings.Builder
	if res := m.Serve(context.Background(), request("PATH_INFO", "/fast"), handler.NewGatewayWriter(&out)); res.Status != 200 || !strings.HasSuffix(out.String(), "fast") {
		t.Errorf("/fast while /slow is full = %d %q, want 200", res.Status, out.String())
	}
}

// TestMuxScriptRoot: a script root mounted below "/" is walked from below
// its prefix, whatever document root the web server sent.
func TestMuxScriptRoot(t *testing.T) {
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "x.cgi"), []byte("#!/bin/sh\n"), 0o755)
	realRoot, _ := filepath.EvalSymlinks(root)
	app := &recorder{outputs: []string{"Content-Type: text/plain\r\n\r\nx"}}
	h, err := handler.New(handler.Config{App: app, Root: root})
	if err != nil {
		t.Fatal(err)
	}
	m, err := handler.NewMux([]handler.Mount{{Prefix: "/cgi-bin", Handler: h}}, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	for _, env := range [][]string{
		{"PATH_INFO", "/cgi-bin/x.cgi/more"},
		{"SCRIPT_NAME", "/cgi-bin/x.cgi", "PATH_INFO", "/more", "DOCUMENT_ROOT", t.TempDir()},
	} {
		app.calls = nil
		var out strings.Builder
		m.Serve(context.Background(), request(env...), handler.NewGatewayWriter(&out))
		if len(app.calls) != 1 {
			t.Fatalf("%v: %q", env, out.String())
		}
		c := app.calls[0]
		if c.Program != filepath.Join(realRoot, "x.cgi") || c.Env["SCRIPT_NAME"] != "/cgi-bin/x.cgi" || c.Env["PATH_INFO"] != "/more" {
			t.Errorf("%v: ran %q with SCRIPT_NAME %q PATH_INFO %q", env, c.Program, c.Env["SCRIPT_NAME"], c.Env["PATH_INFO"])
		}
	}
}
