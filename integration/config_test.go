//go:build unix

package integration

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestConfigFile runs the shipped configs/gatewayd.hcl, with only what must
// differ on a test machine substituted, behind nginx over FastCGI
// (configs/nginx/fastcgi.conf): config check accepts it, every mount
// answers through nginx and on the file's HTTP listener, SIGHUP applies an
// edited file and keeps the old one when the new one has a mistake, and
// SIGTERM stops gatewayd with status 0.
func TestConfigFile(t *testing.T) {
	git := requirePeer(t, "git")
	requirePeer(t, "/usr/lib/git-core/git-http-backend") // the file's /git program
	dir := t.TempDir()

	cgiBin := filepath.Join(dir, "cgi-bin")
	os.Mkdir(cgiBin, 0o755)
	script := "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\n" +
		`printf 'SCRIPT_NAME=%s\nPATH_INFO=%s\nLANG=%s\nSTAGE=%s\n' "$SCRIPT_NAME" "$PATH_INFO" "$LANG" "$STAGE"` + "\n"
	if err := os.WriteFile(filepath.Join(cgiBin, "env.cgi"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}

	gitIn := func(dir string, args ...string) string { return runGit(t, git, dir, args...) }
	srv := filepath.Join(dir, "srv", "git")
	work := filepath.Join(dir, "work")
	os.MkdirAll(srv, 0o755)
	os.MkdirAll(work, 0o755)
	gitIn(srv, "init", "-q", "--bare", "-b", "main", "project.git")
	gitIn(work, "init", "-q", "-b", "main")
	os.WriteFile(filepath.Join(work, "README"), []byte("served by gatewayd.hcl\n"), 0o644)
	gitIn(work, "add", ".")
	gitIn(work, "commit", "-q", "-m", "first")
	gitIn(work, "push", "-q", filepath.Join(srv, "project.git"), "main")
	commit := strings.TrimSpace(gitIn(work, "rev-parse", "HEAD"))

	// The shipped file, with its machine-specific values replaced. Each
	// must still be in it: a test of a file that no longer says what the
	// test thinks it says would prove nothing.
	sock := filepath.Join(dir, "fastcgi.sock")
	replace := []string{
		`"unix:/run/gatewayd/fastcgi.sock"`, `"unix:` + sock + `"`,
		`"127.0.0.1:8000"`, `"127.0.0.1:0"`,
		`"127.0.0.1:9180"`, `"127.0.0.1:0"`,
		`"/usr/lib/cgi-bin"`, `"` + cgiBin + `"`,
		`"/srv/git"`, `"` + srv + `"`,
		`"/usr/local/bin/gatewayd"`, `"` + gatewayd + `"`,
	}
	shipped, err := os.ReadFile(filepath.Join(configsDir(t), "gatewayd.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(replace); i += 2 {
		if !strings.Contains(string(shipped), replace[i]) {
			t.Fatalf("configs/gatewayd.hcl no longer holds %s, which this test replaces with %s", replace[i], replace[i+1])
		}
	}
	conf := configSnippet(t, dir, "gatewayd.hcl", replace...)
	original, _ := os.ReadFile(conf)

	t.Run("config check", func(t *testing.T) {
		out, err := exec.Command(gatewayd, "config", "check", conf).CombinedOutput()
		if err != nil || string(out) != conf+": configuration ok\n" {
			t.Errorf("gatewayd config check %s = %v %q, want status 0 and %q", conf, err, out, conf+": configuration ok\n")
		}
	})

	gw, _ := startGatewayd(t, "serve", "--config", conf)
	httpURLRe := regexp.MustCompile(`url="?(http://[^\s"]+)`)
	var direct string // the file's HTTP listener
	if !eventually(func() bool {
		m := httpURLRe.FindStringSubmatch(gw.output())
		if m != nil {
			direct = m[1]
		}
		return m != nil
	}) {
		t.Fatalf("gatewayd serves no HTTP listener:\n%s", gw.output())
	}
	nginxConf := configSnippet(t, dir, "nginx/fastcgi.conf", "unix:/run/gatewayd/fastcgi.sock", "unix:"+sock)
	port, _ := startNginx(t, "", "include "+nginxConf+";")
	nginx := fmt.Sprintf("http://127.0.0.1:%d", port)

	// get checks that GET base+path answers status with a body that has
	// every one of want.
	get := func(t *testing.T, base, path string, status int, want ...string) {
		t.Helper()
		resp, body := httpGet(t, base+path)
		if resp.StatusCode != status {
			t.Errorf("GET %s = %d %q, want %d\ngatewayd's log:\n%s", base+path, resp.StatusCode, body, status, gw.output())
			return
		}
		for _, w := range want {
			if !strings.Contains(body, w) {
				t.Errorf("GET %s = %d, body lacks %q:\n%s", base+path, resp.StatusCode, w, body)
			}
		}
	}
	clone := func(t *testing.T, base, name string) {
		t.Helper()
		into := filepath.Join(dir, name)
		gitIn(dir, "clone", "-q", base+"/git/project.git", into)
		if got := strings.TrimSpace(gitIn(into, "rev-parse", "HEAD")); got != commit {
			t.Errorf("git clone %s/git/project.git: HEAD = %s, want %s", base, got, commit)
		}
		if b, _ := os.ReadFile(filepath.Join(into, "README")); string(b) != "served by gatewayd.hcl\n" {
			t.Errorf("cloned README = %q", b)
		}
	}
	cgiBefore := "SCRIPT_NAME=/cgi-bin/env.cgi\nPATH_INFO=/more/path\nLANG=C.UTF-8\nSTAGE=\n"
	cgiAfter := strings.Replace(cgiBefore, "STAGE=\n", "STAGE=reloaded\n", 1)

	for _, front := range []struct{ name, base string }{{"nginx", nginx}, {"http listener", direct}} {
		t.Run(front.name, func(t *testing.T) {
			t.Run("cgi-bin", func(t *testing.T) {
				get(t, front.base, "/cgi-bin/env.cgi/more/path?q=1", 200, cgiBefore)
			})
			t.Run("git clone", func(t *testing.T) { clone(t, front.base, "clone-"+strings.ReplaceAll(front.name, " ", "-")) })
			t.Run("demo", func(t *testing.T) {
				get(t, front.base, "/demo", 200, "Hello world!\n", "\nSCRIPT_NAME = '/demo'\n", "\nLANG = 'C.UTF-8'\n")
			})
			t.Run("no mount", func(t *testing.T) {
				for _, path := range []string{"/", "/elsewhere", "/gitx", "/hello"} {
					get(t, front.base, path, 404)
				}
			})
		})
	}

	// The file's admin listener counted what nginx and the HTTP listener
	// asked for, by front-end, mount and status.
	t.Run("metrics", func(t *testing.T) {
		m := regexp.MustCompile(`serving metrics, status and health: url=(http://\S+)`).FindStringSubmatch(gw.output())
		if m == nil {
			t.Fatalf("gatewayd serves no admin listener:\n%s", gw.output())
		}
		resp, body := httpGet(t, m[1])
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s = %d", m[1], resp.StatusCode)
		}
		for _, want := range []string{
			`gatewayd_requests_total{code="200",frontend="fastcgi",mount="/cgi-bin"} 1`,
			`gatewayd_requests_total{code="200",frontend="http",mount="/cgi-bin"} 1`,
			`gatewayd_requests_total{code="200",frontend="fastcgi",mount="/demo"} 1`,
			`gatewayd_requests_total{code="200",frontend="http",mount="/demo"} 1`,
			`gatewayd_requests_total{code="404",frontend="http",mount=""} 4`,
			`gatewayd_program_stops_total{mount="/git",reason="crash"} 0`,
			`gatewayd_programs_max 48`, // three mounts of 16
		} {
			if !strings.Contains(body, "\n"+want+"\n") {
				t.Errorf("/metrics lacks the line %q", want)
			}
		}
	})

	// hangup sends SIGHUP to gatewayd alone, as systemctl reload does, and
	// waits for the n-th occurrence of want in its log.
	hangup := func(t *testing.T, want string, n int) {
		t.Helper()
		if err := syscall.Kill(gw.cmd.Process.Pid, syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for strings.Count(gw.output(), want) < n {
			if time.Now().After(deadline) {
				t.Fatalf("no %q in gatewayd's log after SIGHUP:\n%s", want, gw.output())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	// The edit: an env for the /cgi-bin mount and a new mount.
	rootLine := `  root = "` + cgiBin + `"` + "\n"
	if !strings.Contains(string(original), rootLine) {
		t.Fatalf("the /cgi-bin mount has no line %q to add env after:\n%s", rootLine, original)
	}
	edited := strings.Replace(string(original), rootLine, rootLine+"  env = { STAGE = \"reloaded\" }\n", 1) +
		"\nmount \"/hello\" {\n  program = [\"" + gatewayd + "\", \"demo\"]\n}\n"
	t.Run("reload", func(t *testing.T) {
		if err := os.WriteFile(conf, []byte(edited), 0o644); err != nil {
			t.Fatal(err)
		}
		hangup(t, "configuration reloaded", 1)
		for _, base := range []string{nginx, direct} { // the same listeners, still open
			get(t, base, "/cgi-bin/env.cgi/more/path?q=1", 200, cgiAfter)
			get(t, base, "/hello/x", 200, "Hello world!\n", "\nSCRIPT_NAME = '/hello'\n", "\nPATH_INFO = '/x'\n")
			get(t, base, "/demo", 200, "Hello world!\n")
		}
		clone(t, nginx, "clone-after-reload")
	})

	t.Run("reload with a mistake", func(t *testing.T) {
		const good, bad = `timeout = "30s"`, `timeout = "30"` // a duration needs its unit
		if strings.Count(edited, good) != 1 {
			t.Fatalf("the edited file holds %q %d times, want once", good, strings.Count(edited, good))
		}
		broken := strings.Replace(edited, good, bad, 1)
		at := strings.Index(broken, bad) + len("timeout = ")
		line := strings.Count(broken[:at], "\n") + 1
		col := at - strings.LastIndex(broken[:at], "\n")
		pos := fmt.Sprintf("%s:%d:%d:", conf, line, col)
		if err := os.WriteFile(conf, []byte(broken), 0o644); err != nil {
			t.Fatal(err)
		}
		hangup(t, "configuration not reloaded: "+pos, 1)
		for _, base := range []string{nginx, direct} {
			get(t, base, "/cgi-bin/env.cgi/more/path?q=1", 200, cgiAfter)
			get(t, base, "/hello/x", 200, "Hello world!\n")
		}
		out, err := exec.Command(gatewayd, "config", "check", conf).CombinedOutput()
		if ee, ok := errors.AsType[*exec.ExitError](err); !ok || ee.ExitCode() != 1 || !strings.HasPrefix(string(out), pos) {
			t.Errorf("gatewayd config check of the broken file = %v %q, want status 1 and %s …", err, out, pos)
		}
	})

	if err := syscall.Kill(gw.cmd.Process.Pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-gw.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("gatewayd still running 30s after SIGTERM:\n%s", gw.output())
	}
	if code := gw.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("gatewayd exited with status %d after SIGTERM, want 0:\n%s", code, gw.output())
	}
}
