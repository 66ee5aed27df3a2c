//go:build unix

package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"gatewayd/protocol/cgi"
)

// envScript prints its arguments, its environment and its stdin as a CGI
// response.
const envScript = `printf 'Content-Type: text/plain\r\n\r\n'
echo "args=$*"
env | sort
printf 'stdin='; cat; echo
`

// cgiRequest is what Apache gives a CGI program for a GET of
// /cgi-bin/prog/x, plus kv.
func cgiRequest(kv ...string) []string {
	return append([]string{
		"GATEWAY_INTERFACE=CGI/1.1", "SERVER_SOFTWARE=Apache/2.4.62 (Debian)", "SERVER_PROTOCOL=HTTP/1.1",
		"SERVER_NAME=127.0.0.1", "SERVER_PORT=80", "REQUEST_METHOD=GET", "QUERY_STRING=",
		"SCRIPT_NAME=/cgi-bin/prog", "PATH_INFO=/x", "REMOTE_ADDR=127.0.0.1", "PATH=/usr/bin:/bin",
	}, kv...)
}

// TestCGICommand runs `gatewayd cgi` as a web server does: environment,
// stdin, stdout, exit status.
func TestCGICommand(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "env.sh", envScript)
	writeScript(t, dir, "crash.sh", "echo 'config error' >&2\nexit 3\n")
	docs := t.TempDir()
	writeScript(t, docs, "app.gw", envScript)
	tests := []struct {
		name   string
		args   []string
		env    []string
		stdin  string
		code   int
		out    []string // in stdout
		stderr string   // in stderr
	}{
		{
			name: "GET", args: []string{filepath.Join(dir, "env.sh")}, env: cgiRequest(),
			out: []string{"Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n", "\nPATH_INFO=/x\n", "\nSERVER_SOFTWARE=Apache/2.4.62 (Debian)\n", "args=\n"},
		},
		{
			name: "POST", args: []string{filepath.Join(dir, "env.sh")},
			env:   cgiRequest("REQUEST_METHOD=POST", "CONTENT_LENGTH=8", "CONTENT_TYPE=text/plain"),
			stdin: "name=gw!and more", out: []string{"\nCONTENT_LENGTH=8\n", "stdin=name=gw!\n"},
		},
		{
			name: "flags after PROGRAM are its arguments", args: []string{filepath.Join(dir, "env.sh"), "--timeout", "1s", "a b"},
			env: cgiRequest(), out: []string{"args=--timeout 1s a b\n"},
		},
		{
			name: "crash", args: []string{filepath.Join(dir, "crash.sh")}, env: cgiRequest(),
			out:    []string{"Status: 500 Internal Server Error\r\nContent-Type: text/plain\r\nContent-Length: 59\r\n\r\nA server error occurred.  Please contact the administrator."},
			stderr: "config error",
		},
		{
			name: "no PROGRAM, direct request", env: cgiRequest("PATH_TRANSLATED=" + docs + "/app.gw"),
			out:    []string{"Status: 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 14\r\n\r\n403 Forbidden\n"},
			stderr: "REDIRECT_STATUS",
		},
		{
			name: "no PROGRAM, Action",
			env: cgiRequest("REDIRECT_STATUS=200", "DOCUMENT_ROOT="+docs, "SCRIPT_NAME=/gw-bin/gatewayd",
				"PATH_INFO=/app.gw/y", "PATH_TRANSLATED="+docs+"/app.gw/y"),
			out: []string{"Status: 200 OK\r\n", "\nSCRIPT_NAME=/app.gw\n", "\nPATH_INFO=/y\n", "\nSCRIPT_FILENAME=" + docs + "/app.gw\n"},
		},
		{
			name: "missing program", args: []string{filepath.Join(dir, "nothing")}, env: cgiRequest(),
			out: []string{"Status: 500 Internal Server Error\r\n"}, stderr: "nothing",
		},
		{
			name: "body ended early", args: []string{filepath.Join(dir, "env.sh")},
			env: cgiRequest("REQUEST_METHOD=POST", "CONTENT_LENGTH=100"), stdin: "short",
			code: 1, stderr: "unexpected EOF",
		},
		{
			name: "an indexed query cannot choose PROGRAM", args: []string{"/bin/sh"}, env: cgiRequest("QUERY_STRING=%2Fbin%2Fsh"),
			out: []string{"Status: 403 Forbidden\r\n"},
		},
		{
			name: "an indexed query cannot set flags", args: []string{"--log-level", "loud", "--help"},
			env: cgiRequest("QUERY_STRING=--log-level+loud+--help"), out: []string{"Status: 403 Forbidden\r\n"},
		},
		{
			name: "a query with = leaves the arguments", args: []string{filepath.Join(dir, "env.sh"), "a"},
			env: cgiRequest("QUERY_STRING=a=b"), out: []string{"args=a\n"},
		},
		{name: "help", args: []string{"--help"}, env: cgiRequest(), out: []string{"PATH_TRANSLATED", "--iis"}},
		{name: "bad flag", args: []string{"--bogus"}, env: cgiRequest(), code: 2, stderr: "unknown flag"},
		{name: "bad log level", args: []string{"--log-level", "loud", "x"}, env: cgiRequest(), code: 2, stderr: "log level"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			cmd := exec.Command(binary, append([]string{"cgi"}, tt.args...)...)
			cmd.Env = tt.env
			cmd.Stdin = strings.NewReader(tt.stdin)
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			if ee, ok := errors.AsType[*exec.ExitError](err); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.code || !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("gatewayd cgi %q: exit %d, stderr %q; want exit %d, stderr with %q", tt.args, code, stderr.String(), tt.code, tt.stderr)
			}
			// One line per failure: once the pipeline has logged the
			// request, the command does not print the error again.
			if log := stderr.String(); strings.Contains(log, " gatewayd.cgi: request ") && strings.Contains("\n"+log, "\ngatewayd: ") {
				t.Errorf("gatewayd cgi %q: the failure is logged twice:\n%s", tt.args, log)
			}
			for _, want := range tt.out {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("gatewayd cgi %q: stdout %q, want %q in it", tt.args, stdout.String(), want)
				}
			}
			if tt.code != 0 && stdout.Len() != 0 {
				t.Errorf("gatewayd cgi %q failed but wrote %q", tt.args, stdout.String())
			}
		})
	}
}

