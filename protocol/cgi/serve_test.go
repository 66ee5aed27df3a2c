//go:build unix

package cgi

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"gatewayd/environ"
	"gatewayd/handler"
	"gatewayd/handler/subprocess"
)

// The test binary doubles as the CGI program: run with GATEWAYD_TEST_CGI
// set, it behaves as that mode says instead of running the tests.
func TestMain(m *testing.M) {
	if mode := os.Getenv("GATEWAYD_TEST_CGI"); mode != "" {
		cgiMain(mode)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func cgiMain(mode string) {
	out := os.Stdout
	switch mode {
	case "env":
		if os.Getenv("PATH_INFO") == "/redirect" {
			fmt.Fprint(out, "Location: /target?from=redirect\r\n\r\n")
			return
		}
		body, _ := io.ReadAll(os.Stdin)
		env := os.Environ()
		slices.Sort(env)
		fmt.Fprintf(out, "Content-Type: text/plain\r\n\r\nstdin=%d %x\n%s\n", len(body), sha256.Sum256(body), strings.Join(env, "\n"))
	case "crash":
		fmt.Fprint(os.Stderr, "config error: missing SI_UID\n")
		os.Exit(3)
	case "sleep":
		os.WriteFile(os.Getenv("PIDFILE"), []byte(strconv.Itoa(os.Getpid())), 0o644)
		time.Sleep(time.Minute)
	}
}

// request is a CGI environment as Apache gives it for a GET, running the
// test binary in mode.
func request(mode string, kv ...string) environ.Environ {
	env := environ.Environ{
		"GATEWAY_INTERFACE": "CGI/1.1", "SERVER_SOFTWARE": "Apache/2.4.62 (Debian)",
		"SERVER_PROTOCOL": "HTTP/1.1", "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8080",
		"REQUEST_METHOD": "GET", "REQUEST_URI": "/cgi-bin/prog/x", "QUERY_STRING": "",
		"SCRIPT_NAME": "/cgi-bin/prog", "PATH_INFO": "/x", "REMOTE_ADDR": "127.0.0.1",
		"GATEWAY_TEST_MARK": "request", "GATEWAYD_TEST_CGI": mode,
		"GORACE": "atexit_sleep_ms=0", // the race runtime of a test binary child waits 1s at exit
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == gone {
			delete(env, kv[i])
		} else {
			env[kv[i]] = kv[i+1]
		}
	}
	return env
}

// run serves env with the test binary as PROGRAM (unless cfg says
// otherwise) and returns what reached stdout.
func run(t *testing.T, cfg Config, env environ.Environ, stdin io.Reader) (string, handler.Result, error) {
	t.Helper()
	if cfg.Handler.App == nil {
		r := subprocess.New(subprocess.Config{MaxChildren: 1, KillGrace: 100 * time.Millisecond})
		t.Cleanup(r.Close)
		cfg.Handler.App = r
	}
	if cfg.Handler.Program == "" && !cfg.Translated {
		exe, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		cfg.Handler.Program = exe
	}
	var out bytes.Buffer
	cfg.Stdin, cfg.Stdout = stdin, &out
	if cfg.Stdin == nil {
		cfg.Stdin = strings.NewReader("")
	}
	res, err := Serve(t.Context(), cfg, env)
	return out.String(), res, err
}

func head(out string) string {
	h, _, _ := strings.Cut(out, "\r\n\r\n")
	return h
}

func TestServeGET(t *testing.T) {
	t.Setenv("GATEWAYD_LEAK", "from gatewayd's own environment")
	out, res, err := run(t, Config{}, request("env", "PATH", gone), nil)
	if err != nil || res.Status != 200 {
		t.Fatalf("Serve = %d, %v\n%s", res.Status, err, out)
	}
	if h := head(out); h != "Status: 200 OK\r\nContent-Type: text/plain" {
		t.Errorf("header block %q", h)
	}
	for _, want := range []string{"\nPATH_INFO=/x\n", "\nGATEWAY_TEST_MARK=request\n", "\nSERVER_SOFTWARE=Apache/2.4.62 (Debian)\n",
		"\nSCRIPT_NAME=/cgi-bin/prog\n", "stdin=0 "} {
		if !strings.Contains(out, want) {
			t.Errorf("the program did not see %q:\n%s", want, out)
		}
	}
	// Nothing beneath the request: no PATH from gatewayd when the web
	// server gave none, and nothing else of gatewayd's environment.
	for _, not := range []string{"GATEWAYD_LEAK", "\nPATH="} {
		if strings.Contains(out, not) {
			t.Errorf("the program saw %q:\n%s", not, out)
		}
	}
}

func TestServeHTTPProxy(t *testing.T) {
	out, _, err := run(t, Config{}, request("env", "HTTP_PROXY", "http://evil/", "HTTP_CONTENT_LENGTH", "5"), nil)
	if err != nil || strings.Contains(out, "HTTP_PROXY") || strings.Contains(out, "HTTP_CONTENT_LENGTH") {
		t.Errorf("Serve = %v; the program saw HTTP_PROXY or HTTP_CONTENT_LENGTH:\n%s", err, out)
	}
}

// memBody is the largest body the handler keeps in memory; the body tests
// straddle it.
const memBody = 64 << 10

// TestServeBody: CONTENT_LENGTH bytes reach the program and no more is read
// from stdin, in memory and spooled to a file.
func TestServeBody(t *testing.T) {
	for _, n := range []int{1, 15, memBody, memBody + 1, 300 << 10} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			body := bytes.Repeat([]byte{0, 0xFF, 'a', '\n'}, n/4+1)[:n]
			stdin := bytes.NewReader(append(slices.Clone(body), "TRAILING"...))
			env := request("env", "REQUEST_METHOD", "POST", "CONTENT_LENGTH", strconv.Itoa(n), "CONTENT_TYPE", "application/octet-stream")
			out, res, err := run(t, Config{Handler: handler.Config{TempDir: t.TempDir()}}, env, stdin)
			if err != nil || res.Status != 200 {
				t.Fatalf("Serve = %d, %v\n%s", res.Status, err, out)
			}
			if want := fmt.Sprintf("stdin=%d %x\n", n, sha256.Sum256(body)); !strings.Contains(out, want) {
				t.Errorf("the program read other than the body: want %q in\n%s", want, out)
			}
			if !strings.Contains(out, "\nCONTENT_LENGTH="+strconv.Itoa(n)+"\n") {
				t.Errorf("CONTENT_LENGTH is not %d:\n%s", n, out)
			}
			if rest, _ := io.ReadAll(stdin); string(rest) != "TRAILING" {
				t.Errorf("stdin after the body = %q, want TRAILING unread", rest)
			}
		})
	}
}

