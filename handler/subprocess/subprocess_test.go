package subprocess_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

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

const mib = 1 << 20

func cgiMain(mode string) {
	out := os.Stdout
	switch mode {
	case "env":
		wd, _ := os.Getwd()
		env := os.Environ()
		slices.Sort(env)
		fmt.Fprintf(out, "Content-Type: text/plain\r\n\r\nwd=%s\nargs=%q\n%s\n", wd, os.Args[1:], strings.Join(env, "\n"))
	case "write-before-read":
		// 1 MiB of output before reading a byte of the body: a gateway that
		// does not pump both at once deadlocks here.
		fmt.Fprint(out, "Content-Type: application/octet-stream\r\n\r\n")
		out.Write(bytes.Repeat([]byte("o"), mib))
		sum := sha256.New()
		n, _ := io.Copy(sum, os.Stdin)
		fmt.Fprintf(out, "\n%d %x", n, sum.Sum(nil))
	case "no-read":
		fmt.Fprint(out, "Content-Type: text/plain\r\n\r\ndone")
	case "sleep":
		writePid(os.Getenv("PIDFILE"))
		child := exec.Command(os.Args[0])
		child.Env = append(os.Environ(), "GATEWAYD_TEST_CGI=grandchild")
		child.Start()
		time.Sleep(time.Minute)
	case "grandchild":
		writePid(os.Getenv("PIDFILE") + ".grandchild")
		time.Sleep(time.Minute)
	case "ignore-term":
		signal.Ignore(syscall.SIGTERM)
		writePid(os.Getenv("PIDFILE"))
		time.Sleep(time.Minute)
	case "crash":
		fmt.Fprint(os.Stderr, "config error: missing SI_UID\n")
		os.Exit(3)
	case "stderr-flood":
		line := strings.Repeat("e", 1023) + "\n"
		for range 1024 {
			os.Stderr.WriteString(line)
		}
		fmt.Fprint(out, "Content-Type: text/plain\r\n\r\nok")
	case "nph":
		fmt.Fprint(out, "HTTP/1.0 200 OK\r\nContent-type: text/html\nPragma: no-cache\n\nok\n")
	default:
		if f := moreModes[mode]; f != nil {
			f()
		}
	}
}

// moreModes are the modes of cgiMain that only some systems have, set by
// the tests of those systems.
var moreModes = map[string]func(){}

func writePid(path string) {
	if path != "" {
		os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())), 0o644)
	}
}

// setup returns a Handler that runs the test binary in mode, with runner
// bounds rc, and the buffer its log goes to.
func setup(t *testing.T, mode string, cfg handler.Config, rc subprocess.Config) (*handler.Handler, *syncBuffer) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Program == "" {
		cfg.Program = exe
	}
	r := subprocess.New(rc)
	t.Cleanup(r.Close)
	cfg.App = r
	if cfg.Env == nil {
		cfg.Env = environ.Environ{}
	}
	cfg.Env["GATEWAYD_TEST_CGI"] = mode
	logs := &syncBuffer{}
	cfg.Logger = hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Debug})
	h, err := handler.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h, logs
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func get(kv ...string) *handler.Request {
	env := environ.Environ{"REQUEST_METHOD": "GET", "SERVER_PROTOCOL": "HTTP/1.1", "PATH_INFO": "/x"}
	for i := 0; i+1 < len(kv); i += 2 {
		env[kv[i]] = kv[i+1]
	}
	return &handler.Request{Env: env}
}

func serve(h *handler.Handler, req *handler.Request) (string, handler.Result) {
	var out bytes.Buffer
	res := h.Serve(context.Background(), req, handler.NewGatewayWriter(&out))
	return out.String(), res
}

// alive reports whether pid is a live process (a zombie counts as gone).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(rest, "Z")
}

func readPid(t *testing.T, path string) int {
	t.Helper()
	for range 100 {
		if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
			pid, _ := strconv.Atoi(string(b))
			return pid
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no pid in %s", path)
	return 0
}

func TestEnvironment(t *testing.T) {
	t.Setenv("GATEWAYD_LEAK", "secret")
	exe, _ := os.Executable()
	h, _ := setup(t, "env", handler.Config{Args: []string{"a b", "c"}}, subprocess.Config{})
	out, res := serve(h, get("HTTP_PROXY", "http://evil/", "QUERY_STRING", "q=1"))
	if res.Status != 200 {
		t.Fatalf("status = %d, want 200 (%v)", res.Status, res.Err)
	}
	for _, want := range []string{
		"\nwd=" + filepath.Dir(exe) + "\n", `args=["a b" "c"]`, "\nPATH=", "\nQUERY_STRING=q=1\n",
		"\nGATEWAY_INTERFACE=CGI/1.1\n", "\nSCRIPT_FILENAME=" + exe + "\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("program output lacks %q:\n%s", want, out)
		}
	}
	for _, bad := range []string{"GATEWAYD_LEAK", "HTTP_PROXY", "HOME="} {
		if strings.Contains(out, bad) {
			t.Errorf("program environment holds %s:\n%s", bad, out)
		}
	}
	if res.Exit.Pid == 0 || res.Exit.Code != 0 {
		t.Errorf("Exit = %+v, want a pid and status 0", res.Exit)
	}
}

