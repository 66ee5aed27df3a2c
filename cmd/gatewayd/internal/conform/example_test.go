//go:build unix

package conform_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"gatewayd/cmd/gatewayd/internal/conform"
)

// A shell script that forgot the reason phrase of its Status and sends a
// hop-by-hop field: what gatewayd check --json says of it.
func ExampleRun() {
	dir, _ := os.MkdirTemp("", "check")
	defer os.RemoveAll(dir)
	prog := filepath.Join(dir, "hello.cgi")
	os.WriteFile(prog, []byte("#!/bin/sh\nprintf 'Status: 404\\r\\nContent-Type: text/plain\\r\\nConnection: close\\r\\n\\r\\nno such page'\n"), 0o755)

	report, err := conform.Run(context.Background(), conform.Options{Program: prog})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, f := range report.Violations {
		fmt.Println(f.Severity, f.Rule, "line", f.Line)
	}
	fmt.Println(report.Response.Status, "|", report.Response.Strict, "|", report.Conforming)
	// One violation as --json prints it.
	out, _ := json.MarshalIndent(report.Violations[1], "", "  ")
	fmt.Println(string(out))
	// Output:
	// repaired CGI-STATUS-REASON line 1
	// repaired CGI-HOP-BY-HOP line 3
	// 404 Not Found | 500 Internal Server Error | false
	// {
	//   "rule": "CGI-HOP-BY-HOP",
	//   "severity": "repaired",
	//   "line": 3,
	//   "text": "Connection: close",
	//   "field": "Connection",
	//   "problem": "hop-by-hop field dropped",
	//   "says": "a CGI program sends no hop-by-hop fields: Connection, Keep-Alive, Transfer-Encoding… (RFC 3875 §6.3.4); gatewayd drops them",
	//   "fix": "leave the field out: the server frames the response"
	// }
}