func TestServeBodyRefused(t *testing.T) {
	tests := []struct {
		name, cl string
		status   int
	}{
		{"no CONTENT_LENGTH", gone, 200},
		{"empty CONTENT_LENGTH", "", 200},
		{"zero", "0", 200},
		{"malformed", "12x", 400},
		{"negative", "-1", 400},
		{"plus sign", "+5", 400},
		{"over MaxBody", "101", 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdin := strings.NewReader("UNREAD")
			env := request("env", "REQUEST_METHOD", "POST", "CONTENT_LENGTH", tt.cl)
			out, res, err := run(t, Config{Handler: handler.Config{MaxBody: 100}}, env, stdin)
			if err != nil || res.Status != tt.status {
				t.Fatalf("Serve = %d, %v; want %d\n%s", res.Status, err, tt.status, out)
			}
			if tt.status == 200 && !strings.Contains(out, "stdin=0 ") {
				t.Errorf("the program got a body:\n%s", out)
			}
			if rest, _ := io.ReadAll(stdin); string(rest) != "UNREAD" {
				t.Errorf("stdin was read: %q left", rest)
			}
		})
	}
}

// TestServeShortBody: a body that ends before CONTENT_LENGTH means the
// client is gone; nothing is run and nothing written.
func TestServeShortBody(t *testing.T) {
	for _, n := range []int{10, memBody + 10} {
		t.Run(strconv.Itoa(n), func(t *testing.T) {
			env := request("env", "REQUEST_METHOD", "POST", "CONTENT_LENGTH", strconv.Itoa(n))
			out, res, err := run(t, Config{}, env, strings.NewReader("abc"))
			if !errors.Is(err, io.ErrUnexpectedEOF) || out != "" || res.Status != 0 {
				t.Errorf("Serve = %d, %v, %q; want io.ErrUnexpectedEOF and no output", res.Status, err, out)
			}
		})
	}
}

