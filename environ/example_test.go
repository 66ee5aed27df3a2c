package environ_test

import (
	"errors"
	"fmt"
	"net/http"

	"gatewayd/environ"
)

func ExampleEnviron_Clone() {
	e := environ.Environ{"SCRIPT_NAME": "/app"}
	c := e.Clone()
	c["SCRIPT_NAME"] = "/other"
	fmt.Println(e["SCRIPT_NAME"], c["SCRIPT_NAME"])
	// Output: /app /other
}

func ExampleEnviron_List() {
	e := environ.Environ{
		"SERVER_PORT": "80",
		"SCRIPT_NAME": "/app",
		"HTTP_X_BAD":  "a\x00b", // a NUL cannot be in an exec environment
	}
	fmt.Printf("%q\n", e.List())
	// Output: ["SCRIPT_NAME=/app" "SERVER_PORT=80"]
}

func ExampleRepresentable() {
	fmt.Println(environ.Representable("PATH_INFO", "/a b"))
	fmt.Println(environ.Representable("PATH_INFO", "/a\x00b"))
	fmt.Println(environ.Representable("A=B", "c"))
	// Output:
	// true
	// false
	// false
}

func ExampleGuessScheme() {
	fmt.Println(environ.GuessScheme(environ.Environ{"HTTPS": "on"}))
	fmt.Println(environ.GuessScheme(environ.Environ{"HTTPS": "ON"}))
	fmt.Println(environ.GuessScheme(environ.Environ{}))
	// Output:
	// https
	// http
	// http
}

func ExampleScheme() {
	fmt.Println(environ.Scheme(environ.Environ{"REQUEST_SCHEME": "https"}))
	fmt.Println(environ.Scheme(environ.Environ{"REQUEST_SCHEME": "", "HTTPS": "1"}))
	// Output:
	// https
	// https
}

func ExampleApplicationURI() {
	e := environ.Environ{
		"REQUEST_SCHEME": "https",
		"SERVER_NAME":    "example.com",
		"SERVER_PORT":    "8443",
		"SCRIPT_NAME":    "/cgi-bin/sp\xe4m",
	}
	fmt.Println(environ.ApplicationURI(e))

	delete(e, "SERVER_NAME")
	_, err := environ.ApplicationURI(e)
	fmt.Println(err, errors.Is(err, environ.ErrMissing))
	// Output:
	// https://example.com:8443/cgi-bin/sp%E4m <nil>
	// environ: missing SERVER_NAME true
}

func ExampleRequestURI() {
	e := environ.Environ{
		"HTTP_HOST":    "example.com",
		"SCRIPT_NAME":  "/app",
		"PATH_INFO":    "/a b;c=1",
		"QUERY_STRING": "q=%20x",
	}
	fmt.Println(environ.RequestURI(e, true))
	fmt.Println(environ.RequestURI(e, false))
	// Output:
	// http://example.com/app/a%20b;c=1?q=%20x <nil>
	// http://example.com/app/a%20b;c=1 <nil>
}

func ExampleShiftPathInfo() {
	e := environ.Environ{"SCRIPT_NAME": "/app", "PATH_INFO": "/users//42/"}
	for {
		name, ok, err := environ.ShiftPathInfo(e)
		if err != nil || !ok {
			break
		}
		fmt.Printf("%q: SCRIPT_NAME=%q PATH_INFO=%q\n", name, e["SCRIPT_NAME"], e["PATH_INFO"])
	}

	_, _, err := environ.ShiftPathInfo(environ.Environ{"PATH_INFO": "x"})
	fmt.Println(errors.Is(err, environ.ErrPathInfo))
	// Output:
	// "users": SCRIPT_NAME="/app/users" PATH_INFO="/42/"
	// "42": SCRIPT_NAME="/app/users/42" PATH_INFO="/"
	// "": SCRIPT_NAME="/app/users/42/" PATH_INFO=""
	// true
}

func ExampleSetupTestingDefaults() {
	e := environ.Environ{"HTTPS": "on", "PATH_INFO": "/x"}
	environ.SetupTestingDefaults(e)
	for _, kv := range e.List() {
		fmt.Println(kv)
	}
	// Output:
	// HTTPS=on
	// HTTP_HOST=127.0.0.1
	// PATH_INFO=/x
	// REQUEST_METHOD=GET
	// REQUEST_SCHEME=https
	// SERVER_NAME=127.0.0.1
	// SERVER_PORT=443
	// SERVER_PROTOCOL=HTTP/1.0
}

func ExampleIsHopByHop() {
	fmt.Println(environ.IsHopByHop("keep-alive"))
	fmt.Println(environ.IsHopByHop("Trailer"))
	// Output:
	// true
	// false
}

func ExampleHeaderVar() {
	for _, name := range []string{"X-Forwarded-For", "X_Forwarded_For", "Content-Type", "Proxy"} {
		v, ok := environ.HeaderVar(name)
		fmt.Printf("%s: %q %v\n", name, v, ok)
	}
	// Output:
	// X-Forwarded-For: "HTTP_X_FORWARDED_FOR" true
	// X_Forwarded_For: "" false
	// Content-Type: "" false
	// Proxy: "" false
}

func ExampleEnviron_AddHeaders() {
	h := http.Header{}
	h.Add("Cookie", "a=1")
	h.Add("Cookie", "b=2")
	h.Add("Accept", "text/html")
	h.Add("Accept", "*/*")
	h.Add("Authorization", "Basic c2hhOnNoYQ==")
	h.Add("Proxy", "http://evil.example:3128")
	h["X_Forwarded_For"] = []string{"10.0.0.1"}

	e := environ.Environ{}
	e.AddHeaders(h, false)
	for _, kv := range e.List() {
		fmt.Println(kv)
	}
	// Output:
	// HTTP_ACCEPT=text/html, */*
	// HTTP_COOKIE=a=1; b=2
}

func ExampleEnviron_Add() {
	e := environ.Environ{}
	// Parameters as nginx 1.22 sends them for two Cookie fields.
	e.Add("HTTP_COOKIE", "a=1")
	e.Add("HTTP_COOKIE", "b=2")
	e.Add("HTTP_PROXY", "http://evil.example:3128")
	e.Add("SCRIPT_NAME", "/old")
	e.Add("SCRIPT_NAME", "/app")
	for _, kv := range e.List() {
		fmt.Println(kv)
	}
	// Output:
	// HTTP_COOKIE=a=1; b=2
	// SCRIPT_NAME=/app
}

func ExampleEnviron_DropCaseDuplicates() {
	e := environ.Environ{"HTTP_X": "1", "http_x": "2", "Http_X": "3", "PATH_INFO": "/"}
	fmt.Println(e.DropCaseDuplicates())
	fmt.Println(e.List())
	// Output:
	// [Http_X http_x]
	// [HTTP_X=1 PATH_INFO=/]
}
