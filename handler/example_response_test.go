package handler_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"gatewayd/handler"
)

func ExampleReadResponse() {
	out := "Status: 404\nContent-Type: text/plain\nConnection: close\n\nno such page\n"
	br := bufio.NewReader(strings.NewReader(out))
	r, err := handler.ReadResponse(br, 64<<10)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(r.Kind, "|", r.Status)
	for _, f := range r.Header.Fields() {
		fmt.Printf("%s: %s\n", f.Name, f.Value)
	}
	body, _ := io.ReadAll(br)
	fmt.Printf("%q\n", body)
	// Output:
	// document | 404 Not Found
	// Content-Type: text/plain
	// Connection: close
	// "no such page\n"
}

func ExampleReadResponse_redirect() {
	for _, out := range []string{
		"Location: /other?x=1\n\n",
		"Location: http://example.org/\n\n",
		"Location: http://example.org/\nStatus: 301 Moved\nContent-Type: text/html\n\n<a>",
	} {
		r, _ := handler.ReadResponse(bufio.NewReader(strings.NewReader(out)), 64<<10)
		loc, _ := r.Header.Get("Location")
		fmt.Printf("%s: %s %s\n", r.Kind, r.Status, loc)
	}
	// Output:
	// local redirect: 302 Found /other?x=1
	// client redirect: 302 Found http://example.org/
	// client redirect with document: 301 Moved http://example.org/
}

func ExampleReadResponse_error() {
	out := "Content-Type: text/plain\nStatus: 30 FooBar\n\n"
	_, err := handler.ReadResponse(bufio.NewReader(strings.NewReader(out)), 64<<10)
	var pe *handler.ParseError
	if errors.As(err, &pe) && errors.Is(err, handler.ErrBadStatus) {
		fmt.Println("bad status on line", pe.Line)
	}
	fmt.Println(err)
	// Output:
	// bad status on line 2
	// handler: malformed status: "30 FooBar" (line 2)
}

func ExampleReadNPHResponse() {
	out := "HTTP/1.0 200 OK\r\nContent-type: text/html\nPragma: no-cache\n\nok\n"
	br := bufio.NewReader(strings.NewReader(out))
	r, err := handler.ReadNPHResponse(br, 64<<10)
	if err != nil {
		fmt.Println(err)
		return
	}
	// Sent in gateway form, for FastCGI or SCGI:
	fmt.Printf("%q\n", "Status: "+r.Status.String()+"\r\n"+r.Header.String())
	body, _ := io.ReadAll(br)
	fmt.Printf("%q\n", body)
	// Output:
	// "Status: 200 OK\r\nContent-type: text/html\r\nPragma: no-cache\r\n\r\n"
	// "ok\n"
}

func ExampleParseStatus() {
	for _, s := range []string{"404 Not Found", "404", "200 FooBar", "599", "30 FooBar"} {
		st, err := handler.ParseStatus(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("%d %q -> %s\n", st.Code, st.Reason, st)
	}
	// Output:
	// 404 "Not Found" -> 404 Not Found
	// 404 "Not Found" -> 404 Not Found
	// 200 "FooBar" -> 200 FooBar
	// 599 "" -> 599
	// handler: malformed status: "30 FooBar"
}

func ExampleCheck() {
	out := "Status: 200 OK\nConnection: close\nDate: Mon, 01 Jun 2026 00:00:00 GMT\nDate: again\n\nbody"
	r, _ := handler.ReadResponse(bufio.NewReader(strings.NewReader(out)), 64<<10)
	for _, v := range handler.Check(r) {
		fmt.Println(v)
	}
	fmt.Println(r.Header.Fields())
	// Output:
	// Connection: hop-by-hop field dropped (CGI-HOP-BY-HOP)
	// Date: duplicate field dropped (CGI-FIELD-DUPLICATE)
	// Content-Type: no Content-Type (CGI-CONTENT-TYPE-MISSING)
	// [{Date Mon, 01 Jun 2026 00:00:00 GMT}]
}
