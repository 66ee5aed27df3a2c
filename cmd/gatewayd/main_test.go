//go:build unix

package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binary is the gatewayd built for these tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gatewayd-test-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "gatewayd")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build gatewayd: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// gatewayProc is a gatewayd process started by a test.
type gatewayProc struct {
	cmd  *exec.Cmd
	url  string // the first listener's URL
	mu   sync.Mutex
	logs bytes.Buffer

	exited  chan struct{} // closed when the process has been waited for
	exitErr error         // set before exited is closed
}

var urlRE = regexp.MustCompile(`url"?[=:]"?(http://[^ "]+)`)

// start runs cmd (a gatewayd process in its own process group) and waits
// for it to log the URL it serves on.
func start(t *testing.T, cmd *exec.Cmd) *gatewayProc {
	t.Helper()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &gatewayProc{cmd: cmd, exited: make(chan struct{})}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			d.mu.Lock()
			d.logs.WriteString(sc.Text() + "\n")
			d.mu.Unlock()
			if m := urlRE.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
		d.exitErr = cmd.Wait()
		close(d.exited)
	}()
	t.Cleanup(func() { d.stop(t) })
	select {
	case d.url = <-found:
	case <-d.exited:
		t.Fatalf("gatewayd exited before serving (%v):\n%s", d.exitErr, d.log())
	case <-time.After(60 * time.Second):
		t.Fatalf("gatewayd did not start serving:\n%s", d.log())
	}
	return d
}

func (d *gatewayProc) log() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.logs.String()
}

// signal sends sig to the daemon's process group.
func (d *gatewayProc) signal(sig syscall.Signal) { syscall.Kill(-d.cmd.Process.Pid, sig) }

// stop ends the daemon with SIGTERM and returns its exit error.
func (d *gatewayProc) stop(t *testing.T) error {
	select {
	case <-d.exited:
		return d.exitErr
	default:
	}
	d.signal(syscall.SIGTERM)
	return d.wait(t)
}

// wait waits for the daemon to exit and returns its exit error.
func (d *gatewayProc) wait(t *testing.T) error {
	select {
	case <-d.exited:
	case <-time.After(30 * time.Second):
		d.signal(syscall.SIGKILL)
		t.Errorf("gatewayd did not exit:\n%s", d.log())
		<-d.exited
	}
	return d.exitErr
}

func serveRoot(t *testing.T, root string, flags ...string) *gatewayProc {
	args := append([]string{"serve", "--http", "127.0.0.1:0", "--root", root}, flags...)
	return start(t, exec.Command(binary, args...))
}

// writeScript writes an executable shell script.
func writeScript(t *testing.T, dir, name, body string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
}

// loadLoop starts clients goroutines that each GET url up to n times,
// until stop closes or record, called under a lock with each result,
// returns false. Wait on the WaitGroup it returns.
func loadLoop(clients, n int, url string, stop <-chan struct{}, record func(status int, body []byte, err error) bool) *sync.WaitGroup {
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			client := &http.Client{Timeout: 20 * time.Second}
			for range n {
				select {
				case <-stop:
					return
				default:
				}
				status := 0
				resp, err := client.Get(url)
				var body []byte
				if err == nil {
					status = resp.StatusCode
					body, err = io.ReadAll(resp.Body)
					resp.Body.Close()
				}
				mu.Lock()
				goOn := record(status, body, err)
				mu.Unlock()
				if !goOn {
					return
				}
			}
		})
	}
	return &wg
}

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
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

func waitPid(t *testing.T, path string) int {
	t.Helper()
	for range 200 {
		if b, err := os.ReadFile(path); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				return pid
			}
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("no pid in %s", path)
	return 0
}

// TestDefaultRun runs the README's run command literally: `go run
// ./cmd/gatewayd` serves the demo app on 127.0.0.1:8000.
func TestDefaultRun(t *testing.T) {
	cmd := exec.Command("go", "run", "./cmd/gatewayd")
	cmd.Dir = "../.."
	d := start(t, cmd)
	if d.url != "http://127.0.0.1:8000" {
		t.Errorf("serving on %s, want http://127.0.0.1:8000", d.url)
	}
	resp, body := get(t, "http://127.0.0.1:8000/")
	if resp.StatusCode != 200 || !strings.HasPrefix(body, "Hello world!\n\n") ||
		!strings.Contains(body, "\nSERVER_PORT = '8000'\n") {
		t.Errorf("GET / = %d %q, want the demo page", resp.StatusCode, body)
	}
	if got := resp.Header.Get("Server"); !strings.HasPrefix(got, "gatewayd/") {
		t.Errorf("Server = %q, want gatewayd/VERSION", got)
	}
	// Ctrl-C reaches the whole process group. gatewayd stops cleanly; go run
	// itself exits 1 when interrupted, which is go's business.
	d.signal(syscall.SIGINT)
	d.wait(t)
	if !strings.HasSuffix(d.log(), "gatewayd: stopped\n") {
		t.Errorf("gatewayd did not stop cleanly on Ctrl-C:\n%s", d.log())
	}
}

