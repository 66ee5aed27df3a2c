//go:build unix

package conform_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gatewayd/cmd/gatewayd/internal/conform"
	"gatewayd/handler"
)

const ok = `printf 'Content-Type: text/plain\r\n\r\nok'`

// script writes an executable shell script called name.
func script(t testing.TB, name, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func rules(r *conform.Report) []string {
	var ids []string
	for _, f := range r.Violations {
		ids = append(ids, f.Rule)
	}
	return ids
}

// TestRules: every rule of the table, with a program that breaks it and
// one that keeps it.
func TestRules(t *testing.T) {
	body := conform.Request{Body: []byte("name=gatewayd")}
	tests := []struct {
		rule        string
		name        string // the program's name; default prog.cgi
		breaks      string
		keeps       string
		req         conform.Request
		timeout     time.Duration
		breakStatus int // what gatewayd sends for the breaking program
	}{
		{rule: handler.RuleNoOutput, breaks: `exit 0`, keeps: ok, breakStatus: 500},
		{rule: handler.RuleHeaderEnd, breaks: `printf 'Content-Type: text/plain\r\n'`, keeps: ok, breakStatus: 500},
		{rule: handler.RuleHeaderSize, breaks: `printf 'X-Big: '; head -c 70000 /dev/zero | tr '\0' a; printf '\r\nContent-Type: text/plain\r\n\r\n'`,
			keeps: `printf 'X-Big: '; head -c 1000 /dev/zero | tr '\0' a; printf '\r\nContent-Type: text/plain\r\n\r\n'`, breakStatus: 500},
		{rule: handler.RuleNoFields, breaks: `printf '\r\nbody'`, keeps: ok, breakStatus: 500},
		{rule: handler.RuleHeaderSyntax, breaks: `printf 'Content-Type: text/plain\r\nhello\r\n\r\n'`, keeps: ok, breakStatus: 500},
		{rule: handler.RuleFieldName, breaks: `printf 'Content-Type : text/plain\r\n\r\n'`, keeps: `printf 'Content-Type: text/plain\r\n\r\n'`, breakStatus: 500},
		{rule: handler.RuleObsFold, breaks: `printf 'Content-Type: text/plain\r\nX-A: 1\r\n 2\r\n\r\n'`,
			keeps: `printf 'Content-Type: text/plain\r\nX-A: 1 2\r\n\r\n'`, breakStatus: 500},
		{rule: handler.RuleControlChar, breaks: `printf 'Content-Type: text/plain\r\nX-A: a\rb\r\n\r\n'`,
			keeps: `printf 'Content-Type: text/plain\r\nX-A: a b\r\n\r\n'`, breakStatus: 500},
		{rule: handler.RuleStatusFormat, breaks: `printf 'Status: 20 OK\r\nContent-Type: text/plain\r\n\r\n'`,
			keeps: `printf 'Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n'`, breakStatus: 500},
		{rule: handler.RuleFieldRepeated, breaks: `printf 'Status: 200 OK\r\nStatus: 404 Not Found\r\nContent-Type: text/plain\r\n\r\n'`,
			keeps: `printf 'Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\n'`, breakStatus: 500},
		{rule: handler.RuleNPHStatusLine, name: "nph-prog.cgi", breaks: ok,
			keeps: `printf 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nok'`, breakStatus: 500},
		{rule: handler.RuleContentLengthBody, breaks: `printf 'Content-Type: text/plain\r\nContent-Length: 10\r\n\r\nabc'`,
			keeps: `printf 'Content-Type: text/plain\r\nContent-Length: 3\r\n\r\nabc'`, breakStatus: 200},
		{rule: handler.RuleTimeout, breaks: `sleep 5; ` + ok, keeps: ok, timeout: 300 * time.Millisecond, breakStatus: 504},
		{rule: handler.RuleHopByHop, breaks: `printf 'Content-Type: text/plain\r\nConnection: close\r\n\r\n'`, keeps: ok, breakStatus: 200},
		{rule: handler.RuleFieldDuplicate, breaks: `printf 'Content-Type: text/plain\r\nContent-Type: text/html\r\n\r\n'`, keeps: ok, breakStatus: 200},
		{rule: handler.RuleContentLengthFormat, breaks: `printf 'Content-Type: text/plain\r\nContent-Length: two\r\n\r\nok'`,
			keeps: `printf 'Content-Type: text/plain\r\nContent-Length: 2\r\n\r\nok'`, breakStatus: 200},
		{rule: handler.RuleContentTypeNoBody, breaks: `printf 'Status: 204 No Content\r\nContent-Type: text/plain\r\n\r\n'`,
			keeps: `printf 'Status: 204 No Content\r\n\r\n'`, breakStatus: 204},
		{rule: handler.RuleContentTypeMissing, breaks: `printf 'X-A: 1\r\n\r\nbody'`, keeps: ok, breakStatus: 200},
		{rule: handler.RuleStatusReason, breaks: `printf 'Status: 404\r\nContent-Type: text/plain\r\n\r\n'`,
			keeps: `printf 'Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\n'`, breakStatus: 404},
		{rule: handler.RuleLocalRedirectFields, breaks: `printf 'Location: /other\r\nStatus: 302 Found\r\nContent-Type: text/plain\r\n\r\nsee /other'`,
			keeps: `printf 'Location: http://localhost/other\r\nStatus: 302 Found\r\nContent-Type: text/plain\r\n\r\nsee /other'`, breakStatus: 302},
		{rule: handler.RuleRedirectDocStatus, breaks: `printf 'Location: http://localhost/other\r\nContent-Type: text/plain\r\n\r\nsee /other'`,
			keeps: `printf 'Location: http://localhost/other\r\nStatus: 303 See Other\r\nContent-Type: text/plain\r\n\r\nsee /other'`, breakStatus: 302},
		{rule: handler.RuleBodyUnread, breaks: ok, keeps: `cat >/dev/null; ` + ok, req: body, breakStatus: 200},
		{rule: handler.RuleStderr, breaks: `echo 'warning: no config' >&2; ` + ok, keeps: ok, breakStatus: 200},
		{rule: handler.RuleExitStatus, breaks: ok + `; exit 3`, keeps: ok + `; exit 0`, breakStatus: 200},
	}
	covered := map[string]bool{}
	for _, tt := range tests {
		covered[tt.rule] = true
		t.Run(tt.rule, func(t *testing.T) {
			name := tt.name
			if name == "" {
				name = "prog.cgi"
			}
			o := conform.Options{Request: tt.req, Timeout: tt.timeout}
			o.Program = script(t, name, tt.breaks)
			r, err := conform.Run(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(rules(r), tt.rule) {
				t.Errorf("breaking program: violations %q, want %s", rules(r), tt.rule)
			}
			rule, _ := handler.RuleByID(tt.rule)
			if want := rule.Severity == handler.Advice; r.Conforming != want {
				t.Errorf("breaking program of a %s rule: conforming %v", rule.Severity, r.Conforming)
			}
			if !strings.HasPrefix(r.Response.Status, strconv.Itoa(tt.breakStatus)+" ") {
				t.Errorf("breaking program forwarded with status %q, want %d", r.Response.Status, tt.breakStatus)
			}
			o.Program = script(t, name, tt.keeps)
			r, err = conform.Run(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Violations) != 0 || !r.Conforming {
				t.Errorf("keeping program: violations %+v", r.Violations)
			}
		})
	}
	for _, rule := range handler.Rules() {
		if !covered[rule.ID] {
			t.Errorf("rule %s has no test", rule.ID)
		}
	}
}

// TestProfiles: each profile plays its web server's request through the
// front-end gatewayd runs behind it, and the strict verdict is serve
// --strict's.
func TestProfiles(t *testing.T) {
	env := script(t, "env.cgi", `printf 'Content-Type: text/plain\r\n\r\n'; env`)
	tests := []struct {
		profile string
		path    string
		want    []string
	}{
		{"nginx", "/app/x", []string{"SERVER_SOFTWARE=nginx/1.22.1", "DOCUMENT_URI=/app/x", "SCRIPT_NAME=/app/x", "REDIRECT_STATUS=200"}},
		{"apache", "/cgi-bin/env.cgi/extra", []string{"SERVER_SOFTWARE=Apache/2.4.62 (Debian)", "SCRIPT_NAME=/cgi-bin/env.cgi", "PATH_INFO=/extra"}},
		{"iis", "/cgi-bin/env.cgi/extra", []string{"SERVER_SOFTWARE=Microsoft-IIS/10.0", "SCRIPT_NAME=/cgi-bin/env.cgi", "PATH_INFO=/extra", "HTTPS=off"}},
		{"http", "/app/x", []string{"SERVER_SOFTWARE=gatewayd", "PATH_INFO=/app/x", "REMOTE_ADDR=127.0.0.1"}},
	}
	for _, tt := range tests {
		t.Run(tt.profile, func(t *testing.T) {
			r, err := conform.Run(context.Background(), conform.Options{Program: env, Profile: tt.profile,
				Request: conform.Request{Path: tt.path, Query: "a=1", Header: []string{"X-Trace: 7"}}})
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range append(tt.want, "QUERY_STRING=a=1", "HTTP_X_TRACE=7", "GATEWAY_INTERFACE=CGI/1.1") {
				k, v, _ := strings.Cut(w, "=")
				if r.Request.Env[k] != v {
					t.Errorf("%s = %q, want %q", k, r.Request.Env[k], v)
				}
			}
			if !r.Conforming || !strings.HasPrefix(r.Response.Gateway, "Status: 200 OK\r\n") ||
				!strings.HasPrefix(r.Response.Origin, "HTTP/1.1 200 OK\r\n") || r.Response.Strict != "200 OK" {
				t.Errorf("report %+v", r.Response)
			}
		})
	}
	if _, err := conform.Run(context.Background(), conform.Options{Program: env, Profile: "lighttpd"}); err == nil {
		t.Error("an unknown profile ran")
	}
	if _, err := conform.Run(context.Background(), conform.Options{Program: "/nonexistent/prog"}); err == nil {
		t.Error("a program that does not exist ran")
	}
}
