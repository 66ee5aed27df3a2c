package handler_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"gatewayd/environ"
	"gatewayd/handler"
)

// A Go http.Handler served through the pipeline, its response written in
// gateway form as a CGI program would give it to its web server.
func ExampleHTTPApp() {
	app := handler.HTTPApp(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "hello %s", r.URL.Path)
	}))
	h, _ := handler.New(handler.Config{App: app})
	req := &handler.Request{Env: environ.Environ{
		"REQUEST_METHOD": "GET", "SERVER_PROTOCOL": "HTTP/1.1", "SCRIPT_NAME": "", "PATH_INFO": "/world",
	}}
	var out strings.Builder
	h.Serve(context.Background(), req, handler.NewGatewayWriter(&out))
	fmt.Print(strings.ReplaceAll(out.String(), "\r\n", "\n")) // lines end in CRLF
	// Output:
	// Status: 200 OK
	// Content-Type: text/plain
	// Content-Length: 12
	//
	// hello /world
}

// Serve runs one request; a program that fails before its headers gets
// wsgiref's error page.
func ExampleHandler_Serve() {
	h, _ := handler.New(handler.Config{App: output("this is not a CGI response")})
	var out strings.Builder
	res := h.Serve(context.Background(), request(), handler.NewGatewayWriter(&out))
	fmt.Println(res.Status)
	fmt.Printf("%q\n", out.String())
	// Output:
	// 500
	// "Status: 500 Internal Server Error\r\nContent-Type: text/plain\r\nContent-Length: 59\r\n\r\nA server error occurred.  Please contact the administrator."
}

// New with the configuration a script root needs.
func ExampleNew() {
	h, err := handler.New(handler.Config{App: output(""), Root: "/nonexistent/cgi-bin"})
	fmt.Println(h == nil, err != nil)
	// Output: true true
}

func ExampleNewGatewayWriter() {
	var out strings.Builder
	w := handler.NewGatewayWriter(&out)
	hd, _ := handler.NewHeaders(handler.Field{Name: "Content-Type", Value: "text/plain"})
	w.WriteHeader(handler.Status{Code: 404}, hd)
	w.Write([]byte("gone\n"))
	w.Flush()
	fmt.Printf("%q\n", out.String())
	// Output:
	// "Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\ngone\n"
}

func ExampleErrorf() {
	err := handler.Errorf(http.StatusForbidden, "handler: %s is not executable", "/cgi-bin/x")
	fmt.Println(handler.StatusOf(err))
	fmt.Println(err)
	// Output:
	// 403
	// 403 Forbidden: handler: /cgi-bin/x is not executable
}

func ExampleStatusOf() {
	fmt.Println(handler.StatusOf(fmt.Errorf("start: %w", &handler.Error{Status: 503, Err: handler.ErrOverloaded})))
	fmt.Println(handler.StatusOf(fmt.Errorf("anything else")))
	// Output:
	// 503
	// 500
}

// Executable is the rule a script root applies: on POSIX an execute bit,
// on Windows a PATHEXT extension.
func ExampleExecutable() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	script := filepath.Join(dir, "hello.cgi")
	os.WriteFile(script, []byte("#!/bin/sh\n"), 0o644)
	fi, _ := os.Stat(script)
	fmt.Println(handler.Executable(script, fi))
	os.Chmod(script, 0o755)
	fi, _ = os.Stat(script)
	fmt.Println(handler.Executable(script, fi))
	// Output:
	// false
	// true
}

// A Server that stands in front of the pipeline: it counts the requests
// and their statuses, and a front-end takes it where it takes a *Handler.
func ExampleServerFunc() {
	h, _ := handler.New(handler.Config{App: output("Content-Type: text/plain\r\n\r\nok")})
	counts := map[int]int{}
	var counted handler.Server = handler.ServerFunc(func(ctx context.Context, req *handler.Request, w handler.ResponseWriter) handler.Result {
		res := h.Serve(ctx, req, w)
		counts[res.Status]++
		return res
	})
	for range 3 {
		counted.Serve(context.Background(), request(), handler.NewGatewayWriter(io.Discard))
	}
	fmt.Println(counts)
	// Output: map[200:3]
}

// splitApp answers with the SCRIPT_NAME and PATH_INFO it was given.
type splitApp struct{}

func (splitApp) Start(_ context.Context, c *handler.Call) (handler.Run, error) {
	return &fixedRun{Reader: strings.NewReader("Content-Type: text/plain\r\n\r\n" +
		"SCRIPT_NAME=" + c.Env["SCRIPT_NAME"] + " PATH_INFO=" + c.Env["PATH_INFO"])}, nil
}

