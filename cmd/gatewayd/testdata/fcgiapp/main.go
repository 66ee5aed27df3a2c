// Command fcgiapp is a FastCGI worker for the tests: it serves on the
// listening socket it gets on fd 0, as gatewayd's workers do, and answers
// every request with its pid; a path that ends in /sleep takes 2s first.
package main

import (
	"fmt"
	"net/http"
	"net/http/fcgi"
	"os"
	"strings"
	"time"
)

func main() {
	err := fcgi.Serve(nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/sleep") {
			time.Sleep(2 * time.Second)
		}
		fmt.Fprintf(w, "pid=%d path=%s", os.Getpid(), r.URL.Path)
	}))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
