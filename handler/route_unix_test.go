//go:build !windows

package handler_test

import (
	"context"
	"errors"
	nethttp "net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gatewayd/environ"
	"gatewayd/handler"
)

func TestCheckScript(t *testing.T) {
	dir := t.TempDir()
	root, _ := filepath.EvalSymlinks(dir)
	write := func(name string, mode os.FileMode) string {
		p := filepath.Join(root, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	script := write("cgi-bin/a.cgi", 0o755)
	plain := write("cgi-bin/plain", 0o644)
	tests := []struct {
		name, path, root string
		ok               bool
	}{
		{"inside the root", script, root, true},
		{"no root", script, "", true},
		{"outside the root", script, filepath.Join(root, "other"), false},
		{"a sibling with the root as a prefix", script, filepath.Join(root, "cgi"), false},
		{"not executable", plain, root, false},
		{"not executable, no root", plain, "", false},
		{"a directory", filepath.Join(root, "cgi-bin"), "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fi, err := os.Stat(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			err = handler.CheckScript(tt.path, fi, tt.root)
			var he *handler.Error
			switch {
			case tt.ok && err != nil:
				t.Errorf("CheckScript(%q, root %q) = %v, want nil", tt.path, tt.root, err)
			case !tt.ok && (!errors.As(err, &he) || he.Status != 403):
				t.Errorf("CheckScript(%q, root %q) = %v, want a 403 error", tt.path, tt.root, err)
			}
		})
	}
}

// callApp records the call it is given and answers with an empty page.
type callApp struct{ got *handler.Call }

func (a *callApp) Start(_ context.Context, c *handler.Call) (handler.Run, error) {
	a.got = c
	return handler.HTTPApp(nethttp.NotFoundHandler()).Start(context.Background(), c)
}

// TestScriptFiles: under a root of scripts a worker reads (php-cgi), a file
// need not be executable, and the App is told which one by SCRIPT_FILENAME
// alone; the root still bounds what may run.
func TestScriptFiles(t *testing.T) {
	dir, _ := filepath.EvalSymlinks(t.TempDir())
	root := filepath.Join(dir, "www")
	os.MkdirAll(root, 0o755)
	os.WriteFile(filepath.Join(root, "index.php"), []byte("<?php"), 0o644)
	os.WriteFile(filepath.Join(dir, "secret.php"), []byte("<?php"), 0o644)
	os.Symlink(filepath.Join(dir, "secret.php"), filepath.Join(root, "link.php"))
	tests := []struct {
		name   string
		env    environ.Environ
		status int
		script string
	}{
		{"by path", environ.Environ{"PATH_INFO": "/index.php/extra"}, 404, filepath.Join(root, "index.php")},
		{"as nginx sends it", environ.Environ{"SCRIPT_FILENAME": filepath.Join(root, "index.php")}, 404, filepath.Join(root, "index.php")},
		{"outside the root", environ.Environ{"SCRIPT_FILENAME": filepath.Join(dir, "secret.php")}, 403, ""},
		{"a symlink out", environ.Environ{"PATH_INFO": "/link.php"}, 403, ""},
		{"missing", environ.Environ{"PATH_INFO": "/nope.php"}, 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := &callApp{}
			h, err := handler.New(handler.Config{App: app, Root: root, ScriptFiles: true})
			if err != nil {
				t.Fatal(err)
			}
			tt.env["REQUEST_METHOD"], tt.env["SERVER_PROTOCOL"] = "GET", "HTTP/1.1"
			var out strings.Builder
			res := h.Serve(context.Background(), &handler.Request{Env: tt.env}, handler.NewGatewayWriter(&out))
			if res.Status != tt.status {
				t.Fatalf("status %d, want %d (%v)", res.Status, tt.status, res.Err)
			}
			switch {
			case tt.script == "" && app.got != nil:
				t.Errorf("the app ran for %v", app.got.Env["SCRIPT_FILENAME"])
			case tt.script != "" && app.got == nil:
				t.Fatal("the app did not run")
			case tt.script != "" && (app.got.Env["SCRIPT_FILENAME"] != tt.script || app.got.Program != ""):
				t.Errorf("call SCRIPT_FILENAME %q Program %q, want %q and none", app.got.Env["SCRIPT_FILENAME"], app.got.Program, tt.script)
			}
		})
	}
}

// TestCheckScriptSymlinks: a script reached through a symlink counts by
// where the link leads: inside the root it runs, outside it is refused,
// whether the link is the file or a directory on the way.
func TestCheckScriptSymlinks(t *testing.T) {
	dir, _ := filepath.EvalSymlinks(t.TempDir())
	root := filepath.Join(dir, "root")
	outside := filepath.Join(dir, "outside")
	for _, d := range []string{filepath.Join(root, "sub"), outside} {
		os.MkdirAll(d, 0o755)
	}
	for _, p := range []string{filepath.Join(root, "sub", "a.cgi"), filepath.Join(outside, "b.cgi")} {
		os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755)
	}
	os.Symlink(filepath.Join(root, "sub", "a.cgi"), filepath.Join(root, "in.cgi"))
	os.Symlink(filepath.Join(outside, "b.cgi"), filepath.Join(root, "out.cgi"))
	os.Symlink(filepath.Join(root, "sub"), filepath.Join(root, "insub"))
	os.Symlink(outside, filepath.Join(root, "outsub"))
	for _, tt := range []struct {
		path string
		ok   bool
	}{
		{"sub/a.cgi", true},
		{"in.cgi", true},
		{"insub/a.cgi", true},
		{"out.cgi", false},
		{"outsub/b.cgi", false},
		{"sub/../../outside/b.cgi", false},
		{"sub//a.cgi", true},
	} {
		path := root + "/" + tt.path
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := handler.CheckScript(path, fi, root); (err == nil) != tt.ok {
			t.Errorf("CheckScript(%s) = %v, want allowed %v", tt.path, err, tt.ok)
		}
	}
}
