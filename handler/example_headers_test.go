package handler_test

import (
	"errors"
	"fmt"
	"strings"

	"gatewayd/handler"
)

func ExampleHeaders() {
	var h handler.Headers
	h.Set("Content-Type", "text/plain")
	h.Add("Set-Cookie", "a=1")
	h.Add("Set-Cookie", "b=2")
	h.Add("Content-Disposition", "attachment", handler.Param{Key: "filename", Value: "bud.gif"})
	h.Set("content-type", "text/html") // replaces, and moves to the end

	v, _ := h.Get("CONTENT-TYPE")
	fmt.Println(v)
	fmt.Println(h.GetAll("set-cookie"))
	for _, f := range h.Fields() {
		fmt.Printf("%s: %s\n", f.Name, f.Value)
	}
	// Output:
	// text/html
	// [a=1 b=2]
	// Set-Cookie: a=1
	// Set-Cookie: b=2
	// Content-Disposition: attachment; filename="bud.gif"
	// content-type: text/html
}

func ExampleHeaders_WriteTo() {
	var h handler.Headers
	h.Set("Content-Type", "text/plain")
	h.Set("Content-Length", "5")
	var b strings.Builder
	h.WriteTo(&b)
	fmt.Printf("%q\n", b.String())
	// Output:
	// "Content-Type: text/plain\r\nContent-Length: 5\r\n\r\n"
}

func ExampleNewHeaders() {
	_, err := handler.NewHeaders(handler.Field{Name: "X-A", Value: "1\r\nX-Injected: 2"})
	fmt.Println(errors.Is(err, handler.ErrControlChar))

	h, _ := handler.NewHeaders(
		handler.Field{Name: "Content-Type", Value: "text/plain"},
		handler.Field{Name: "X-A", Value: "1"},
	)
	fmt.Println(h.Len(), h.Keys())
	// Output:
	// true
	// 2 [Content-Type X-A]
}

func ExampleHeaders_AddParams() {
	var h handler.Headers
	h.AddParams("X-Options", handler.Param{Key: "max_age", Value: "5"}, handler.Param{Key: "secure"})
	fmt.Printf("%q\n", h.String())
	// Output:
	// "X-Options: max-age=\"5\"; secure\r\n\r\n"
}

// IsToken is the test a field name passes, in a CGI response as in a
// request header.
func ExampleIsToken() {
	for _, name := range []string{"Content-Type", "X-Trace_ID", "Content Type", "Set-Cookie:", ""} {
		fmt.Printf("%q %v\n", name, handler.IsToken(name))
	}
	// Output:
	// "Content-Type" true
	// "X-Trace_ID" true
	// "Content Type" false
	// "Set-Cookie:" false
	// "" false
}
