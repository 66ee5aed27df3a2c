package cgi_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"

	"gatewayd/environ"
	"gatewayd/handler"
	"gatewayd/protocol/cgi"
)

// A Go http.Handler run as a CGI program: the request comes from the
// environment and stdin, the response goes to stdout in gateway form. A
// real program passes cgi.Environ() and leaves Stdin and Stdout to their
// defaults.
func ExampleServe() {
	app := handler.HTTPApp(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "%s %s", r.Method, r.URL.Path)
	}))
	env := environ.Environ{
		"SERVER_SOFTWARE": "Apache/2.4.62", "SERVER_PROTOCOL": "HTTP/1.1", "SERVER_NAME": "example.org",
		"SERVER_PORT": "80", "REQUEST_METHOD": "GET", "SCRIPT_NAME": "/cgi-bin/app", "PATH_INFO": "/hello",
	}
	var stdout strings.Builder
	res, err := cgi.Serve(context.Background(), cgi.Config{
		Handler: handler.Config{App: app},
		Stdin:   strings.NewReader(""),
		Stdout:  &stdout,
	}, env)
	fmt.Println(res.Status, err)
	fmt.Print(strings.ReplaceAll(stdout.String(), "\r\n", "\n"))
	// Output:
	// 200 <nil>
	// Status: 200 OK
	// Content-Type: text/plain
	// Content-Length: 22
	//
	// GET /cgi-bin/app/hello
}

// Apache on Windows puts each byte of the request in the environment as the
// latin-1 character of the same number; wsgiref's read_environ, and
// ReadEnviron, make them bytes again, but only for the variables that come
// from the request.
func ExampleReadEnviron() {
	env := cgi.ReadEnviron(cgi.Windows, []string{
		"SERVER_SOFTWARE=Apache/2.4.62 (Win64)",
		"PATH_INFO=/caf\u00c3\u00a9",  // the bytes of "/café" in UTF-8, one character each
		"SERVER_NAME=caf\u00c3\u00a9", // not a transcoded variable
	})
	fmt.Println(escape(env["PATH_INFO"]), escape(env["SERVER_NAME"]))

	// On POSIX the bytes pass through.
	env = cgi.ReadEnviron(cgi.POSIX, []string{"PATH_INFO=/caf\xc3\xa9/\xff"})
	fmt.Println(escape(env["PATH_INFO"]))
	// Output:
	// /caf\xc3\xa9 caf\xc3\x83\xc2\xa9
	// /caf\xc3\xa9/\xff
}

// escape shows the bytes of s from 0x80 up as \xNN.
func escape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] < 0x80 {
			b.WriteByte(s[i])
		} else {
			fmt.Fprintf(&b, "\\x%02x", s[i])
		}
	}
	return b.String()
}

func ExampleEnviron() {
	os.Setenv("QUERY_STRING", "q=caf%C3%A9")
	defer os.Unsetenv("QUERY_STRING")
	fmt.Println(cgi.Environ()["QUERY_STRING"])
	// Output: q=caf%C3%A9
}

func ExamplePlatform_String() {
	fmt.Println(cgi.POSIX, cgi.Windows)
	// Output: posix windows
}