// TestCGIWindowsTranscoding serves requests whose environment is read with
// the Windows rules, as gatewayd.exe reads its own: Apache's latin-1
// characters become bytes; IIS's UTF-8 stays, and --iis fixes PATH_INFO.
func TestCGIWindowsTranscoding(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "env.sh", envScript)
	prog := filepath.Join(dir, "env.sh")
	tests := []struct {
		name string
		iis  bool
		env  []string
		want []string
	}{
		{
			name: "Apache", env: []string{"SERVER_SOFTWARE=Apache/2.4.62 (Win64)", "REQUEST_METHOD=GET",
				"SCRIPT_NAME=/cgi-bin/prog", "PATH_INFO=/caf\u00c3\u00a9/\u00e9", "QUERY_STRING=a=\u00e9",
				"SERVER_NAME=caf\u00e9", "HTTP_X_NAME=\u00e9", "REDIRECT_QUERY_STRING=\u00e9", "REDIRECT_URL=/\u00e9"},
			want: []string{"\nPATH_INFO=/caf\xc3\xa9/\xe9\n", "\nQUERY_STRING=a=\xe9\n", "\nSERVER_NAME=caf\xc3\xa9\n",
				"\nHTTP_X_NAME=\xe9\n", "\nREDIRECT_QUERY_STRING=\xe9\n", "\nREDIRECT_URL=/\xc3\xa9\n"},
		},
		{
			name: "IIS", iis: true, env: []string{"SERVER_SOFTWARE=Microsoft-IIS/10.0", "REQUEST_METHOD=GET", "HTTPS=off",
				"SCRIPT_NAME=/cgi-bin/prog.exe", "PATH_INFO=/cgi-bin/prog.exe/caf\u00e9", "PATH_TRANSLATED=C:\\site\\cgi-bin\\prog.exe\\caf\u00e9",
				"path_info_lower=x"},
			want: []string{"\nPATH_INFO=/caf\xc3\xa9\n", "\nPATH_TRANSLATED=C:\\site\\caf\xc3\xa9\n", "\nHTTPS=off\n",
				"\nSCRIPT_FILENAME=C:\\site\\cgi-bin\\prog.exe\n", "\nPATH_INFO_LOWER=x\n"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			o := cgiOptions{serveOptions: defaultServeOptions(), iis: tt.iis}
			env := cgi.ReadEnviron(cgi.Windows, tt.env)
			err := runCGI(context.Background(), o, []string{prog}, env, strings.NewReader(""), &stdout, &stderr)
			if err != nil {
				t.Fatalf("runCGI: %v\n%s", err, stderr.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("the program did not see %q:\n%s", w, stdout.String())
				}
			}
		})
	}
}

