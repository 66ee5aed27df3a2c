package handler_test

import (
	"slices"
	"strings"
	"testing"

	"gatewayd/environ"
	"gatewayd/handler"
)

func TestPathSplits(t *testing.T) {
	tests := []struct {
		p, seps string
		minLen  int
		want    []string // file, path info, file, path info...
	}{
		{"/srv/a.cgi/x", "/", 0, []string{"/srv/a.cgi/x", "", "/srv/a.cgi", "/x", "/srv", "/a.cgi/x"}},
		{"/srv/a.cgi/x", "/", len("/srv"), []string{"/srv/a.cgi/x", "", "/srv/a.cgi", "/x"}},
		{"/srv/a.cgi/", "/", len("/srv"), []string{"/srv/a.cgi/", "", "/srv/a.cgi", "/"}},
		{"/srv", "/", len("/srv"), nil},
		{"x/y", "/", 0, []string{"x/y", "", "x", "/y"}},
		{`C:\www\a.exe/x`, `/\`, 0, []string{`C:\www\a.exe/x`, "", `C:\www\a.exe`, "/x", `C:\www`, `\a.exe/x`, "C:", `\www\a.exe/x`}},
		{"//a//b", "/", 0, []string{"//a//b", "", "//a/", "/b", "//a", "//b", "/", "/a//b"}},
		{"", "/", 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.p, func(t *testing.T) {
			var got []string
			for file, pathInfo := range handler.PathSplits(tt.p, tt.seps, tt.minLen) {
				got = append(got, file, pathInfo)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("PathSplits(%q, %q, %d) = %q, want %q", tt.p, tt.seps, tt.minLen, got, tt.want)
			}
		})
	}
	for range handler.PathSplits("/a/b/c", "/", 0) {
		break // stopping early must not panic
	}
}

// requestPathTests are RequestPath's table and the fuzz target's seeds.
var requestPathTests = []struct {
	name string
	env  environ.Environ
	want string // "" with ok false
	ok   bool
}{
	{"DOCUMENT_URI first", environ.Environ{"REQUEST_URI": "/a%20b/c.sh/x?q=1", "DOCUMENT_URI": "/a b/c.sh/x"}, "/a b/c.sh/x", true},
	{"DOCUMENT_URI as it is", environ.Environ{"DOCUMENT_URI": "x//y"}, "x//y", true},
	{"decoded, slashes collapsed", environ.Environ{"REQUEST_URI": "//a%20b/c%2Fd?q=%20"}, "/a b/c/d", true},
	{"fragment cut", environ.Environ{"REQUEST_URI": "/a#b?c"}, "/a", true},
	{"query before fragment", environ.Environ{"REQUEST_URI": "/a?b#c"}, "/a", true},
	{"plus kept", environ.Environ{"REQUEST_URI": "/a+b"}, "/a+b", true},
	{"absolute form", environ.Environ{"REQUEST_URI": "http://example.org/x/y?q"}, "/x/y", true},
	{"asterisk form", environ.Environ{"REQUEST_URI": "*"}, "/*", true},
	{"bad escape, raw", environ.Environ{"REQUEST_URI": "/a%zz"}, "/a%zz", true},
	{"relative, raw", environ.Environ{"REQUEST_URI": "a%20b"}, "/a%20b", true},
	{"control byte, raw", environ.Environ{"REQUEST_URI": "/a%20\tb"}, "/a%20\tb", true},
	{"empty", environ.Environ{"REQUEST_URI": ""}, "/", true},
	{"neither", environ.Environ{}, "", false},
}

func TestRequestPath(t *testing.T) {
	for _, tt := range requestPathTests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := handler.RequestPath(tt.env)
			if got != tt.want || ok != tt.ok {
				t.Errorf("RequestPath(%v) = %q, %v, want %q, %v", tt.env, got, ok, tt.want, tt.ok)
			}
		})
	}
}

// FuzzRequestPath: a path made from REQUEST_URI always begins with exactly
// one '/'.
func FuzzRequestPath(f *testing.F) {
	for _, tt := range requestPathTests {
		if uri, ok := tt.env["REQUEST_URI"]; ok {
			f.Add(uri)
		}
	}
	f.Fuzz(func(t *testing.T, uri string) {
		got, ok := handler.RequestPath(environ.Environ{"REQUEST_URI": uri})
		if !ok || !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") {
			t.Errorf("RequestPath(REQUEST_URI %q) = %q, %v; want one leading '/'", uri, got, ok)
		}
	})
}