// TestREADMECgiBin runs the README's cgi-bin example as it is written.
func TestREADMECgiBin(t *testing.T) {
	script, console := readmeBlocks(t, "## Serving a cgi-bin directory")
	setup, serveLine, ok := strings.Cut(script, "go run ./cmd/gatewayd ")
	if !ok {
		t.Fatalf("README's cgi-bin block does not run go run ./cmd/gatewayd")
	}
	dir := t.TempDir()
	sh := exec.Command("sh", "-e", "-c", setup)
	sh.Dir = dir
	if out, err := sh.CombinedOutput(); err != nil {
		t.Fatalf("README set-up: %v\n%s", err, out)
	}
	cmd := exec.Command(binary, strings.Fields(serveLine)...)
	cmd.Dir = dir
	d := start(t, cmd)

	readmeCurls(t, console, d.url)
}

// readmeBlocks returns the first sh block of the README's section headed
// heading and the console block after it.
func readmeBlocks(t *testing.T, heading string) (sh, console string) {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), heading+"\n")
	section, _, _ = strings.Cut(section, "\n## ")
	blocks := regexp.MustCompile("(?s)```(sh|console)\n(.*?)```").FindAllStringSubmatch(section, 2)
	if !ok || len(blocks) != 2 || blocks[0][1] != "sh" || blocks[1][1] != "console" {
		t.Fatalf("README has no section %q with an sh and a console block", heading)
	}
	return blocks[0][2], blocks[1][2]
}

// readmeCurls runs each "$ curl -d 'DATA' URL" of a README console block
// against the gatewayd serving url, and checks it prints the line below.
func readmeCurls(t *testing.T, console, url string) {
	t.Helper()
	curls := regexp.MustCompile(`\$ curl -d '([^']*)' (\S+)\n(.*)\n`).FindAllStringSubmatch(console, -1)
	if len(curls) == 0 {
		t.Fatalf("README's console block has no curl -d line: %q", console)
	}
	for _, m := range curls {
		if !strings.HasPrefix(m[2], url+"/") {
			t.Fatalf("README curls %s but gatewayd serves %s", m[2], url)
		}
		resp, err := http.Post(m[2], "application/x-www-form-urlencoded", strings.NewReader(m[1]))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != m[3]+"\n" {
			t.Errorf("curl %s printed %q, README says %q", m[2], body, m[3])
		}
	}
}

