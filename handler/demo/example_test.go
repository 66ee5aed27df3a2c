package demo_test

import (
	"fmt"
	"strings"

	"gatewayd/environ"
	"gatewayd/handler/demo"
)

func ExampleWrite() {
	var out strings.Builder
	demo.Write(&out, environ.Environ{"PATH_INFO": "/x", "QUERY_STRING": "a='b'"})
	fmt.Print(strings.ReplaceAll(out.String(), "\r\n", "\n")) // the header lines end in CRLF
	// Output:
	// Status: 200 OK
	// Content-Type: text/plain; charset=utf-8
	// Content-Length: 54
	//
	// Hello world!
	//
	// PATH_INFO = '/x'
	// QUERY_STRING = "a='b'"
}

func ExampleBody() {
	fmt.Printf("%s", demo.Body(environ.Environ{"HTTP_X": "tab\there\x01"}))
	// Output:
	// Hello world!
	//
	// HTTP_X = 'tab\there\x01'
}
