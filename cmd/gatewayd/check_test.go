//go:build unix

package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestREADMECheck runs the README's check block as written, with the
// built binary for go run, and finds the lines it shows, in order, in what
// check printed, with the exit status it says.
func TestREADMECheck(t *testing.T) {
	block, console := readmeBlocks(t, "## Checking a CGI program")
	script := strings.ReplaceAll(block, "go run ./cmd/gatewayd ", binary+" ")
	dir := t.TempDir()
	os.Mkdir(dir+"/cgi-bin", 0o755)
	sh := exec.Command("sh", "-c", script)
	sh.Dir = dir
	var stdout, stderr bytes.Buffer
	sh.Stdout, sh.Stderr = &stdout, &stderr
	err := sh.Run()
	if exit, ok := errors.AsType[*exec.ExitError](err); !ok || exit.ExitCode() != 1 {
		t.Errorf("check exited with %v, README says 1\n%s%s", err, stdout.String(), stderr.String())
	}
	out := stdout.String()
	at := 0
	for _, line := range strings.Split(strings.TrimSpace(console), "\n") {
		i := strings.Index(out[at:], line+"\n")
		if i < 0 {
			t.Fatalf("check's output lacks %q after what came before:\n%s", line, out)
		}
		at += i + len(line)
	}
}

// TestCheckExitStatus: 0 conforming, 1 violations, 2 a wrong command line
// or a program that cannot run, each with the message a user needs.
func TestCheckExitStatus(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "good.cgi", `cat >/dev/null; printf 'Content-Type: text/plain\r\n\r\nok'`)
	writeScript(t, dir, "bad.cgi", `printf 'hello\n'`)
	tests := []struct {
		args   []string
		status int
		out    string // in stdout
		errOut string // in stderr
	}{
		{[]string{"check", dir + "/good.cgi"}, 0, "conforming: 0 errors, 0 repaired, 0 warnings\n", ""},
		{[]string{"check", "--profile", "http", "--body", "x", dir + "/good.cgi"}, 0, "(http: POST /)", ""},
		{[]string{"check", dir + "/bad.cgi"}, 1, "error     CGI-HEADER-SYNTAX  line 1: hello", ""},
		{[]string{"check", "--json", dir + "/bad.cgi"}, 1, `"rule": "CGI-HEADER-SYNTAX"`, ""},
		{[]string{"check", dir + "/missing.cgi"}, 2, "", "gatewayd: check: cannot run " + dir + "/missing.cgi"},
		{[]string{"check", "--profile", "lighttpd", dir + "/good.cgi"}, 2, "", "--profile \"lighttpd\": want one of nginx, apache, iis, http"},
		{[]string{"check", "--header", "no colon", dir + "/good.cgi"}, 2, "", `--header "no colon"`},
		{[]string{"check"}, 2, "", "check: no PROGRAM"},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		status := run(tt.args, &stdout, &stderr)
		if status != tt.status || !strings.Contains(stdout.String(), tt.out) || !strings.Contains(stderr.String(), tt.errOut) {
			t.Errorf("gatewayd %q = %d, want %d\nstdout:\n%s\nstderr:\n%s", tt.args, status, tt.status, stdout.String(), stderr.String())
		}
	}
	var help bytes.Buffer
	run([]string{"check", "--help"}, &help, &help)
	if !strings.Contains(help.String(), "CGI-STATUS-REASON") || !strings.Contains(help.String(), "CGI-BODY-UNREAD") {
		t.Errorf("check --help does not list the rules:\n%s", help.String())
	}
}