// TestServe drives `gatewayd serve --http --root` over a real socket.
func TestServe(t *testing.T) {
	root := t.TempDir()
	pids := t.TempDir()
	writeScript(t, root, "sum.sh", `printf 'Content-Type: text/plain\r\n\r\n'
echo "$CONTENT_LENGTH $(head -c "$CONTENT_LENGTH" | sha256sum | cut -d' ' -f1)"
`)
	writeScript(t, root, "big.sh", `printf 'Content-Type: application/octet-stream\r\n\r\n'
head -c 50000000 /dev/zero
`)
	writeScript(t, root, "sleep.sh", `echo $$ > "`+pids+`/sleep"
exec sleep 60
`)
	writeScript(t, root, "crash.sh", `echo "boom: cannot open database" >&2
exit 3
`)
	writeScript(t, root, "stream.sh", `echo $$ > "`+pids+`/stream"
printf 'Content-Type: text/plain\r\n\r\n'
exec yes gatewayd
`)
	d := serveRoot(t, root, "--timeout", "3s", "--kill-grace", "500ms")

	t.Run("POST", func(t *testing.T) {
		body := bytes.Repeat([]byte("gatewayd"), 1<<17) // 1 MiB
		sum := sha256.Sum256(body)
		resp, err := http.Post(d.url+"/sum.sh", "application/octet-stream", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := fmt.Sprintf("%d %s\n", len(body), hex.EncodeToString(sum[:]))
		if resp.StatusCode != 200 || string(got) != want {
			t.Errorf("POST = %d %q, want 200 %q", resp.StatusCode, got, want)
		}
	})
	t.Run("chunked POST", func(t *testing.T) {
		body := strings.Repeat("x", 100000)
		req, _ := http.NewRequest("POST", d.url+"/sum.sh", io.NopCloser(strings.NewReader(body)))
		req.ContentLength = -1 // sent chunked
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		sum := sha256.Sum256([]byte(body))
		if want := fmt.Sprintf("100000 %x\n", sum); string(got) != want {
			t.Errorf("chunked POST = %q, want %q", got, want)
		}
	})
	t.Run("large response", func(t *testing.T) {
		resp, err := http.Get(d.url + "/big.sh")
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || n != 50000000 {
			t.Errorf("read %d bytes (%v), want 50000000", n, err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		resp, _ := get(t, d.url+"/sleep.sh")
		if resp.StatusCode != 504 {
			t.Errorf("status = %d, want 504", resp.StatusCode)
		}
		if pid := waitPid(t, filepath.Join(pids, "sleep")); alive(pid) {
			t.Errorf("timed-out program %d still running", pid)
		}
	})
	t.Run("crash", func(t *testing.T) {
		resp, body := get(t, d.url+"/crash.sh")
		if resp.StatusCode != 500 || body != "A server error occurred.  Please contact the administrator." {
			t.Errorf("GET = %d %q, want wsgiref's 500 page", resp.StatusCode, body)
		}
		failed := regexp.MustCompile(`request failed:.*uri=/crash.sh .*exit_status=3.*stderr_tail="boom: cannot open database"`)
		deadline := time.Now().Add(5 * time.Second)
		for !failed.MatchString(d.log()) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if !failed.MatchString(d.log()) {
			t.Errorf("log has no failure line with the exit status and stderr tail:\n%s", d.log())
		}
	})
	t.Run("client abort", func(t *testing.T) {
		resp, err := http.Get(d.url + "/stream.sh")
		if err != nil {
			t.Fatal(err)
		}
		io.ReadFull(resp.Body, make([]byte, 64<<10))
		pid := waitPid(t, filepath.Join(pids, "stream"))
		resp.Body.Close() // the client goes away mid-response
		deadline := time.Now().Add(time.Second)
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if alive(pid) {
			t.Errorf("program %d still running a second after its client left", pid)
		}
	})
}

// TestShutdownDrains: SIGTERM lets a request in flight finish.
func TestShutdownDrains(t *testing.T) {
	root := t.TempDir()
	writeScript(t, root, "slow.sh", `sleep 1
printf 'Content-Type: text/plain\r\n\r\nfinished\n'
`)
	d := serveRoot(t, root)
	type result struct {
		body string
		err  error
	}
	res := make(chan result)
	go func() {
		resp, err := http.Get(d.url + "/slow.sh")
		if err != nil {
			res <- result{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		res <- result{string(b), err}
	}()
	time.Sleep(300 * time.Millisecond) // the request is running
	d.signal(syscall.SIGTERM)
	if r := <-res; r.err != nil || r.body != "finished\n" {
		t.Errorf("request in flight during shutdown = %q, %v; want finished", r.body, r.err)
	}
	if err := d.wait(t); err != nil {
		t.Errorf("gatewayd exited with %v, want 0:\n%s", err, d.log())
	}
	if _, err := http.Get(d.url + "/slow.sh"); err == nil {
		t.Errorf("gatewayd still accepting after shutdown")
	}
}

func TestJSONLog(t *testing.T) {
	d := start(t, exec.Command(binary, "serve", "--http", "127.0.0.1:0", "--log-format", "json"))
	get(t, d.url+"/x")
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(d.log(), `"uri":"/x"`) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	for _, line := range strings.Split(strings.TrimSpace(d.log()), "\n") {
		var v map[string]any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Errorf("log line is not JSON: %q", line)
		}
	}
	if !strings.Contains(d.log(), `"uri":"/x"`) {
		t.Errorf("no access line for /x:\n%s", d.log())
	}
}

func TestCommandLine(t *testing.T) {
	tests := []struct {
		args []string
		code int
		out  string // in stdout
		err  string // in stderr
	}{
		{[]string{"version"}, 0, "gatewayd ", ""},
		{[]string{"--help"}, 0, "serve", ""},
		{[]string{"serve", "--help"}, 0, "--root DIR", ""},
		{[]string{"demo", "--help"}, 0, "CGI program", ""},
		{[]string{"version", "--help"}, 0, "version", ""},
		{[]string{"serve"}, 2, "", "no listener"},
		{[]string{"serve", "--http", "127.0.0.1:0", "--root", "/tmp", "prog"}, 2, "", "not both"},
		{[]string{"serve", "--bogus"}, 2, "", "unknown flag"},
		{[]string{"nonsense"}, 2, "", "unknown command"},
		{[]string{"serve", "--http", "nonsense"}, 2, "", "HOST:PORT"},
		{[]string{"serve", "--http", "127.0.0.1:0", "--log-level", "loud"}, 2, "", "log level"},
		{[]string{"serve", "--http", "127.0.0.1:0", "--root", "/nonexistent/dir"}, 1, "", "root"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			cmd := exec.Command(binary, tt.args...)
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			}
			if code != tt.code || !strings.Contains(stdout.String(), tt.out) || !strings.Contains(stderr.String(), tt.err) {
				t.Errorf("gatewayd %v: exit %d, stdout %q, stderr %q; want exit %d, stdout with %q, stderr with %q",
					tt.args, code, stdout.String(), stderr.String(), tt.code, tt.out, tt.err)
			}
		})
	}
}

// TestDemoCGI: `gatewayd demo` is the demo app as a CGI program.
func TestDemoCGI(t *testing.T) {
	cmd := exec.Command(binary, "demo")
	cmd.Env = []string{"REQUEST_METHOD=GET", "PATH_INFO=/caf\xc3\xa9", "HTTP_X=it's"}
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	head, body, _ := strings.Cut(string(out), "\r\n\r\n")
	wantHead := "Status: 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: " + strconv.Itoa(len(body))
	wantBody := "Hello world!\n\nHTTP_X = \"it's\"\nPATH_INFO = '/café'\nREQUEST_METHOD = 'GET'\n"
	if head != wantHead || body != wantBody {
		t.Errorf("gatewayd demo = %q, want %q", out, wantHead+"\r\n\r\n"+wantBody)
	}
}

// TestUnixListener: unix:PATH replaces a stale socket file, refuses a live
// one and any other file, and creates the socket with mode 0660.
func TestUnixListener(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "gatewayd.sock")
	stale, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close() // leaves the file behind, as a crashed daemon does

	d := start(t, exec.Command(binary, "serve", "--http", "unix:"+sock, "--http", "127.0.0.1:0"))
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o660 {
		t.Errorf("socket mode = %v, want 0660", fi.Mode().Perm())
	}
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		},
	}}
	resp, err := client.Get("http://gatewayd/")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), "REMOTE_ADDR = 'unix:'") {
		t.Errorf("GET over the unix socket = %q, want the demo page for a unix client", b)
	}

	out, err := exec.Command(binary, "serve", "--http", "unix:"+sock).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "another process is listening") {
		t.Errorf("second gatewayd on a live socket: %v, %q; want a refusal", err, out)
	}
	file := filepath.Join(dir, "file")
	os.WriteFile(file, []byte("keep me"), 0o644)
	out, err = exec.Command(binary, "serve", "--http", "unix:"+file).CombinedOutput()
	if b, _ := os.ReadFile(file); err == nil || !strings.Contains(string(out), "not a socket") || string(b) != "keep me" {
		t.Errorf("gatewayd on a regular file: %v, %q; want a refusal and the file kept", err, out)
	}
	d.stop(t)
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("socket file left after shutdown: %v", err)
	}
}