// A Mux of two mounts: each request goes to the longest prefix that
// matches whole segments, which moves from PATH_INFO to SCRIPT_NAME.
func ExampleNewMux() {
	var mounts []handler.Mount
	for _, prefix := range []string{"/", "/git"} {
		h, _ := handler.New(handler.Config{App: splitApp{}})
		mounts = append(mounts, handler.Mount{Prefix: prefix, Handler: h})
	}
	m, err := handler.NewMux(mounts, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, path := range []string{"/git/info/refs", "/gitweb"} {
		req := &handler.Request{Env: environ.Environ{"REQUEST_METHOD": "GET", "SERVER_PROTOCOL": "HTTP/1.1", "PATH_INFO": path}}
		var out strings.Builder
		m.Serve(context.Background(), req, handler.NewGatewayWriter(&out))
		_, body, _ := strings.Cut(out.String(), "\r\n\r\n")
		fmt.Println(path, "→", body)
	}
	// Output:
	// /git/info/refs → SCRIPT_NAME=/git PATH_INFO=/info/refs
	// /gitweb → SCRIPT_NAME= PATH_INFO=/gitweb
}

// The splits of a script's path under a document root, longest file
// first; the walk stops at the root. The first that names a file is the
// script and the rest its PATH_INFO.
func ExamplePathSplits() {
	root := "/srv/www"
	for file, pathInfo := range handler.PathSplits(root+"/cgi-bin/app.cgi/x", "/", len(root)) {
		fmt.Printf("%q %q\n", file, pathInfo)
	}
	// Output:
	// "/srv/www/cgi-bin/app.cgi/x" ""
	// "/srv/www/cgi-bin/app.cgi" "/x"
	// "/srv/www/cgi-bin" "/app.cgi/x"
}

// CheckScript lets a found file run only if it is an executable regular
// file inside the root; with no root, as behind Apache's Action, only the
// file itself is checked.
func ExampleCheckScript() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	root, _ := filepath.EvalSymlinks(dir)
	os.Mkdir(filepath.Join(root, "cgi-bin"), 0o755)
	script := filepath.Join(root, "cgi-bin", "hello.cgi")
	os.WriteFile(script, []byte("#!/bin/sh\n"), 0o755)
	fi, _ := os.Stat(script)
	fmt.Println(handler.CheckScript(script, fi, root))
	fmt.Println(handler.CheckScript(script, fi, ""))
	fmt.Println(handler.StatusOf(handler.CheckScript(script, fi, filepath.Join(root, "other"))))
	// Output:
	// <nil>
	// <nil>
	// 403
}

// The URL path of requests from web servers that sent neither SCRIPT_NAME
// nor PATH_INFO.
func ExampleRequestPath() {
	for _, env := range []environ.Environ{
		{"REQUEST_URI": "/a%20b/c.sh/x?q=1", "DOCUMENT_URI": "/a b/c.sh/x"},
		{"REQUEST_URI": "//a%20b/c%2Fd?q=%20"},
		{"REQUEST_URI": "http://example.org/x/y?q"},
		{"REQUEST_URI": "/a%zz"},
		{},
	} {
		p, ok := handler.RequestPath(env)
		fmt.Printf("%q %v\n", p, ok)
	}
	// Output:
	// "/a b/c.sh/x" true
	// "/a b/c/d" true
	// "/x/y" true
	// "/a%zz" true
	// "" false
}

func ExampleDefaultPassEnv() {
	fmt.Println(handler.DefaultPassEnv())
	// Output: [PATH]
}

func ExampleDefaultErrorStatus() {
	fmt.Println(handler.DefaultErrorStatus())
	// Output: 500 Internal Server Error
}

func ExampleDefaultErrorHeaders() {
	fmt.Println(handler.DefaultErrorHeaders())
	// Output: [{Content-Type text/plain}]
}

// An Observer counts outcomes: here, a program whose output is not a CGI
// response is reported as a bad response, with the 500 its client got.
func ExampleObserver() {
	obs := &outcomes{}
	h, _ := handler.New(handler.Config{App: output("this is not a CGI response"), Observer: obs})
	h.Serve(context.Background(), request(), handler.NewGatewayWriter(io.Discard))
	for _, o := range obs.got {
		fmt.Println(o.Mount, o.Status, o.Stop)
	}
	// Output: / 500 bad_response
}