// TestCGISignals: the web server's SIGTERM stops gatewayd and its program's
// whole group; a web server that stops reading (SIGPIPE) does not kill
// gatewayd before it has stopped its program.
func TestCGISignals(t *testing.T) {
	dir := t.TempDir()
	pidfile := filepath.Join(dir, "pid")
	writeScript(t, dir, "sleep.sh", "echo $$ > "+pidfile+"\nsleep 60 &\necho $! >> "+pidfile+"\nwait\n")
	writeScript(t, dir, "flood.sh", "echo $$ > "+pidfile+"\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\nwhile :; do echo flood; done\n")

	t.Run("SIGTERM", func(t *testing.T) {
		os.Remove(pidfile)
		cmd := exec.Command(binary, "cgi", "--kill-grace", "200ms", filepath.Join(dir, "sleep.sh"))
		cmd.Env = cgiRequest()
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		pids := readPids(t, pidfile, 2)
		cmd.Process.Signal(syscall.SIGTERM)
		// The web server gave up on the request: the pipeline stops the
		// program and answers nothing (signal.NotifyContext's cause is a
		// context.Canceled, which the pipeline takes as a client gone).
		err := cmd.Wait()
		if ee, ok := errors.AsType[*exec.ExitError](err); !ok || ee.ExitCode() != 1 || stdout.Len() != 0 {
			t.Errorf("gatewayd cgi after SIGTERM: %v, stdout %q; want exit status 1 and no response\n%s", err, stdout.String(), stderr.String())
		}
		for _, pid := range pids {
			if alive(pid) {
				t.Errorf("process %d of the program's group outlived gatewayd", pid)
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	t.Run("SIGPIPE", func(t *testing.T) {
		os.Remove(pidfile)
		cmd := exec.Command(binary, "cgi", "--kill-grace", "200ms", filepath.Join(dir, "flood.sh"))
		cmd.Env = cgiRequest()
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = w, &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		w.Close()
		pid := readPids(t, pidfile, 1)[0]
		r.Close() // the web server hangs up
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err = <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("gatewayd cgi did not end after its stdout closed:\n%s", stderr.String())
		}
		ee, ok := errors.AsType[*exec.ExitError](err)
		if !ok || ee.ExitCode() != 1 {
			t.Errorf("gatewayd cgi with its stdout closed: %v, want exit status 1, not a signal\n%s", err, stderr.String())
		}
		if alive(pid) {
			t.Errorf("the program (pid %d) outlived gatewayd", pid)
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
}

// readPids waits until path holds n pids, one a line.
func readPids(t *testing.T, path string, n int) []int {
	t.Helper()
	for range 400 {
		if b, err := os.ReadFile(path); err == nil {
			var pids []int
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil {
					pids = append(pids, pid)
				}
			}
			if len(pids) >= n {
				return pids
			}
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("no %d pids in %s", n, path)
	return nil
}

func TestWithoutQueryArgs(t *testing.T) {
	tests := []struct {
		args  []string
		query string
		want  []string
	}{
		{[]string{"/srv/app"}, "", []string{"/srv/app"}},
		{[]string{"/srv/app", "a=b"}, "a=b", []string{"/srv/app", "a=b"}},
		{[]string{"/srv/app", "foo"}, "foo", []string{"/srv/app"}},
		{[]string{"/bin/sh"}, "/bin/sh", []string{}},
		{[]string{"/bin/sh"}, "%2Fbin%2Fsh", []string{}},
		{[]string{"--timeout", "1h", "/bin/sh"}, "--timeout+1h+/bin/sh", []string{}},
		{[]string{"--iis", "a b", "c"}, "a%20b+c", []string{"--iis"}},         // POSIX: one word with a space
		{[]string{"--iis", "a", "b", "c"}, "a%20b+c", []string{"--iis"}},      // Windows: split at the space
		{[]string{"--iis", `"a b"`, "c"}, "a%20b+c", []string{"--iis"}},       // Windows: quoted
		{[]string{"/srv/app", `a\;b`}, "a;b", []string{"/srv/app"}},           // Apache's shell escape
		{[]string{"/srv/app", "other"}, "foo", []string{"/srv/app", "other"}}, // not the query's words
		{[]string{"/srv/app"}, "foo+bar", []string{"/srv/app"}},               // the wrapper dropped them
		{[]string{"/srv/app", "x", "foo", "bar"}, "foo+bar", []string{"/srv/app", "x"}},
		{[]string{"/srv/app", "%zz"}, "%zz", []string{"/srv/app"}}, // undecodable: as it is
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " ")+"?"+tt.query, func(t *testing.T) {
			got := withoutQueryArgs(tt.args, tt.query)
			if strings.Join(got, "\x00") != strings.Join(tt.want, "\x00") || len(got) != len(tt.want) {
				t.Errorf("withoutQueryArgs(%q, %q) = %q, want %q", tt.args, tt.query, got, tt.want)
			}
		})
	}
}

// TestCGIConfig: gatewayd cgi --config routes the one request through the
// file's mounts, body read first, as serve does.
func TestCGIConfig(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "env.sh", envScript)
	conf := filepath.Join(dir, "gatewayd.hcl")
	if err := os.WriteFile(conf, []byte(`mount "/cgi-bin/prog" {
  program = ["`+filepath.Join(dir, "env.sh")+`"]
}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		env   []string
		stdin string
		out   []string
	}{
		{"mounted", cgiRequest("REQUEST_METHOD=POST", "CONTENT_LENGTH=5"), "hello",
			[]string{"Status: 200 OK\r\n", "\nSCRIPT_NAME=/cgi-bin/prog\n", "\nPATH_INFO=/x\n", "stdin=hello\n"}},
		{"no mount", cgiRequest("SCRIPT_NAME=/other"), "", []string{"Status: 404 Not Found\r\n"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(binary, "cgi", "--config", conf)
			cmd.Env = tt.env
			cmd.Stdin = strings.NewReader(tt.stdin)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("gatewayd cgi --config: %v\n%s", err, stderr.String())
			}
			for _, w := range tt.out {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, stdout.String())
				}
			}
		})
	}
}