// TestAccessLog: each request's access line names the front-end it came in
// on and the mount that served it, with the program and its pid, in JSON
// as in text.
func TestAccessLog(t *testing.T) {
	dir := t.TempDir()
	writeScript(t, dir, "app.sh", `printf 'Content-Type: text/plain\r\n\r\nhi\n'`)
	conf := filepath.Join(dir, "gatewayd.hcl")
	os.WriteFile(conf, []byte(`listen "http" {
  address = "127.0.0.1:0"
}
listen "scgi" {
  address = "unix:`+filepath.Join(dir, "scgi.sock")+`"
}
mount "/app" {
  program = ["`+filepath.Join(dir, "app.sh")+`"]
}
`), 0o644)
	d := start(t, exec.Command(binary, "serve", "--config", conf, "--log-format", "json"))
	get(t, d.url+"/app/x")
	scgiGet(t, "unix", filepath.Join(dir, "scgi.sock"), "/app/y")
	var lines []map[string]any
	deadline := time.Now().Add(5 * time.Second)
	for len(lines) < 2 && time.Now().Before(deadline) {
		lines = lines[:0]
		for _, l := range strings.Split(strings.TrimSpace(d.log()), "\n") {
			var v map[string]any
			if json.Unmarshal([]byte(l), &v) == nil && v["@message"] == "request" {
				lines = append(lines, v)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(lines) != 2 {
		t.Fatalf("want 2 access lines:\n%s", d.log())
	}
	for i, want := range []map[string]any{
		{"frontend": "http", "mount": "/app", "uri": "/app/x", "method": "GET", "status": float64(200)},
		{"frontend": "scgi", "mount": "/app", "uri": "/app/y", "method": "GET", "status": float64(200)},
	} {
		for k, v := range want {
			if lines[i][k] != v {
				t.Errorf("access line %d: %s = %v, want %v", i+1, k, lines[i][k], v)
			}
		}
		for _, k := range []string{"program", "pid", "request_id", "duration", "bytes"} {
			if _, ok := lines[i][k]; !ok {
				t.Errorf("access line %d has no %s: %v", i+1, k, lines[i])
			}
		}
	}
}
