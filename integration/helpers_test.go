//go:build unix

package integration

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Helpers the integration tests share.

// httpGet GETs url and returns the response and its whole body.
func httpGet(t *testing.T, url string) (*http.Response, string) {
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

// do sends req and returns the body, failing the test on a status not 200.
func do(t *testing.T, req *http.Request) string {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Errorf("%s %s = %d %q", req.Method, req.URL, resp.StatusCode, b)
	}
	return string(b)
}

// eventually polls cond for a few seconds: log lines are written after the
// response.
func eventually(cond func() bool) bool {
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// processAlive reports whether pid is a live process (a zombie counts as
// gone).
func processAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(rest, "Z")
}

func waitPidFile(t *testing.T, path string) int {
	t.Helper()
	var pid int
	if !eventually(func() bool {
		b, err := os.ReadFile(path)
		if err != nil {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil
	}) {
		t.Fatalf("no pid in %s", path)
	}
	return pid
}

// pattern is an endless reader of a repeating pattern.
type pattern struct{ i int }

func (p *pattern) Read(b []byte) (int, error) {
	for j := range b {
		b[j] = byte(p.i % 251)
		p.i++
	}
	return len(b), nil
}

// configSnippet writes configs/<rel> into dir with the replacements made
// and returns the copy's path.
func configSnippet(tb testing.TB, dir, rel string, replace ...string) string {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(configsDir(tb), rel))
	if err != nil {
		tb.Fatal(err)
	}
	s := string(b)
	r := strings.NewReplacer(replace...)
	if out := r.Replace(s); out != s {
		s = out
	} else if len(replace) > 0 {
		tb.Fatalf("configs/%s holds none of %q", rel, replace)
	}
	path := filepath.Join(dir, filepath.Base(rel))
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		tb.Fatal(err)
	}
	return path
}

// goneWithinASecond fails the test if pid is still running a second after
// its client left.
func goneWithinASecond(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for processAlive(pid) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if processAlive(pid) {
		t.Errorf("program %d still running a second after its client left", pid)
	}
}

// runGit runs git in dir with a fixed identity and no system or user
// configuration, and returns its output.
func runGit(t *testing.T, git, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command(git, args...)
	cmd.Dir = dir
	cmd.Env = []string{"HOME=" + dir, "PATH=" + os.Getenv("PATH"), "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.invalid",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.invalid"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return string(out)
}