// onlyReader hides every method but Read, so the body is pumped through a
// pipe as a network body would be.
type onlyReader struct{ io.Reader }

func TestWriteBeforeRead(t *testing.T) {
	h, _ := setup(t, "write-before-read", handler.Config{Timeout: 20 * time.Second}, subprocess.Config{})
	body := bytes.Repeat([]byte("0123456789abcdef"), mib/16)
	for _, tt := range []struct {
		name string
		body io.Reader
		cl   string
	}{
		{"streamed", onlyReader{bytes.NewReader(body)}, strconv.Itoa(len(body))},
		{"spooled", onlyReader{bytes.NewReader(body)}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req := get("REQUEST_METHOD", "POST")
			if tt.cl != "" {
				req.Env["CONTENT_LENGTH"] = tt.cl
			}
			req.Body = tt.body
			out, res := serve(h, req)
			sum := sha256.Sum256(body)
			want := fmt.Sprintf("\n%d %s", len(body), hex.EncodeToString(sum[:]))
			if res.Status != 200 || !strings.HasSuffix(out, want) || len(out) < mib {
				t.Errorf("status %d, %d bytes ending %q; want 200, over 1 MiB, ending %q (%v)",
					res.Status, len(out), out[max(0, len(out)-80):], want, res.Err)
			}
		})
	}
}

func TestUnreadBody(t *testing.T) {
	h, _ := setup(t, "no-read", handler.Config{Timeout: 10 * time.Second}, subprocess.Config{})
	req := get("REQUEST_METHOD", "POST", "CONTENT_LENGTH", strconv.Itoa(8*mib))
	req.Body = onlyReader{bytes.NewReader(make([]byte, 8*mib))}
	out, res := serve(h, req)
	if res.Status != 200 || !strings.HasSuffix(out, "done") {
		t.Errorf("Serve = %d %q, want 200 ending in done (%v)", res.Status, out, res.Err)
	}
}

func TestTimeoutKillsGroup(t *testing.T) {
	pidfile := filepath.Join(t.TempDir(), "pid")
	h, logs := setup(t, "sleep", handler.Config{
		HeaderTimeout: 500 * time.Millisecond, Env: environ.Environ{"PIDFILE": pidfile},
	}, subprocess.Config{KillGrace: time.Second})
	start := time.Now()
	out, res := serve(h, get())
	if res.Status != 504 || !strings.HasPrefix(out, "Status: 504 Gateway Timeout\r\n") {
		t.Errorf("Serve = %d %q, want 504", res.Status, out)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Serve took %v", d)
	}
	child, grandchild := readPid(t, pidfile), readPid(t, pidfile+".grandchild")
	deadline := time.Now().Add(2 * time.Second)
	for (alive(child) || alive(grandchild)) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if alive(child) || alive(grandchild) {
		t.Errorf("processes left behind: child %d alive %v, grandchild %d alive %v",
			child, alive(child), grandchild, alive(grandchild))
	}
	if !strings.Contains(logs.String(), "signal=terminated") {
		t.Errorf("log = %q, want the child's end by SIGTERM", logs)
	}
}

func TestIgnoredTerm(t *testing.T) {
	pidfile := filepath.Join(t.TempDir(), "pid")
	h, logs := setup(t, "ignore-term", handler.Config{
		HeaderTimeout: 300 * time.Millisecond, Env: environ.Environ{"PIDFILE": pidfile},
	}, subprocess.Config{KillGrace: 300 * time.Millisecond})
	_, res := serve(h, get())
	if res.Status != 504 {
		t.Errorf("status = %d, want 504", res.Status)
	}
	if pid := readPid(t, pidfile); alive(pid) {
		t.Errorf("child %d ignoring SIGTERM still alive after Serve", pid)
	}
	if !strings.Contains(logs.String(), "signal=killed") {
		t.Errorf("log = %q, want the child's end by SIGKILL", logs)
	}
}

