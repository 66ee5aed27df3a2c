//go:build unix

package main

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.hcl")
	bad := filepath.Join(dir, "bad.hcl")
	missing := filepath.Join(dir, "missing.hcl")
	writeConfigFile(t, good, "listen \"http\" { address = \"127.0.0.1:0\" }\nmount \"/\" { root = "+strconv.Quote(dir)+" }\n")
	writeConfigFile(t, bad, "listen \"http\" { address = \"127.0.0.1\" }\nlimits {\n  timeout = \"1\"\n}\nmount \"/x/\" { root = \"rel\" }\n")

	tests := []struct {
		name           string
		args           []string
		code           int
		stdout, stderr string
	}{
		{"ok", []string{"config", "check", good}, exitOK, good + ": configuration ok\n", ""},
		{"problems", []string{"config", "check", bad}, exitError, "", "" +
			bad + `:1:27: address "127.0.0.1": want HOST:PORT, unix:PATH, fd:N, systemd or systemd:NAME` + "\n" +
			bad + `:3:13: timeout "1": want a duration such as "30s", "1m30s" or "500ms"` + "\n" +
			bad + `:5:7: mount "/x/": prefix must not end with '/'` + "\n" +
			bad + `:5:22: root "rel": must be an absolute path` + "\n"},
		{"unreadable", []string{"config", "check", missing}, exitError, "",
			"gatewayd: config: open " + missing + ": no such file or directory\n"},
		{"a directory", []string{"config", "check", dir}, exitError, "",
			"gatewayd: config: read " + dir + ": is a directory\n"},
		{"no file", []string{"config", "check"}, exitUsage, "",
			"gatewayd: config check: no FILE\nRun 'gatewayd config check --help' for usage.\n"},
		{"two files", []string{"config", "check", good, good}, exitUsage, "",
			"gatewayd: config check: one FILE, not 2\nRun 'gatewayd config check --help' for usage.\n"},
		{"unknown flag", []string{"config", "check", "--strict", good}, exitUsage, "",
			"gatewayd: unknown flag: --strict\nRun 'gatewayd config check --help' for usage.\n"},
		{"no subcommand", []string{"config"}, exitUsage, "",
			"gatewayd: config: no subcommand: give check FILE\nRun 'gatewayd config --help' for usage.\n"},
		{"unknown subcommand", []string{"config", "lint", good}, exitUsage, "",
			"gatewayd: unknown command \"lint\" for \"gatewayd config\"\nRun 'gatewayd config --help' for usage.\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(tt.args, &stdout, &stderr)
			if code != tt.code || stdout.String() != tt.stdout || stderr.String() != tt.stderr {
				t.Errorf("run(%q) = %d, stdout %q, stderr %q, want %d, %q, %q",
					tt.args, code, stdout.String(), stderr.String(), tt.code, tt.stdout, tt.stderr)
			}
		})
	}
}

// TestConfigsCheck checks every HCL file under configs/. The paths they
// name that this machine lacks are replaced: the CGI root by a temporary
// directory, programs by the test binary.
func TestConfigsCheck(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	substitutes := map[string]string{
		"/usr/lib/cgi-bin":                   t.TempDir(),
		"/usr/lib/git-core/git-http-backend": exe,
		"/usr/local/bin/gatewayd":            exe,
	}
	var files []string
	err = filepath.WalkDir("../../configs", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Ext(path) == ".hcl" {
			files = append(files, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no .hcl file under configs/")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			text := string(src)
			for path, sub := range substitutes {
				if _, err := os.Stat(path); err != nil {
					t.Logf("%s is missing here: checking with %s", path, sub)
					text = strings.ReplaceAll(text, strconv.Quote(path), strconv.Quote(sub))
				}
			}
			path := filepath.Join(t.TempDir(), filepath.Base(file))
			writeConfigFile(t, path, text)
			var stdout, stderr bytes.Buffer
			code := run([]string{"config", "check", path}, &stdout, &stderr)
			if want := path + ": configuration ok\n"; code != exitOK || stdout.String() != want || stderr.Len() != 0 {
				t.Errorf("run(config check %s) = %d, stdout %q, stderr %q, want 0, %q", file, code, stdout.String(), stderr.String(), want)
			}
		})
	}
}

func writeConfigFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}
