//go:build unix

package main

import (
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

// writeConfig writes a configuration of an HTTP listener and two mounts:
// /app runs the program version names, /cgi-bin is a script root.
func writeConfig(t *testing.T, path, dir, version string) {
	t.Helper()
	conf := fmt.Sprintf(`listen "http" {
  address = "127.0.0.1:0"
}
mount "/app" {
  program = [%q]
}
mount "/cgi-bin" {
  root = %q
}
`, filepath.Join(dir, version+".sh"), filepath.Join(dir, "cgi-bin"))
	if err := os.WriteFile(path+".tmp", []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil { // as an editor or a deployment tool saves it
		t.Fatal(err)
	}
}

// reload sends SIGHUP to gatewayd alone, as systemctl reload does (kill
// -HUP $MAINPID): sent to its process group, it would also reach a program
// in the instant between its fork and its own process group.
func (d *gatewayProc) reload() { syscall.Kill(d.cmd.Process.Pid, syscall.SIGHUP) }

// TestServeConfig: serve --config serves the file's mounts, and SIGHUP
// applies an edited file while a bounded loop of requests runs: none fails
// nor finds its connection refused; a broken file changes nothing and its
// problems are logged with their positions.
func TestServeConfig(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "cgi-bin"), 0o755)
	writeScript(t, filepath.Join(dir, "cgi-bin"), "x.cgi", `printf 'Content-Type: text/plain\r\n\r\nx %s %s\n' "$SCRIPT_NAME" "$PATH_INFO"`)
	for _, v := range []string{"v1", "v2"} {
		writeScript(t, dir, v+".sh", `printf 'Content-Type: text/plain\r\n\r\n`+v+` %s %s\n' "$SCRIPT_NAME" "$PATH_INFO"`)
	}
	conf := filepath.Join(dir, "gatewayd.hcl")
	writeConfig(t, conf, dir, "v1")
	d := start(t, exec.Command(binary, "serve", "--config", conf))

	for path, want := range map[string]string{
		"/app/more":        "v1 /app /more\n",
		"/cgi-bin/x.cgi/y": "x /cgi-bin/x.cgi /y\n",
	} {
		if resp, body := get(t, d.url+path); resp.StatusCode != 200 || body != want {
			t.Errorf("GET %s = %d %q, want 200 %q", path, resp.StatusCode, body, want)
		}
	}
	if resp, _ := get(t, d.url+"/elsewhere"); resp.StatusCode != 404 {
		t.Errorf("GET /elsewhere = %d, want 404: no mount takes it", resp.StatusCode)
	}

	// Requests run without a pause while the file changes and is reloaded
	// 20 times; each gets v1 or v2, never an error.
	var failures []string
	counts := map[string]int{}
	stop := make(chan struct{})
	wg := loadLoop(4, 5000, d.url+"/app", stop, func(status int, body []byte, err error) bool {
		switch {
		case err != nil:
			failures = append(failures, err.Error())
		case status != 200:
			failures = append(failures, fmt.Sprintf("%d %q", status, body))
		default:
			counts[strings.Fields(string(body))[0]]++
		}
		return true
	})
	for i := range 20 {
		version := []string{"v2", "v1"}[i%2]
		writeConfig(t, conf, dir, version)
		d.reload()
		want := "configuration reloaded"
		for deadline := time.Now().Add(10 * time.Second); strings.Count(d.log(), want) < i+1; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("reload %d not logged:\n%s", i+1, d.log())
			}
		}
	}
	close(stop)
	wg.Wait()
	if len(failures) > 0 {
		t.Errorf("%d requests failed during 20 reloads, the first: %s\n%s", len(failures), failures[0], d.log())
	}
	t.Logf("requests during the reloads: %v", counts)
	if counts["v1"] == 0 || counts["v2"] == 0 {
		t.Errorf("answers %v, want both versions served", counts)
	}

	// The last file written was v1. A broken file changes nothing.
	if err := os.WriteFile(conf, []byte("mount \"/app\" {\n  program = [\"/nonexistent\"]\n}\nlisten \"ftp\" {\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d.reload()
	d.waitLog(t, "configuration not reloaded: "+conf+":")
	if resp, body := get(t, d.url+"/app"); resp.StatusCode != 200 || !strings.HasPrefix(body, "v1 ") {
		t.Errorf("after a broken file GET /app = %d %q, want v1 still", resp.StatusCode, body)
	}
	if err := d.stop(t); err != nil {
		t.Errorf("gatewayd exited with %v:\n%s", err, d.log())
	}
}

// TestServeConfigErrors: a file that cannot be used stops the start with
// each problem on a line of its own, FILE:LINE:COL, and status 1.
func TestServeConfigErrors(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "bad.hcl")
	os.WriteFile(conf, []byte("listen \"http\" {\n  address = \"127.0.0.1:0\"\n}\nmount \"git\" {\n  program = [\"/bin/true\"]\n}\nmount \"/x\" {\n  root = \"/nonexistent\"\n}\n"), 0o644)
	for _, tt := range []struct {
		name string
		args []string
		want []string
	}{
		{"problems", []string{"serve", "--config", conf}, []string{conf + ":4:7: ", conf + ":8:10: "}},
		{"unreadable", []string{"serve", "--config", filepath.Join(dir, "missing.hcl")}, []string{"missing.hcl"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, err := exec.Command(binary, tt.args...).CombinedOutput()
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
				t.Errorf("gatewayd %v: %v, want exit status 1:\n%s", tt.args, err, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

// TestREADMEConfiguration runs the README's Configuration section: its
// set-up (the cgi-bin section's, then the file), config check, serve and
// each curl of its console block.
func TestREADMEConfiguration(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	section := func(name string) string {
		_, s, ok := strings.Cut(string(readme), name)
		if !ok {
			t.Fatalf("README has no %q section", name)
		}
		s, _, _ = strings.Cut(s, "\n## ")
		return s
	}
	blocks := func(s, lang string) []string {
		var out []string
		for _, m := range regexp.MustCompile("(?s)```"+lang+"\n(.*?)```").FindAllStringSubmatch(s, -1) {
			out = append(out, m[1])
		}
		return out
	}
	cgiSetup, _, _ := strings.Cut(blocks(section("## Serving a cgi-bin directory"), "sh")[0], "go run ./cmd/gatewayd ")
	conf := section("## Configuration")
	script, console := blocks(conf, "sh"), blocks(conf, "console")
	if len(script) != 1 || len(console) != 1 {
		t.Fatalf("README's Configuration section wants one sh and one console block")
	}
	setup, commands, _ := strings.Cut(script[0], "go run ./cmd/gatewayd ")
	commands = "go run ./cmd/gatewayd " + commands

	dir := t.TempDir()
	sh := exec.Command("sh", "-e", "-c", cgiSetup+setup)
	sh.Dir = dir
	if out, err := sh.CombinedOutput(); err != nil {
		t.Fatalf("README set-up: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(commands), "\n")
	if len(lines) != 2 {
		t.Fatalf("README's commands = %q, want config check, then serve", lines)
	}
	check := exec.Command(binary, strings.Fields(strings.TrimPrefix(lines[0], "go run ./cmd/gatewayd "))...)
	check.Dir = dir
	if out, err := check.CombinedOutput(); err != nil || string(out) != "gatewayd.hcl: configuration ok\n" {
		t.Fatalf("%s = %q, %v; want gatewayd.hcl: configuration ok", lines[0], out, err)
	}
	serve := exec.Command(binary, strings.Fields(strings.TrimPrefix(lines[1], "go run ./cmd/gatewayd "))...)
	serve.Dir = dir
	d := start(t, serve)

	readmeCurls(t, console[0], d.url)
}
