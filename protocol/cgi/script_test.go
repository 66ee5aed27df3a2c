//go:build unix

package cgi

import (
	"errors"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"gatewayd/environ"
	"gatewayd/handler"
)

const gone = "\x00gone" // a wanted value meaning "no such variable"

// scriptTree makes a document root with scripts in it and returns the
// directory holding it ("docs" and "alias" are inside).
func scriptTree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []struct {
		name string
		mode os.FileMode
	}{
		{"docs/app.gw", 0o755},
		{"docs/noexec.gw", 0o644},
		{"docs/caf\xc3\xa9.gw", 0o755},
		{"docs/sub/deep.gw", 0o755},
		{"alias/app.gw", 0o755},
	} {
		p := filepath.Join(dir, f.name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"), f.mode); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestScript(t *testing.T) {
	dir := scriptTree(t)
	docs := filepath.Join(dir, "docs")
	action := func(pathInfo, translated string) environ.Environ {
		return environ.Environ{
			"REDIRECT_STATUS": "200", "REDIRECT_URL": pathInfo, "DOCUMENT_ROOT": docs,
			"SCRIPT_NAME": "/gw-bin/gatewayd", "SCRIPT_FILENAME": "/usr/lib/cgi-bin/gatewayd",
			"PATH_INFO": pathInfo, "PATH_TRANSLATED": translated,
		}
	}
	scriptMap := func(scriptName, pathInfo, translated string) environ.Environ {
		return environ.Environ{
			"SERVER_SOFTWARE": "Microsoft-IIS/10.0",
			"SCRIPT_NAME":     scriptName, "PATH_INFO": pathInfo, "PATH_TRANSLATED": translated,
		}
	}
	without := func(e environ.Environ, k string) environ.Environ { delete(e, k); return e }
	tests := []struct {
		name   string
		env    environ.Environ
		iis    bool
		status int               // 0: found
		want   string            // the program
		after  map[string]string // variables afterwards
	}{
		{
			name: "action with path info", env: action("/app.gw/extra/p", docs+"/app.gw/extra/p"),
			want: docs + "/app.gw",
			after: map[string]string{"SCRIPT_NAME": "/app.gw", "PATH_INFO": "/extra/p", "PATH_TRANSLATED": docs + "/extra/p",
				"SCRIPT_FILENAME": docs + "/app.gw", "REDIRECT_URL": "/app.gw/extra/p"},
		},
		{
			name: "action without path info", env: action("/app.gw", docs+"/app.gw"),
			want:  docs + "/app.gw",
			after: map[string]string{"SCRIPT_NAME": "/app.gw", "PATH_INFO": gone, "PATH_TRANSLATED": gone, "SCRIPT_FILENAME": docs + "/app.gw"},
		},
		{
			name: "action with a slash of path info", env: action("/app.gw/", docs+"/app.gw/"),
			want:  docs + "/app.gw",
			after: map[string]string{"SCRIPT_NAME": "/app.gw", "PATH_INFO": "/", "PATH_TRANSLATED": docs + "/"},
		},
		{
			name: "action in a subdirectory", env: action("/sub/deep.gw/x", docs+"/sub/deep.gw/x"),
			want:  docs + "/sub/deep.gw",
			after: map[string]string{"SCRIPT_NAME": "/sub/deep.gw", "PATH_INFO": "/x", "PATH_TRANSLATED": docs + "/x"},
		},
		{
			name: "action through an Alias", env: action("/tools/app.gw/x", dir+"/alias/app.gw/x"),
			want:  dir + "/alias/app.gw",
			after: map[string]string{"SCRIPT_NAME": "/tools/app.gw", "PATH_INFO": "/x", "PATH_TRANSLATED": docs + "/x"},
		},
		{
			name: "action, non-ASCII bytes", env: action("/caf\xc3\xa9.gw/\xe9 x", docs+"/caf\xc3\xa9.gw/\xe9 x"),
			want:  docs + "/caf\xc3\xa9.gw",
			after: map[string]string{"SCRIPT_NAME": "/caf\xc3\xa9.gw", "PATH_INFO": "/\xe9 x", "PATH_TRANSLATED": docs + "/\xe9 x"},
		},
		{
			name: "action without DOCUMENT_ROOT", env: without(action("/app.gw/x", docs+"/app.gw/x"), "DOCUMENT_ROOT"),
			want:  docs + "/app.gw",
			after: map[string]string{"PATH_INFO": "/x", "PATH_TRANSLATED": gone},
		},
		{
			name: "action with DOCUMENT_ROOT /", env: func() environ.Environ {
				e := action("/app.gw/x", docs+"/app.gw/x")
				e["DOCUMENT_ROOT"] = "/"
				return e
			}(),
			want:  docs + "/app.gw",
			after: map[string]string{"PATH_TRANSLATED": "/x"},
		},
		{name: "direct request: no REDIRECT_STATUS", env: without(action("/app.gw", docs+"/app.gw"), "REDIRECT_STATUS"), status: 403},
		{name: "no PATH_TRANSLATED", env: without(action("/app.gw", ""), "PATH_TRANSLATED"), status: 404},
		{name: "empty PATH_TRANSLATED", env: action("/app.gw", ""), status: 404},
		{name: "missing file", env: action("/missing.gw/x", docs+"/missing.gw/x"), status: 404},
		{name: "a directory", env: action("/sub", docs+"/sub"), status: 404},
		{name: "a directory with path info", env: action("/sub/nothing/x", docs+"/sub/nothing/x"), status: 404},
		{name: "relative and missing", env: action("/x", "x/y"), status: 404},
		{name: "not executable", env: action("/noexec.gw", docs+"/noexec.gw"), status: 403},
		{name: "not a regular file", env: action("/null", "/dev/null"), status: 403},
		{name: "file of another URL", env: action("/other.gw/x", docs+"/app.gw/x"), status: 403},
		{name: "path info of another URL", env: action("/app.gw/y", docs+"/app.gw/x"), status: 403},
		{
			name: "IIS: file and path info", env: scriptMap("/app.gw", "/app.gw/x/y", docs+"/app.gw/x/y"), iis: true,
			want: docs + "/app.gw",
			after: map[string]string{"SCRIPT_FILENAME": docs + "/app.gw",
				"SCRIPT_NAME": "/app.gw", "PATH_INFO": "/app.gw/x/y", "PATH_TRANSLATED": docs + "/app.gw/x/y"},
		},
		{
			name: "IIS: file alone", env: scriptMap("/app.gw", "/app.gw/x", docs+"/app.gw"), iis: true,
			want: docs + "/app.gw", after: map[string]string{"SCRIPT_FILENAME": docs + "/app.gw"},
		},
		{
			name: "IIS: no path info", env: scriptMap("/app.gw", "/app.gw", docs+"/app.gw"), iis: true,
			want: docs + "/app.gw",
		},
		{
			name: "IIS: case differs", env: scriptMap("/APP.GW", "/APP.GW/X", docs+"/app.gw/x"), iis: true,
			want: docs + "/app.gw",
		},
		{
			name: "IIS with REDIRECT_STATUS too", env: func() environ.Environ {
				e := scriptMap("/app.gw", "/app.gw", docs+"/app.gw")
				e["REDIRECT_STATUS"] = "200"
				return e
			}(), iis: true,
			want: docs + "/app.gw",
		},
		{name: "IIS, allowPathInfo=true", env: scriptMap("/app.gw", "/sub/deep.gw", docs+"/sub/deep.gw"), iis: true, status: 403},
		{name: "IIS, allowPathInfo=true, same name", env: scriptMap("/deep.gw", "/sub/deep.gw", docs+"/sub/deep.gw"), iis: true, status: 403},
		{name: "IIS, path info of another URL", env: scriptMap("/app.gw", "/app.gw/y", docs+"/app.gw/x"), iis: true, status: 403},
		{name: "IIS, no SCRIPT_NAME", env: scriptMap("", "/app.gw", docs+"/app.gw"), iis: true, status: 403},
		{name: "--iis behind an Apache Action", env: action("/app.gw/x", docs+"/app.gw/x"), iis: true, status: 403},
		{name: "IIS, file of another URL", env: scriptMap("/other.gw", "/other.gw/x", docs+"/app.gw/x"), iis: true, status: 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := tt.env.Clone()
			got, err := script(env, tt.iis)
			if tt.status != 0 {
				var he *handler.Error
				if !errors.As(err, &he) || he.Status != tt.status {
					t.Fatalf("script(%v) = %q, %v; want a %d error", tt.env, got, err, tt.status)
				}
				if !maps.Equal(env, tt.env) {
					t.Errorf("script changed the environment of a refused request: %v", env)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("script(%v) = %q, %v; want %q", tt.env, got, err, tt.want)
			}
			for k, want := range tt.after {
				v, ok := env[k]
				if !ok {
					v = gone
				}
				if v != want {
					t.Errorf("after script, %s = %q, want %q", k, v, want)
				}
			}
		})
	}
}

func TestRefused(t *testing.T) {
	err := handler.Errorf(http.StatusForbidden, "cgi: no")
	run, got := refused{err}.Start(t.Context(), &handler.Call{})
	if run != nil || got != err {
		t.Errorf("refused.Start = %v, %v; want nil, %v", run, got, err)
	}
}