func TestServeCrash(t *testing.T) {
	out, res, err := run(t, Config{}, request("crash"), nil)
	want := "Status: 500 Internal Server Error\r\nContent-Type: text/plain\r\nContent-Length: 59\r\n\r\n" + handler.DefaultErrorBody
	if err != nil || res.Status != 500 || out != want {
		t.Errorf("Serve = %d, %v, %q; want nil error and %q", res.Status, err, out, want)
	}
	if res.Exit.Code != 3 {
		t.Errorf("exit status %d, want 3", res.Exit.Code)
	}
}

// TestServeTimeout: a program past the timeout gets the pipeline's 504 and
// is gone afterwards.
func TestServeTimeout(t *testing.T) {
	pidfile := filepath.Join(t.TempDir(), "pid")
	cfg := Config{Handler: handler.Config{Timeout: 300 * time.Millisecond}}
	out, res, err := run(t, cfg, request("sleep", "PIDFILE", pidfile), nil)
	if err != nil || res.Status != 504 || !strings.HasPrefix(out, "Status: 504 Gateway Timeout\r\n") {
		t.Fatalf("Serve = %d, %v, %q; want 504", res.Status, err, out)
	}
	b, err := os.ReadFile(pidfile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(string(b))
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("the program (pid %d) is still there: kill 0 = %v", pid, err)
	}
}

func TestServeLocalRedirect(t *testing.T) {
	out, res, err := run(t, Config{}, request("env", "PATH_INFO", "/redirect"), nil)
	if err != nil || res.Status != 200 {
		t.Fatalf("Serve = %d, %v\n%s", res.Status, err, out)
	}
	for _, want := range []string{"\nPATH_INFO=/target\n", "\nQUERY_STRING=from=redirect\n", "\nREQUEST_METHOD=GET\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("the redirected program did not see %q:\n%s", want, out)
		}
	}
}

// writeEnvScript writes an executable shell script that prints its
// environment as a CGI response.
func writeEnvScript(t *testing.T, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	script := "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\nenv | sort\n"
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
}

func TestServeTranslated(t *testing.T) {
	docs := t.TempDir()
	writeEnvScript(t, filepath.Join(docs, "app.gw"))
	action := request("", "REDIRECT_STATUS", "200", "DOCUMENT_ROOT", docs, "SCRIPT_NAME", "/gw-bin/gatewayd",
		"PATH_INFO", "/app.gw/x", "PATH_TRANSLATED", docs+"/app.gw/x", "GATEWAYD_TEST_CGI", gone)
	t.Run("action", func(t *testing.T) {
		out, res, err := run(t, Config{Translated: true}, action, nil)
		if err != nil || res.Status != 200 {
			t.Fatalf("Serve = %d, %v\n%s", res.Status, err, out)
		}
		for _, want := range []string{"\nSCRIPT_NAME=/app.gw\n", "\nPATH_INFO=/x\n", "\nPATH_TRANSLATED=" + docs + "/x\n",
			"\nSCRIPT_FILENAME=" + docs + "/app.gw\n", "\nREDIRECT_STATUS=200\n"} {
			if !strings.Contains(out, want) {
				t.Errorf("the script did not see %q:\n%s", want, out)
			}
		}
	})
	t.Run("direct request", func(t *testing.T) {
		env := action.Clone()
		delete(env, "REDIRECT_STATUS")
		out, res, err := run(t, Config{Translated: true}, env, nil)
		want := "Status: 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 14\r\n\r\n403 Forbidden\n"
		if err != nil || res.Status != 403 || out != want {
			t.Errorf("Serve = %d, %v, %q; want %q", res.Status, err, out, want)
		}
		if he, ok := errors.AsType[*handler.Error](res.Err); !ok || he.Status != http.StatusForbidden {
			t.Errorf("Result.Err = %v, want a 403 *handler.Error", res.Err)
		}
	})
	t.Run("missing script", func(t *testing.T) {
		env := action.Clone()
		env["PATH_TRANSLATED"] = docs + "/nothing.gw/x"
		out, res, err := run(t, Config{Translated: true}, env, nil)
		if err != nil || res.Status != 404 || !strings.HasPrefix(out, "Status: 404 Not Found\r\n") {
			t.Errorf("Serve = %d, %v, %q; want 404", res.Status, err, out)
		}
	})
}

