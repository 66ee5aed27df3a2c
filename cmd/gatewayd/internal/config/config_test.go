package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"gatewayd/environ"
	"gatewayd/handler"
	"gatewayd/handler/subprocess"
	"gatewayd/handler/worker"
)

// fixture is what the test files name on disk: in a file, @DIR@ is a
// directory, @EXE@ an executable file and @FILE@ a file that is not
// executable.
type fixture struct{ dir, exe, file string }

func newFixture(tb testing.TB) fixture {
	tb.Helper()
	dir := tb.TempDir()
	fx := fixture{dir: dir, exe: filepath.Join(dir, "prog"), file: filepath.Join(dir, "data")}
	if err := os.WriteFile(fx.exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(fx.file, []byte("data\n"), 0o644); err != nil {
		tb.Fatal(err)
	}
	return fx
}

func (fx fixture) expand(s string) string {
	return strings.NewReplacer("@DIR@", fx.dir, "@EXE@", fx.exe, "@FILE@", fx.file).Replace(s)
}

// brokenFiles are files with mistakes and the problems Parse gives for
// them, as "FILE:LINE:COL: message" with FILE "f.hcl".
var brokenFiles = []struct {
	name string
	src  string
	want []string
}{
	// HCL's own diagnostics.
	{"syntax", `listen "http" {`, []string{
		`f.hcl:1:15: Unclosed configuration block; There is no closing brace for this block before the end of the file. This may be caused by incorrect brace nesting elsewhere in this file.`,
	}},
	{"two attributes on a line", `log { level = "info"  format = "text" }`, []string{
		`f.hcl:1:23: Invalid single-argument block definition; A single-line block definition must end with a closing brace immediately after its single argument definition.`,
	}},
	{"unknown attribute", "limits {\n  tiemout = \"1s\"\n}", []string{
		`f.hcl:2:3: Unsupported argument; An argument named "tiemout" is not expected here. Did you mean "timeout"?`,
	}},
	{"unknown top-level attribute", `timeout = "1s"`, []string{
		`f.hcl:1:1: Unsupported argument; An argument named "timeout" is not expected here.`,
	}},
	{"unknown block", `mont "/x" {}`, []string{
		`f.hcl:1:1: Unsupported block type; Blocks of type "mont" are not expected here. Did you mean "mount"?`,
	}},
	{"missing address", "listen \"http\" {}\n  admin {\n}", []string{
		`f.hcl:1:1: listen "http": no address`,
		`f.hcl:2:3: admin: no address`,
	}},
	{"missing command", "mount \"/php\" {\n  worker {}\n}", []string{
		`f.hcl:2:3: worker: no command`,
	}},
	{"missing label", `mount { root = "@DIR@" }`, []string{
		`f.hcl:1:7: Missing prefix for mount; All mount blocks must have 1 labels (prefix).`,
	}},
	{"two admin blocks", "admin { address = \":1\" }\nadmin { address = \":2\" }", []string{
		`f.hcl:2:1: Duplicate admin block; Only one admin block is allowed. Another was defined at f.hcl:1,1-6.`,
	}},
	{"variable", "limits {\n  timeout = t\n}", []string{
		`f.hcl:2:13: Variables not allowed; Variables may not be used here.`,
	}},

	// Values.
	{"bad duration", "limits {\n  timeout = \"30\"\n}", []string{
		`f.hcl:2:13: timeout "30": want a duration such as "30s", "1m30s" or "500ms"`,
	}},
	{"duration as a number", "limits {\n  kill_grace = 2\n}", []string{
		`f.hcl:2:16: kill_grace "2": want a duration such as "30s", "1m30s" or "500ms"`,
	}},
	{"bad shutdown timeout", "shutdown_timeout = \"soon\"", []string{
		`f.hcl:1:20: shutdown_timeout "soon": want a duration such as "30s", "1m30s" or "500ms"`,
	}},
	{"zero duration", "limits {\n  queue_timeout = \"0s\"\n}", []string{
		`f.hcl:2:19: queue_timeout "0s": must be positive`,
	}},
	{"negative duration", "limits {\n  idle_timeout = \"-1s\"\n}", []string{
		`f.hcl:2:18: idle_timeout "-1s": must be positive`,
	}},
	{"bad size", "limits {\n  max_body = \"1GB\"\n}", []string{
		`f.hcl:2:14: max_body "1GB": want a whole number of bytes, or of KiB, MiB or GiB, such as "1GiB"`,
	}},
	{"size too large", "limits {\n  max_body = \"8589934592GiB\"\n}", []string{
		`f.hcl:2:14: max_body "8589934592GiB": want a whole number of bytes, or of KiB, MiB or GiB, such as "1GiB"`,
	}},
	{"zero size", "limits {\n  max_body = 0\n}", []string{
		`f.hcl:2:14: max_body "0": must be positive`,
	}},
	{"zero count", "limits {\n  max_children = 0\n}", []string{
		`f.hcl:2:18: max_children 0: must be positive`,
	}},
	{"negative count", "limits {\n  max_queue = -5\n}", []string{
		`f.hcl:2:15: max_queue -5: must be positive`,
	}},
	{"fractional count", "limits {\n  max_children = 2.5\n}", []string{
		`f.hcl:2:18: max_children 2.5: want a whole number`,
	}},
	{"count too large", "limits {\n  max_queue = 16777217\n}", []string{
		`f.hcl:2:15: max_queue 16777217: must be at most 16777216`,
	}},
	{"count as a word", "limits {\n  max_queue = \"many\"\n}", []string{
		`f.hcl:2:15: max_queue: want a whole number`,
	}},
	{"mount limits", "mount \"/\" {\n  root = \"@DIR@\"\n  limits {\n    header_timeout = \"1x\"\n  }\n}", []string{
		`f.hcl:4:22: header_timeout "1x": want a duration such as "30s", "1m30s" or "500ms"`,
	}},

	// Listeners.
	{"unknown protocol", `listen "ftp" { address = ":21" }`, []string{
		`f.hcl:1:8: listen "ftp": unknown protocol (want http, fastcgi or scgi)`,
	}},
	{"address without port", `listen "http" { address = "127.0.0.1" }`, []string{
		`f.hcl:1:27: address "127.0.0.1": want HOST:PORT, unix:PATH, fd:N, systemd or systemd:NAME`,
	}},
	{"port out of range", `listen "http" { address = "127.0.0.1:65536" }`, []string{
		`f.hcl:1:27: address "127.0.0.1:65536": port must be a number from 0 to 65535`,
	}},
	{"port by name", `listen "http" { address = "127.0.0.1:http" }`, []string{
		`f.hcl:1:27: address "127.0.0.1:http": port must be a number from 0 to 65535`,
	}},
	{"relative unix path", `listen "fastcgi" { address = "unix:fcgi.sock" }`, []string{
		`f.hcl:1:30: address "unix:fcgi.sock": want an absolute path after unix:`,
	}},
	{"bad descriptor", `listen "fastcgi" { address = "fd:x" }`, []string{
		`f.hcl:1:30: address "fd:x": want a descriptor number after fd:`,
	}},
	{"empty systemd name", `listen "scgi" { address = "systemd:" }`, []string{
		`f.hcl:1:27: address "systemd:": want a socket name (FileDescriptorName) after systemd:`,
	}},
	{"address not a string", `listen "http" { address = [":80"] }`, []string{
		`f.hcl:1:27: address: want a string`,
	}},
	{"duplicate listen address", "listen \"http\" { address = \":8000\" }\nlisten \"scgi\" { address = \":8000\" }", []string{
		`f.hcl:2:27: address ":8000": duplicate listen address (first at line 1)`,
	}},
	{"bad admin address", `admin { address = "localhost" }`, []string{
		`f.hcl:1:19: address "localhost": want HOST:PORT, unix:PATH, fd:N, systemd or systemd:NAME`,
	}},

	// Mount prefixes.
	{"prefix without slash", `mount "git" { root = "@DIR@" }`, []string{
		`f.hcl:1:7: mount "git": prefix must start with '/'`,
	}},
	{"empty prefix", `mount "" { root = "@DIR@" }`, []string{
		`f.hcl:1:7: mount "": prefix must start with '/'`,
	}},
	{"prefix with trailing slash", `mount "/git/" { root = "@DIR@" }`, []string{
		`f.hcl:1:7: mount "/git/": prefix must not end with '/'`,
	}},
	{"prefix with empty segment", `mount "/a//b" { root = "@DIR@" }`, []string{
		`f.hcl:1:7: mount "/a//b": prefix must not have an empty, "." or ".." segment`,
	}},
	{"prefix with dot segment", `mount "/a/./b" { root = "@DIR@" }`, []string{
		`f.hcl:1:7: mount "/a/./b": prefix must not have an empty, "." or ".." segment`,
	}},
	{"prefix with dot-dot segment", `mount "/.." { root = "@DIR@" }`, []string{
		`f.hcl:1:7: mount "/..": prefix must not have an empty, "." or ".." segment`,
	}},
	{"duplicate prefix", "mount \"/a\" { root = \"@DIR@\" }\n\nmount \"/a\" { program = [\"@EXE@\"] }", []string{
		`f.hcl:3:7: mount "/a": duplicate prefix (first at line 1)`,
	}},

	// What a mount is.
	{"empty mount", `mount "/x" {}`, []string{
		`f.hcl:1:1: mount "/x": give one of root, program, worker or fastcgi`,
	}},
	{"root and program", "mount \"/x\" {\n  program = [\"@EXE@\"]\n  root = \"@DIR@\"\n}", []string{
		`f.hcl:3:3: mount "/x": give one of root, program, worker or fastcgi, not program and root`,
	}},
	{"three kinds", "mount \"/x\" {\n  root = \"@DIR@\"\n  program = [\"@EXE@\"]\n  fastcgi = \":9000\"\n}", []string{
		`f.hcl:3:3: mount "/x": give one of root, program, worker or fastcgi, not root, program and fastcgi`,
	}},
	{"worker and program", "mount \"/php\" {\n  worker {\n    command = [\"@EXE@\"]\n  }\n  program = [\"@EXE@\"]\n}", []string{
		`f.hcl:5:3: mount "/php": give one of root, program, worker or fastcgi, not worker and program`,
	}},
	{"bad worker", "mount \"/php\" {\n  worker {\n    command = [\"php-cgi\"]\n    processes = 0\n    max_requests = -1\n  }\n}", []string{
		`f.hcl:3:15: command "php-cgi": must be an absolute path`,
		`f.hcl:4:17: processes 0: must be positive`,
		`f.hcl:5:20: max_requests -1: must not be negative (0 is never)`,
	}},
	{"worker command not executable", "mount \"/php\" {\n  worker {\n    command = [\"@FILE@\"]\n  }\n}", []string{
		`f.hcl:3:15: command "@FILE@": not executable`,
	}},
	{"too many processes", "mount \"/php\" {\n  worker {\n    command = [\"@EXE@\"]\n    processes = 16777217\n  }\n}", []string{
		`f.hcl:4:17: processes 16777217: must be at most 16777216`,
	}},
	{"bad max_rss", "mount \"/php\" {\n  worker {\n    command = [\"@EXE@\"]\n    max_rss = \"lots\"\n  }\n}", []string{
		`f.hcl:4:15: max_rss "lots": want a whole number of bytes, or of KiB, MiB or GiB, such as "1GiB"`,
	}},
	{"zero max_rss", "mount \"/php\" {\n  worker {\n    command = [\"@EXE@\"]\n    max_rss = 0\n  }\n}", []string{
		`f.hcl:4:15: max_rss "0": must be positive`,
	}},
	{"unknown worker attribute", "mount \"/php\" {\n  worker {\n    command = [\"@EXE@\"]\n    max_memory = \"1GiB\"\n  }\n}", []string{
		`f.hcl:4:5: Unsupported argument; An argument named "max_memory" is not expected here.`,
	}},
	{"bad fastcgi address", "mount \"/fpm\" {\n  fastcgi = \"systemd\"\n}", []string{
		`f.hcl:2:13: fastcgi "systemd": want HOST:PORT or unix:PATH`,
	}},
	{"relative fastcgi socket", "mount \"/fpm\" {\n  fastcgi = \"unix:php-fpm.sock\"\n}", []string{
		`f.hcl:2:13: fastcgi "unix:php-fpm.sock": want an absolute path after unix:`,
	}},

	// Roots and programs.
	{"root not a directory", `mount "/" { root = "@FILE@" }`, []string{
		`f.hcl:1:20: root "@FILE@": not a directory`,
	}},
	{"root missing", `mount "/" { root = "@DIR@/none" }`, []string{
		`f.hcl:1:20: root "@DIR@/none": no such directory`,
	}},
	{"relative root", `mount "/" { root = "cgi-bin" }`, []string{
		`f.hcl:1:20: root "cgi-bin": must be an absolute path`,
	}},
	{"program not executable", `mount "/" { program = ["@FILE@", "-v"] }`, []string{
		`f.hcl:1:23: program "@FILE@": not executable`,
	}},
	{"program missing", `mount "/" { program = ["@DIR@/none"] }`, []string{
		`f.hcl:1:23: program "@DIR@/none": no such file`,
	}},
	{"program a directory", `mount "/" { program = ["@DIR@"] }`, []string{
		`f.hcl:1:23: program "@DIR@": not a regular file`,
	}},
	{"relative program", `mount "/" { program = ["git-http-backend"] }`, []string{
		`f.hcl:1:23: program "git-http-backend": must be an absolute path`,
	}},
	{"empty program", `mount "/" { program = [] }`, []string{
		`f.hcl:1:23: program: want the program's path and its arguments, such as ["/usr/lib/cgi-bin/app"]`,
	}},
	{"program a string", `mount "/" { program = "@EXE@" }`, []string{
		`f.hcl:1:23: program: want a list of strings, such as ["a", "b"]`,
	}},
	{"program with NUL", `mount "/" { program = ["@EXE@", "a\u0000b"] }`, []string{
		`f.hcl:1:23: program: element 2 holds a NUL byte`,
	}},

	// Logging.
	{"bad log level", "log {\n  level = \"verbose\"\n}", []string{
		`f.hcl:2:11: level "verbose": want trace, debug, info, warn or error`,
	}},
	{"bad log format", "log {\n  format = \"xml\"\n}", []string{
		`f.hcl:2:12: format "xml": want text or json`,
	}},
	{"bad access", "log {\n  access = \"sometimes\"\n}", []string{
		`f.hcl:2:12: access: want true or false`,
	}},
	{"bad stream_unknown_length", "mount \"/\" {\n  root = \"@DIR@\"\n  stream_unknown_length = \"yes\"\n}", []string{
		`f.hcl:3:27: stream_unknown_length: want true or false`,
	}},

	// The environment.
	{"bad env name", `env = { "A=B" = "1" }`, []string{
		`f.hcl:1:7: env: "A=B" is not a variable name`,
	}},
	{"env value with NUL", `env = { A = "1\u00002" }`, []string{
		`f.hcl:1:7: env: the value of "A" holds a NUL byte`,
	}},
	{"env not a map", `env = ["A=1"]`, []string{
		`f.hcl:1:7: env: want a map of strings, such as { NAME = "value" }`,
	}},
	{"bad pass_env name", `pass_env = ["TZ", ""]`, []string{
		`f.hcl:1:12: pass_env: "" is not a variable name`,
	}},
	{"bad mount env", "mount \"/\" {\n  root = \"@DIR@\"\n  env = { \"\" = \"x\" }\n}", []string{
		`f.hcl:3:9: env: "" is not a variable name`,
	}},

	// Every mistake, in file order.
	{"three mistakes", `listen "http" {
  address = "localhost"
}
limits {
  timeout = "soon"
}
mount "/cgi-bin/" {
  root = "@DIR@"
}
`, []string{
		`f.hcl:2:13: address "localhost": want HOST:PORT, unix:PATH, fd:N, systemd or systemd:NAME`,
		`f.hcl:5:13: timeout "soon": want a duration such as "30s", "1m30s" or "500ms"`,
		`f.hcl:7:7: mount "/cgi-bin/": prefix must not end with '/'`,
	}},
}

func TestParseProblems(t *testing.T) {
	fx := newFixture(t)
	for _, tt := range brokenFiles {
		t.Run(tt.name, func(t *testing.T) {
			src := fx.expand(tt.src)
			c, err := Parse("f.hcl", []byte(src))
			problems, ok := errors.AsType[Problems](err)
			if !ok {
				t.Fatalf("Parse(%q) = %+v, %v, want Problems", src, c, err)
			}
			var got []string
			for _, p := range problems {
				got = append(got, p.Error())
			}
			want := make([]string, len(tt.want))
			for i, w := range tt.want {
				want[i] = fx.expand(w)
			}
			if !slices.Equal(got, want) {
				t.Errorf("Parse(%q) problems =\n%s\nwant\n%s", src, strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			if c != nil {
				t.Errorf("Parse(%q) = %+v with problems, want nil", src, c)
			}
		})
	}
}

func TestProblemsError(t *testing.T) {
	tests := []struct {
		in   Problems
		want string
	}{
		{Problems{{"a.hcl", 3, 7, "x"}}, "a.hcl:3:7: x"},
		{Problems{{"a.hcl", 0, 0, "x"}, {"a.hcl", 1, 2, "y"}}, "a.hcl: x\na.hcl:1:2: y"},
	}
	for _, tt := range tests {
		if got := tt.in.Error(); got != tt.want {
			t.Errorf("%#v.Error() = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParse(t *testing.T) {
	fx := newFixture(t)
	cpus := runtime.NumCPU()
	def := Limits{
		Timeout:       60 * time.Second,
		HeaderTimeout: 60 * time.Second,
		IdleTimeout:   60 * time.Second,
		KillGrace:     2 * time.Second,
		QueueTimeout:  10 * time.Second,
		MaxChildren:   4 * cpus,
		MaxQueue:      64 * cpus,
		MaxBody:       1 << 30,
	}
	// with returns def changed by f.
	with := func(f func(*Limits)) Limits {
		l := def
		f(&l)
		return l
	}
	tests := []struct {
		name string
		src  string
		want *Config
	}{
		{"empty", ``, &Config{
			Log:     Log{"info", "text", true},
			Limits:  def,
			Env:     map[string]string{},
			PassEnv: []string{"PATH"},
		}},
		{"comments only", "# nothing\n// here\n/* at all */\n", &Config{
			Log:     Log{"info", "text", true},
			Limits:  def,
			Env:     map[string]string{},
			PassEnv: []string{"PATH"},
		}},
		{"listeners and admin", `
listen "fastcgi" { address = "unix:/run/gatewayd/fastcgi.sock" }
listen "http" { address = "127.0.0.1:8000" }
listen "scgi" { address = "systemd:scgi" }
listen "http" { address = "[::1]:0" }
listen "fastcgi" { address = "fd:0" }
listen "scgi" { address = "systemd" }
listen "http" { address = ":8080" }
admin { address = "127.0.0.1:9180" }
log {
  level  = "debug"
  format = "json"
  access = false
}
`, &Config{
			Listen: []Listen{
				{"fastcgi", "unix:/run/gatewayd/fastcgi.sock"},
				{"http", "127.0.0.1:8000"},
				{"scgi", "systemd:scgi"},
				{"http", "[::1]:0"},
				{"fastcgi", "fd:0"},
				{"scgi", "systemd"},
				{"http", ":8080"},
			},
			Admin:   &Admin{"127.0.0.1:9180"},
			Log:     Log{"debug", "json", false},
			Limits:  def,
			Env:     map[string]string{},
			PassEnv: []string{"PATH"},
		}},
		{"sizes and durations", `
limits {
  timeout        = "1m30s"
  header_timeout = "500ms"
  idle_timeout   = "2h"
  kill_grace     = "1.5s"
  queue_timeout  = "250ms"
  max_children   = 3
  max_queue      = "7"
  max_body       = "16MiB"
}
`, &Config{
			Log: Log{"info", "text", true},
			Limits: Limits{
				Timeout:       90 * time.Second,
				HeaderTimeout: 500 * time.Millisecond,
				IdleTimeout:   2 * time.Hour,
				KillGrace:     1500 * time.Millisecond,
				QueueTimeout:  250 * time.Millisecond,
				MaxChildren:   3,
				MaxQueue:      7,
				MaxBody:       16 << 20,
			},
			Env:     map[string]string{},
			PassEnv: []string{"PATH"},
		}},
		{"null is left out", `
log {
  level = null
}
limits {
  timeout = null
}
env = null
`, &Config{
			Log:     Log{"info", "text", true},
			Limits:  def,
			Env:     map[string]string{},
			PassEnv: []string{"PATH"},
		}},
		{"shutdown timeout", `
shutdown_timeout = "2m"
`, &Config{
			Log:             Log{"info", "text", true},
			Limits:          DefaultLimits(),
			Env:             map[string]string{},
			PassEnv:         []string{"PATH"},
			ShutdownTimeout: 2 * time.Minute,
		}},
		{"derived defaults", `
limits {
  timeout      = "30s"
  max_children = 2
}
`, &Config{
			Log: Log{"info", "text", true},
			Limits: with(func(l *Limits) {
				l.Timeout, l.HeaderTimeout, l.IdleTimeout, l.MaxChildren, l.MaxQueue = 30e9, 30e9, 30e9, 2, 32
			}),
			Env:     map[string]string{},
			PassEnv: []string{"PATH"},
		}},
		{"mounts inherit and override", `
limits {
  timeout        = "30s"
  idle_timeout   = "20s"
  max_children   = 2
  max_body       = 1024
}
env      = { LANG = "C.UTF-8", A = "top" }
pass_env = ["TZ", "PATH", "TZ", "HOME"]

mount "/" {
  root = "@DIR@/."
}
mount "/cgi-bin" {
  root = "@DIR@"
  limits {
    timeout      = "10s"
    max_children = 5
  }
}
mount "/git" {
  program = ["@EXE@", "a", ""]
  stream_unknown_length = true
  env = {
    A = "git"
    B = "only git"
  }
  limits {
    header_timeout = "1s"
    max_queue      = 1
    max_body       = "1KiB"
  }
}
`, &Config{
			Log: Log{"info", "text", true},
			Limits: with(func(l *Limits) {
				l.Timeout, l.HeaderTimeout, l.IdleTimeout, l.MaxChildren, l.MaxQueue, l.MaxBody = 30e9, 30e9, 20e9, 2, 32, 1024
			}),
			Env:     map[string]string{"LANG": "C.UTF-8", "A": "top"},
			PassEnv: []string{"PATH", "TZ", "HOME"},
			Mounts: []Mount{
				{
					Prefix:  "/",
					Root:    fx.dir,
					Env:     map[string]string{"LANG": "C.UTF-8", "A": "top"},
					PassEnv: []string{"PATH", "TZ", "HOME"},
					Limits: with(func(l *Limits) {
						l.Timeout, l.HeaderTimeout, l.IdleTimeout, l.MaxChildren, l.MaxQueue, l.MaxBody = 30e9, 30e9, 20e9, 2, 32, 1024
					}),
				},
				{
					Prefix:  "/cgi-bin",
					Root:    fx.dir,
					Env:     map[string]string{"LANG": "C.UTF-8", "A": "top"},
					PassEnv: []string{"PATH", "TZ", "HOME"},
					// The mount's timeout is the header timeout too; the
					// top-level idle_timeout was set, so it stays.
					Limits: with(func(l *Limits) {
						l.Timeout, l.HeaderTimeout, l.IdleTimeout, l.MaxChildren, l.MaxQueue, l.MaxBody = 10e9, 10e9, 20e9, 5, 80, 1024
					}),
				},
				{
					Prefix:  "/git",
					Program: []string{fx.exe, "a", ""},
					Env:     map[string]string{"LANG": "C.UTF-8", "A": "git", "B": "only git"},
					PassEnv: []string{"PATH", "TZ", "HOME"},
					Limits: with(func(l *Limits) {
						l.Timeout, l.HeaderTimeout, l.IdleTimeout, l.MaxChildren, l.MaxQueue, l.MaxBody = 30e9, 1e9, 20e9, 2, 1, 1024
					}),
					StreamUnknownLength: true,
				},
			},
		}},
		{"workers and fastcgi", `
mount "/w" {
  worker {
    command = ["@EXE@", "-c", "/etc/php.ini"]
  }
}
mount "/php" {
  root = "@DIR@"
  worker {
    command      = ["@EXE@"]
    processes    = 4
    max_requests = 0
    max_rss      = "256MiB"
  }
  limits { max_children = 2 }
}
mount "/big" {
  worker {
    command      = ["@EXE@"]
    processes    = null
    max_requests = 500
    max_rss      = 1048576
  }
}
mount "/fpm" {
  fastcgi = "unix:/run/php/php-fpm.sock"
}
mount "/tcp" {
  fastcgi = "[::1]:9000"
}
`, &Config{
			Log:     Log{"info", "text", true},
			Limits:  def,
			Env:     map[string]string{},
			PassEnv: []string{"PATH"},
			Mounts: []Mount{
				{
					Prefix:  "/w",
					Worker:  &Worker{Command: []string{fx.exe, "-c", "/etc/php.ini"}, Processes: cpus},
					Env:     map[string]string{},
					PassEnv: []string{"PATH"},
					Limits:  def,
				},
				{
					Prefix:  "/php",
					Root:    fx.dir,
					Worker:  &Worker{Command: []string{fx.exe}, Processes: 4, MaxRSS: 256 << 20},
					Env:     map[string]string{},
					PassEnv: []string{"PATH"},
					Limits:  with(func(l *Limits) { l.MaxChildren, l.MaxQueue = 2, 32 }),
				},
				{
					Prefix:  "/big",
					Worker:  &Worker{Command: []string{fx.exe}, Processes: cpus, MaxRequests: 500, MaxRSS: 1 << 20},
					Env:     map[string]string{},
					PassEnv: []string{"PATH"},
					Limits:  def,
				},
				{
					Prefix:  "/fpm",
					FastCGI: "unix:/run/php/php-fpm.sock",
					Env:     map[string]string{},
					PassEnv: []string{"PATH"},
					Limits:  def,
				},
				{
					Prefix:  "/tcp",
					FastCGI: "[::1]:9000",
					Env:     map[string]string{},
					PassEnv: []string{"PATH"},
					Limits:  def,
				},
			},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := fx.expand(tt.src)
			got, err := Parse("f.hcl", []byte(src))
			if err != nil {
				t.Fatalf("Parse(%q) = %v", src, err)
			}
			if tt.want.ShutdownTimeout == 0 {
				tt.want.ShutdownTimeout = DefaultShutdownTimeout
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse(%q) =\n%+v\nwant\n%+v", src, got, tt.want)
			}
		})
	}
}

// TestParseDesign parses the example of the package doc.
func TestParseDesign(t *testing.T) {
	fx := newFixture(t)
	src := fx.expand(`
listen "fastcgi" { address = "unix:/run/gatewayd/fastcgi.sock" }
listen "scgi" { address = "systemd:scgi" }
admin { address = "127.0.0.1:9180" }

log {
  level  = "info"
  format = "text"
  access = true
}
limits {
  timeout        = "60s"
  header_timeout = "60s"
  idle_timeout   = "60s"
  kill_grace     = "2s"
  max_children   = 8
  max_queue      = 128
  queue_timeout  = "10s"
  max_body       = "1GiB"
}
env      = { LANG = "C.UTF-8" }
pass_env = ["TZ"]

mount "/cgi-bin" {
  root = "@DIR@"
  limits { timeout = "30s" }
}
mount "/git" {
  program = ["@EXE@"]
  env     = { GIT_PROJECT_ROOT = "/srv/git", GIT_HTTP_EXPORT_ALL = "1" }
}
mount "/php" {
  root = "@DIR@"
  worker {
    command      = ["@EXE@"]
    processes    = 4
    max_requests = 1000
    max_rss      = "256MiB"
  }
}
mount "/fpm" {
  fastcgi = "unix:/run/php/php-fpm.sock"
}
`)
	c, err := Parse("f.hcl", []byte(src))
	if err != nil {
		t.Fatalf("Parse(%q) = %v", src, err)
	}
	if len(c.Mounts) != 4 {
		t.Fatalf("Parse(%q) has %d mounts, want 4", src, len(c.Mounts))
	}
	limits := Limits{
		Timeout: 60 * time.Second, HeaderTimeout: 60 * time.Second, IdleTimeout: 60 * time.Second,
		KillGrace: 2 * time.Second, QueueTimeout: 10 * time.Second,
		MaxChildren: 8, MaxQueue: 128, MaxBody: 1 << 30,
	}
	env := map[string]string{"LANG": "C.UTF-8"}
	passEnv := []string{"PATH", "TZ"}
	want := []Mount{
		{
			Prefix: "/php",
			Root:   fx.dir,
			Worker: &Worker{Command: []string{fx.exe}, Processes: 4, MaxRequests: 1000, MaxRSS: 256 << 20},
			Env:    env, PassEnv: passEnv, Limits: limits,
		},
		{Prefix: "/fpm", FastCGI: "unix:/run/php/php-fpm.sock", Env: env, PassEnv: passEnv, Limits: limits},
	}
	if got := c.Mounts[2:]; !reflect.DeepEqual(got, want) {
		t.Errorf("Parse(%q) mounts /php and /fpm =\n%+v\nwant\n%+v", src, got, want)
	}
	if h := c.Mounts[2].Handler(); !h.ScriptFiles || h.Root != fx.dir || h.Program != "" {
		t.Errorf("/php Handler() = %+v, want ScriptFiles, Root %s and no Program", h, fx.dir)
	}
	if w := c.Mounts[2].WorkerConfig(); w.Processes != 4 || w.MaxRequests != 1000 || w.MaxRSS != 256<<20 || w.Name != "/php" {
		t.Errorf("/php WorkerConfig() = %+v", w)
	}
	if r := c.Mounts[3].RemoteConfig(); r.Network != "unix" || r.Address != "/run/php/php-fpm.sock" || r.MaxConns != 8 || r.Name != "/fpm" {
		t.Errorf("/fpm RemoteConfig() = %+v", r)
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"1", 1, true},
		{"1073741824", 1 << 30, true},
		{"1KiB", 1 << 10, true},
		{"3MiB", 3 << 20, true},
		{"1GiB", 1 << 30, true},
		{"8589934591GiB", 8589934591 << 30, true},
		{"9223372036854775807", 1<<63 - 1, true},
		{"8589934592GiB", 0, false},
		{"9223372036854775808", 0, false},
		{"", 0, false},
		{"KiB", 0, false},
		{"-1", 0, false},
		{"+1", 0, false},
		{"1 KiB", 0, false},
		{"1kib", 0, false},
		{"1KB", 0, false},
		{"1.5MiB", 0, false},
		{"1GiBGiB", 0, false},
	}
	for _, tt := range tests {
		got, err := parseSize(tt.in)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("parseSize(%q) = %d, %v, want %d, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestDefault(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		root    string
		program []string
		want    Mount
	}{
		{"", nil, Mount{Prefix: "/"}},
		{"/srv/cgi-bin/", nil, Mount{Prefix: "/", Root: filepath.Clean("/srv/cgi-bin")}},
		{"cgi-bin", nil, Mount{Prefix: "/", Root: filepath.Join(wd, "cgi-bin")}},
		{"", []string{"/usr/bin/app", "-x"}, Mount{Prefix: "/", Program: []string{"/usr/bin/app", "-x"}}},
	}
	for _, tt := range tests {
		got := Default(tt.root, tt.program)
		tt.want.Env = map[string]string{}
		tt.want.PassEnv = []string{"PATH"}
		tt.want.Limits = DefaultLimits()
		want := &Config{
			Log:             Log{"info", "text", true},
			Limits:          DefaultLimits(),
			Env:             map[string]string{},
			PassEnv:         []string{"PATH"},
			Mounts:          []Mount{tt.want},
			ShutdownTimeout: 30 * time.Second,
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Default(%q, %q) =\n%+v\nwant\n%+v", tt.root, tt.program, got, want)
		}
	}
}

func TestDefaultLimits(t *testing.T) {
	l := DefaultLimits()
	want := Limits{
		Timeout:       handler.DefaultTimeout,
		HeaderTimeout: handler.DefaultTimeout,
		IdleTimeout:   handler.DefaultTimeout,
		KillGrace:     subprocess.DefaultKillGrace,
		QueueTimeout:  subprocess.DefaultQueueTimeout,
		MaxChildren:   subprocess.DefaultChildrenPerCPU * runtime.NumCPU(),
		MaxQueue:      subprocess.DefaultQueuePerChild * subprocess.DefaultChildrenPerCPU * runtime.NumCPU(),
		MaxBody:       handler.DefaultMaxBody,
	}
	if l != want {
		t.Errorf("DefaultLimits() = %+v, want %+v", l, want)
	}
}

func TestMountHandlerRunner(t *testing.T) {
	l := Limits{
		Timeout: 1 * time.Second, HeaderTimeout: 2 * time.Second, IdleTimeout: 3 * time.Second,
		KillGrace: 4 * time.Second, QueueTimeout: 5 * time.Second,
		MaxChildren: 6, MaxQueue: 7, MaxBody: 8,
	}
	env := map[string]string{"A": "1"}
	tests := []struct {
		m    Mount
		want handler.Config
	}{
		{
			Mount{Prefix: "/", Root: "/srv/cgi", Env: env, PassEnv: []string{"PATH", "TZ"}, Limits: l},
			handler.Config{Root: "/srv/cgi", Env: environ.Environ{"A": "1"}, PassEnv: []string{"PATH", "TZ"},
				Timeout: time.Second, HeaderTimeout: 2 * time.Second, IdleTimeout: 3 * time.Second, MaxBody: 8},
		},
		{
			Mount{Prefix: "/git", Program: []string{"/bin/git", "http-backend"}, Env: env, PassEnv: []string{"PATH"}, Limits: l,
				StreamUnknownLength: true},
			handler.Config{Program: "/bin/git", Args: []string{"http-backend"}, Env: environ.Environ{"A": "1"}, PassEnv: []string{"PATH"},
				Timeout: time.Second, HeaderTimeout: 2 * time.Second, IdleTimeout: 3 * time.Second, MaxBody: 8,
				StreamUnknownLength: true},
		},
		{
			Mount{Prefix: "/app", Program: []string{"/bin/app"}, Env: env, PassEnv: []string{"PATH"}, Limits: l},
			handler.Config{Program: "/bin/app", Env: environ.Environ{"A": "1"}, PassEnv: []string{"PATH"},
				Timeout: time.Second, HeaderTimeout: 2 * time.Second, IdleTimeout: 3 * time.Second, MaxBody: 8},
		},
		{
			Mount{Prefix: "/php", Root: "/srv/php", Worker: &Worker{Command: []string{"/bin/php-cgi"}, Processes: 2},
				Env: env, PassEnv: []string{"PATH"}, Limits: l},
			handler.Config{Root: "/srv/php", ScriptFiles: true, Env: environ.Environ{"A": "1"}, PassEnv: []string{"PATH"},
				Timeout: time.Second, HeaderTimeout: 2 * time.Second, IdleTimeout: 3 * time.Second, MaxBody: 8},
		},
		{
			Mount{Prefix: "/w", Worker: &Worker{Command: []string{"/bin/app", "-x"}, Processes: 2},
				Env: env, PassEnv: []string{"PATH"}, Limits: l},
			handler.Config{Env: environ.Environ{"A": "1"}, PassEnv: []string{"PATH"},
				Timeout: time.Second, HeaderTimeout: 2 * time.Second, IdleTimeout: 3 * time.Second, MaxBody: 8},
		},
		{
			Mount{Prefix: "/fpm", FastCGI: "127.0.0.1:9000", Env: env, PassEnv: []string{"PATH"}, Limits: l},
			handler.Config{Env: environ.Environ{"A": "1"}, PassEnv: []string{"PATH"},
				Timeout: time.Second, HeaderTimeout: 2 * time.Second, IdleTimeout: 3 * time.Second, MaxBody: 8},
		},
	}
	for _, tt := range tests {
		if got := tt.m.Handler(); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%+v.Handler() = %+v, want %+v", tt.m, got, tt.want)
		}
		want := subprocess.Config{MaxChildren: 6, MaxQueue: 7, QueueTimeout: 5 * time.Second, KillGrace: 4 * time.Second}
		if got := tt.m.Runner(); got != want {
			t.Errorf("%+v.Runner() = %+v, want %+v", tt.m, got, want)
		}
	}
	// The handler's configuration is a copy.
	m := tests[1].m
	h := m.Handler()
	h.Env["A"] = "changed"
	h.Args[0] = "changed"
	if m.Env["A"] != "1" || m.Program[1] != "http-backend" {
		t.Errorf("changing Handler()'s Config changed the Mount: %+v", m)
	}
}

func TestMountWorkerConfig(t *testing.T) {
	fx := newFixture(t)
	t.Setenv("GATEWAYD_TEST_TZ", "Europe/Paris")
	t.Setenv("GATEWAYD_TEST_OVER", "from gatewayd")
	t.Setenv("GATEWAYD_TEST_UNSET", "")
	os.Unsetenv("GATEWAYD_TEST_UNSET")
	t.Setenv("GATEWAYD_TEST_EMPTY", "")
	src := fx.expand(`
pass_env = ["GATEWAYD_TEST_TZ", "GATEWAYD_TEST_OVER", "GATEWAYD_TEST_UNSET", "GATEWAYD_TEST_EMPTY"]
env      = { LANG = "C.UTF-8", A = "top" }
limits {
  kill_grace    = "3s"
  queue_timeout = "4s"
  max_children  = 5
  max_queue     = 6
}
mount "/php" {
  root = "@DIR@"
  worker {
    command      = ["@EXE@", "-d", "x=1"]
    processes    = 3
    max_requests = 100
    max_rss      = "256MiB"
  }
  env = { A = "php", GATEWAYD_TEST_OVER = "from the mount" }
}
mount "/w" {
  worker { command = ["@EXE@"] }
}
`)
	c, err := Parse("f.hcl", []byte(src))
	if err != nil {
		t.Fatalf("Parse(%q) = %v", src, err)
	}
	base := environ.Environ{}
	if v, ok := os.LookupEnv("PATH"); ok {
		base["PATH"] = v
	}
	env := base.Clone()
	env["GATEWAYD_TEST_TZ"] = "Europe/Paris"
	env["GATEWAYD_TEST_EMPTY"] = ""
	env["GATEWAYD_TEST_OVER"] = "from the mount"
	env["LANG"] = "C.UTF-8"
	env["A"] = "php"
	want := worker.Config{
		Command:      []string{fx.exe, "-d", "x=1"},
		Env:          env,
		Processes:    3,
		MaxRequests:  100,
		MaxRSS:       256 << 20,
		MaxQueue:     6,
		QueueTimeout: 4 * time.Second,
		KillGrace:    3 * time.Second,
		Name:         "/php",
	}
	m := c.Mounts[0]
	got := m.WorkerConfig()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("WorkerConfig() =\n%+v\nwant\n%+v", got, want)
	}
	// The configuration is a copy.
	got.Command[1] = "changed"
	got.Env["A"] = "changed"
	if m.Worker.Command[1] != "-d" || m.Env["A"] != "php" {
		t.Errorf("changing WorkerConfig() changed the Mount: %+v", m)
	}

	env = base.Clone()
	env["GATEWAYD_TEST_TZ"] = "Europe/Paris"
	env["GATEWAYD_TEST_EMPTY"] = ""
	env["GATEWAYD_TEST_OVER"] = "from gatewayd"
	env["LANG"] = "C.UTF-8"
	env["A"] = "top"
	want = worker.Config{
		Command:      []string{fx.exe},
		Env:          env,
		Processes:    runtime.NumCPU(),
		MaxQueue:     6,
		QueueTimeout: 4 * time.Second,
		KillGrace:    3 * time.Second,
		Name:         "/w",
	}
	if got := c.Mounts[1].WorkerConfig(); !reflect.DeepEqual(got, want) {
		t.Errorf("WorkerConfig() =\n%+v\nwant\n%+v", got, want)
	}
}

func TestMountRemoteConfig(t *testing.T) {
	l := Limits{
		Timeout: 1 * time.Second, HeaderTimeout: 2 * time.Second, IdleTimeout: 3 * time.Second,
		KillGrace: 4 * time.Second, QueueTimeout: 5 * time.Second,
		MaxChildren: 6, MaxQueue: 7, MaxBody: 8,
	}
	tests := []struct {
		addr, network, address string
	}{
		{"unix:/run/php/php-fpm.sock", "unix", "/run/php/php-fpm.sock"},
		{"127.0.0.1:9000", "tcp", "127.0.0.1:9000"},
		{"[::1]:9000", "tcp", "[::1]:9000"},
		{"fpm.internal:9000", "tcp", "fpm.internal:9000"},
		{":9000", "tcp", ":9000"},
	}
	for _, tt := range tests {
		m := Mount{Prefix: "/fpm", FastCGI: tt.addr, Env: map[string]string{}, PassEnv: []string{"PATH"}, Limits: l}
		want := worker.RemoteConfig{
			Network: tt.network, Address: tt.address,
			MaxConns: 6, MaxQueue: 7, QueueTimeout: 5 * time.Second, KillGrace: 4 * time.Second,
			Name: "/fpm",
		}
		if got := m.RemoteConfig(); !reflect.DeepEqual(got, want) {
			t.Errorf("RemoteConfig() of fastcgi %q = %+v, want %+v", tt.addr, got, want)
		}
	}

	// From a file.
	c, err := Parse("f.hcl", []byte(`
mount "/fpm" {
  fastcgi = "unix:/run/php/php-fpm.sock"
  limits { max_children = 3 }
}
mount "/tcp" { fastcgi = "10.0.0.1:9000" }
`))
	if err != nil {
		t.Fatal(err)
	}
	def := DefaultLimits()
	for i, want := range []worker.RemoteConfig{
		{Network: "unix", Address: "/run/php/php-fpm.sock", MaxConns: 3, MaxQueue: 48,
			QueueTimeout: def.QueueTimeout, KillGrace: def.KillGrace, Name: "/fpm"},
		{Network: "tcp", Address: "10.0.0.1:9000", MaxConns: def.MaxChildren, MaxQueue: def.MaxQueue,
			QueueTimeout: def.QueueTimeout, KillGrace: def.KillGrace, Name: "/tcp"},
	} {
		if got := c.Mounts[i].RemoteConfig(); !reflect.DeepEqual(got, want) {
			t.Errorf("mount %q RemoteConfig() = %+v, want %+v", c.Mounts[i].Prefix, got, want)
		}
	}
}

func TestLoad(t *testing.T) {
	fx := newFixture(t)
	good := filepath.Join(fx.dir, "good.hcl")
	bad := filepath.Join(fx.dir, "bad.hcl")
	os.WriteFile(good, []byte(fx.expand(`mount "/" { root = "@DIR@" }`)), 0o644)
	os.WriteFile(bad, []byte(`mount "/" {}`), 0o644)

	c, err := Load(good)
	if err != nil || len(c.Mounts) != 1 || c.Mounts[0].Root != fx.dir {
		t.Errorf("Load(%q) = %+v, %v, want one mount of root %s", good, c, err, fx.dir)
	}
	_, err = Load(bad)
	want := bad + `:1:1: mount "/": give one of root, program, worker or fastcgi`
	if _, ok := errors.AsType[Problems](err); !ok || err.Error() != want {
		t.Errorf("Load(%q) = %v, want %s", bad, err, want)
	}
	missing := filepath.Join(fx.dir, "missing.hcl")
	_, err = Load(missing)
	if _, ok := errors.AsType[Problems](err); ok || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(%q) = %v, want fs.ErrNotExist and no Problems", missing, err)
	}
}