func TestCrash(t *testing.T) {
	h, logs := setup(t, "crash", handler.Config{}, subprocess.Config{})
	out, res := serve(h, get())
	const page = "Status: 500 Internal Server Error\r\nContent-Type: text/plain\r\nContent-Length: 59\r\n\r\n" +
		"A server error occurred.  Please contact the administrator."
	if out != page {
		t.Errorf("Serve = %q, want the error page", out)
	}
	if res.Exit.Code != 3 {
		t.Errorf("Exit.Code = %d, want 3", res.Exit.Code)
	}
	// The stderr line, then the one failure line with program, reason, status
	// and stderr tail.
	var failure string
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if strings.Contains(l, "request failed") {
			if failure != "" {
				t.Errorf("more than one failure line:\n%s", logs)
			}
			failure = l
		}
	}
	for _, want := range []string{"program=", "exit_status=3", "reason=", `stderr_tail="config error: missing SI_UID"`} {
		if !strings.Contains(failure, want) {
			t.Errorf("failure line %q lacks %q", failure, want)
		}
	}
}

func TestExecFailure(t *testing.T) {
	dir := t.TempDir()
	notExec := filepath.Join(dir, "script")
	os.WriteFile(notExec, []byte("#!/nonexistent/interpreter\n"), 0o755)
	h, logs := setup(t, "", handler.Config{Program: notExec}, subprocess.Config{})
	_, res := serve(h, get())
	if res.Status != 500 || !strings.Contains(logs.String(), "start") {
		t.Errorf("status %d, log %q; want 500 and the start failure logged", res.Status, logs)
	}
}

func TestStderrBounded(t *testing.T) {
	h, logs := setup(t, "stderr-flood", handler.Config{}, subprocess.Config{MaxStderr: 8 << 10})
	out, res := serve(h, get())
	if res.Status != 200 || !strings.HasSuffix(out, "ok") {
		t.Errorf("Serve = %d %q, want 200 ok (%v)", res.Status, out, res.Err)
	}
	if n := len(logs.String()); n > 64<<10 {
		t.Errorf("log holds %d bytes for 1 MiB of stderr with an 8 KiB bound", n)
	}
	if !strings.Contains(logs.String(), "stderr truncated") {
		t.Errorf("log does not say stderr was truncated")
	}
}

func TestOverload(t *testing.T) {
	pidfile := filepath.Join(t.TempDir(), "pid")
	h, _ := setup(t, "sleep", handler.Config{Env: environ.Environ{"PIDFILE": pidfile}},
		subprocess.Config{MaxChildren: 1, MaxQueue: 1, QueueTimeout: 200 * time.Millisecond, KillGrace: 100 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	held := make(chan handler.Result)
	go func() { held <- h.Serve(ctx, get(), handler.NewGatewayWriter(io.Discard)) }()
	readPid(t, pidfile) // the one slot is taken

	out, res := serve(h, get())
	if res.Status != 503 || !errors.Is(res.Err, handler.ErrOverloaded) ||
		!strings.HasPrefix(out, "Status: 503 Service Unavailable\r\n") {
		t.Errorf("Serve = %d %q (%v), want 503 and ErrOverloaded", res.Status, out, res.Err)
	}
	cancel()
	if res := <-held; !strings.Contains(fmt.Sprint(res.Err), "client went away") {
		t.Errorf("held request ended with %v, want the client gone", res.Err)
	}
}

// TestNPHConverted: a gateway cannot pass an NPH response raw, so its status
// line becomes the Status field (FastCGI §6.1).
func TestNPHConverted(t *testing.T) {
	exe, _ := os.Executable()
	nph := filepath.Join(t.TempDir(), "nph-test")
	if err := os.Symlink(exe, nph); err != nil {
		t.Fatal(err)
	}
	h, _ := setup(t, "nph", handler.Config{Program: nph}, subprocess.Config{})
	out, _ := serve(h, get())
	want := "Status: 200 OK\r\nContent-type: text/html\r\nPragma: no-cache\r\n\r\nok\n"
	if out != want {
		t.Errorf("Serve = %q, want %q", out, want)
	}
}

// TestStderrSink: with a sink, stderr goes there (FastCGI's FCGI_STDERR)
// instead of the log, and its tail still names the failure.
func TestStderrSink(t *testing.T) {
	h, logs := setup(t, "crash", handler.Config{}, subprocess.Config{})
	var sink syncBuffer
	req := get()
	req.Stderr = &sink
	serve(h, req)
	if got := sink.String(); got != "config error: missing SI_UID\n" {
		t.Errorf("sink got %q, want the program's stderr", got)
	}
	if strings.Contains(logs.String(), "stderr: config error") {
		t.Errorf("stderr logged although a sink was given:\n%s", logs)
	}
	if !strings.Contains(logs.String(), `stderr_tail="config error: missing SI_UID"`) {
		t.Errorf("failure line lacks the stderr tail:\n%s", logs)
	}
}