// TestServeIIS: an IIS-shaped request (the variables IIS sends), PATH_INFO
// repeating SCRIPT_NAME, HTTPS=off, run by script map and as PROGRAM.
func TestServeIIS(t *testing.T) {
	site := t.TempDir()
	writeEnvScript(t, filepath.Join(site, "cgi-bin", "app.cgi"))
	env := environ.Environ{
		"SERVER_SOFTWARE": "Microsoft-IIS/10.0", "GATEWAY_INTERFACE": "CGI/1.1", "INSTANCE_ID": "1",
		"APPL_MD_PATH": "/LM/W3SVC/1/ROOT", "APPL_PHYSICAL_PATH": site + "/", "HTTPS": "off", "SERVER_PORT_SECURE": "0",
		"REQUEST_METHOD": "GET", "CONTENT_LENGTH": "0", "QUERY_STRING": "", "SERVER_PROTOCOL": "HTTP/1.1",
		"SERVER_NAME": "localhost", "SERVER_PORT": "80", "URL": "/cgi-bin/app.cgi/caf\xc3\xa9/x",
		"SCRIPT_NAME": "/cgi-bin/app.cgi", "PATH_INFO": "/cgi-bin/app.cgi/caf\xc3\xa9/x",
		"PATH_TRANSLATED": site + "/cgi-bin/app.cgi/caf\xc3\xa9/x",
	}
	want := []string{"\nSCRIPT_NAME=/cgi-bin/app.cgi\n", "\nPATH_INFO=/caf\xc3\xa9/x\n", "\nPATH_TRANSLATED=" + site + "/caf\xc3\xa9/x\n",
		"\nSCRIPT_FILENAME=" + site + "/cgi-bin/app.cgi\n", "\nHTTPS=off\n"}
	for _, tt := range []struct {
		name string
		cfg  Config
	}{
		{"script map", Config{Translated: true, IIS: true}},
		{"PROGRAM", Config{IIS: true, Handler: handler.Config{Program: filepath.Join(site, "cgi-bin", "app.cgi")}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, res, err := run(t, tt.cfg, env, nil)
			if err != nil || res.Status != 200 {
				t.Fatalf("Serve = %d, %v\n%s", res.Status, err, out)
			}
			for _, w := range want {
				if !strings.Contains(out, w) {
					t.Errorf("the program did not see %q:\n%s", w, out)
				}
			}
		})
	}
	t.Run("without --iis", func(t *testing.T) {
		out, res, err := run(t, Config{Translated: true}, env, nil)
		if err != nil || res.Status != 403 {
			t.Errorf("Serve = %d, %v, %q; want 403", res.Status, err, out)
		}
	})
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, syscall.EPIPE }

func TestServeStdoutFails(t *testing.T) {
	r := subprocess.New(subprocess.Config{})
	defer r.Close()
	exe, _ := os.Executable()
	cfg := Config{Handler: handler.Config{App: r, Program: exe}, Stdin: strings.NewReader(""), Stdout: failWriter{}}
	_, err := Serve(t.Context(), cfg, request("env"))
	if !errors.Is(err, ErrNoResponse) || !errors.Is(err, syscall.EPIPE) {
		t.Errorf("Serve to a closed stdout = %v, want ErrNoResponse and EPIPE", err)
	}
}

func TestServeNoApp(t *testing.T) {
	if _, err := Serve(t.Context(), Config{}, request("env")); err == nil {
		t.Error("Serve without an App succeeded")
	}
}
