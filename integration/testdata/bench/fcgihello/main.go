// Command fcgihello is the comparison point for gatewayd's in-process demo
// app: the same page (Hello world! and the sorted CGI environment) from a
// plain net/http/fcgi program listening on the address given as its
// argument.
package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/fcgi"
	"os"
	"slices"
	"strings"
)

func main() {
	l, err := net.Listen("tcp", os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fcgi.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		env := fcgi.ProcessEnv(r)
		var b strings.Builder
		b.WriteString("Hello world!\n\n")
		for _, k := range slices.Sorted(func(yield func(string) bool) {
			for k := range env {
				if !yield(k) {
					return
				}
			}
		}) {
			fmt.Fprintf(&b, "%s = %q\n", k, env[k])
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte(b.String()))
	}))
}
