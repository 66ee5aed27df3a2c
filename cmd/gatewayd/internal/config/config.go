// Package config reads gatewayd's configuration file: one HCL file that
// describes a whole deployment, its listeners, logging, limits, the
// environment given to programs and the mounts that say what runs for
// which URL path.
//
//	listen "fastcgi" { address = "unix:/run/gatewayd/fastcgi.sock" } # repeatable; also "http", "scgi"
//	listen "scgi" { address = "systemd:scgi" } # a socket-activated fd, by FileDescriptorName
//	admin { address = "127.0.0.1:9180" }       # off when absent
//
//	log {
//	  level  = "info"
//	  format = "text"
//	  access = true
//	}
//	limits {                          # for every mount; a mount's own limits block overrides
//	  timeout       = "60s"
//	  max_children  = 8
//	  max_body      = "1GiB"
//	}
//	env      = { LANG = "C.UTF-8" }   # added to every program's environment
//	pass_env = ["TZ"]                 # copied from gatewayd's own environment (PATH always is)
//
//	mount "/cgi-bin" {                # a script root: the rest of the path names the script
//	  root = "/usr/lib/cgi-bin"
//	  limits { timeout = "30s" }
//	}
//	mount "/git" {                    # one program for every request under the prefix
//	  program = ["/usr/lib/git-core/git-http-backend"]
//	  env     = { GIT_PROJECT_ROOT = "/srv/git", GIT_HTTP_EXPORT_ALL = "1" }
//	  stream_unknown_length = true    # a chunked push is passed on as it comes
//	}
//	mount "/php" {                    # FastCGI workers gatewayd runs and keeps
//	  root = "/srv/php"               # optional: the scripts the workers read
//	  worker {
//	    command      = ["/usr/bin/php-cgi"]
//	    processes    = 4
//	    max_requests = 1000           # recycle a worker after this many requests
//	    max_rss      = "256MiB"       # or once its resident memory is over this
//	  }
//	}
//	mount "/fpm" {                    # an external FastCGI server: HOST:PORT or unix:PATH
//	  fastcgi = "unix:/run/php/php-fpm.sock"
//	}
//
// HCL puts one attribute on a line: a block on one line holds at most one
// (limits { timeout = "30s" }).
//
// Parse and Load check the whole file and return every mistake in it as
// Problems, each with its file, line and column, in file order; a Config
// is only returned for a file without any. The file is read as it is: it
// has no variables, functions or includes.
//
// # Defaults
//
// A key left out has the default of the command-line flag of the same
// name, where there is one:
//
//	log.level             "info"
//	log.format            "text"
//	log.access            true
//	limits.timeout        60s
//	limits.header_timeout the timeout in force
//	limits.idle_timeout   the timeout in force
//	limits.kill_grace     2s
//	limits.max_children   4 × the number of CPUs
//	limits.max_queue      16 × the max_children in force
//	limits.queue_timeout  10s
//	limits.max_body       1GiB
//	pass_env              PATH only
//	shutdown_timeout      30s
//	stream_unknown_length false
//	worker.processes      the number of CPUs
//	worker.max_requests   0: never recycle after a number of requests
//	worker.max_rss        none: never recycle for memory
//
// A mount's limits are the top-level limits with the mount's own limits
// block over them, key by key; a derived default follows the value in force
// for the mount, so a mount that sets only timeout gets that timeout as its
// header_timeout and idle_timeout unless one of the two is set itself, at
// the top level or in the mount. A mount's environment is the top-level env
// with the mount's env over it. A null value (timeout = null) is the same
// as leaving the key out.
//
// A request body of unknown length (chunked, which nginx passes on
// without CONTENT_LENGTH when request buffering is off) is spooled to a
// temporary file up to max_body, so that the program gets the
// CONTENT_LENGTH RFC 3875 §4.2 promises. A mount with
// stream_unknown_length = true passes such a body to the program as it
// arrives instead, without CONTENT_LENGTH: for programs that read their
// input to its end, as git http-backend does, a large push then starts
// at once instead of after the whole pack was written to disk. max_body
// does not bound a streamed body: the program reads what it wants (bound
// it in the web server, with nginx's client_max_body_size).
//
// A worker mount runs processes workers, each serving one request at a
// time, instead of up to max_children programs; max_queue, queue_timeout
// and kill_grace bound its requests as they do a program's. A fastcgi
// mount opens at most max_children connections to its server. The
// environment (env and pass_env) is every worker's own environment as well
// as the base of every request's.
//
// # Rules
//
// Every problem names the key or block at fault and points at its value, or
// at the key or block when the value is not what is wrong:
//
//   - HCL syntax, and keys or blocks the schema does not have, missing or
//     given twice, as HCL reports them.
//   - Durations are Go durations ("30s", "1m30s"); a number is seconds only
//     if it says so ("30" is a mistake). Sizes are a whole number of bytes
//     (1048576 or "1048576") or one with a KiB, MiB or GiB suffix ("1GiB").
//     Every duration, size and count of limits, and a worker's processes
//     and max_rss, must be positive; max_requests must not be negative;
//     max_children, max_queue and processes are at most 16777216.
//   - listen's label is "http", "fastcgi" or "scgi". Listen and admin
//     addresses are HOST:PORT (PORT a number from 0 to 65535, HOST empty
//     for every interface), unix:PATH, fd:N (an inherited listening
//     socket) or systemd and systemd:NAME (socket activation, every socket
//     or the one named NAME). No two listeners have the same address.
//   - A mount's prefix is "/" or starts with '/', does not end with '/' and
//     has no empty, "." or ".." segment; no two mounts have the same prefix.
//   - A mount is exactly one of root, program, worker or fastcgi; a worker
//     mount may add root, whose files are then scripts the workers read
//     rather than programs to run. A worker block has a command. fastcgi
//     is HOST:PORT or unix:PATH.
//   - Paths in the file are absolute, as systemd wants them: the file means
//     the same whatever directory gatewayd starts in and wherever the file
//     lies. root is a directory; program's (and a worker's command's) first
//     element is an executable regular file (on Windows, any regular file);
//     unix:PATH is an absolute path.
//   - log.level is trace, debug, info, warn or error; log.format is text or
//     json.
//   - Variable names in env and pass_env are not empty and hold no '=' or
//     NUL byte; no value or program argument holds a NUL byte.
//
// A file without listeners or mounts is valid: the command line may add
// them.
package config

import (
	"cmp"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"gatewayd/environ"
	"gatewayd/handler"
	"gatewayd/handler/subprocess"
	"gatewayd/handler/worker"
)

// Config is a whole deployment, as a file describes it. Every field is
// complete: defaults are filled in.
type Config struct {
	Listen  []Listen          // in file order
	Admin   *Admin            // nil when there is no admin block
	Log     Log               // defaults "info", "text", true
	Limits  Limits            // the defaults with the file's top-level limits block applied
	Env     map[string]string // added to every program's environment; never nil
	PassEnv []string          // copied from gatewayd's own environment; PATH always is, first
	Mounts  []Mount           // in file order
	// ShutdownTimeout bounds the drain on SIGTERM; default 30s.
	ShutdownTimeout time.Duration
}

// DefaultShutdownTimeout is the default of shutdown_timeout: how long
// SIGTERM waits for the requests in flight.
const DefaultShutdownTimeout = 30 * time.Second

// Listen is a listener: a front-end and the address it serves on.
type Listen struct {
	Protocol string // "http", "fastcgi" or "scgi"
	Address  string // HOST:PORT, unix:PATH, fd:N, systemd or systemd:NAME
}

// Admin is the listener of the metrics, status and health endpoints.
type Admin struct {
	Address string // as Listen.Address
}

// Log configures gatewayd's log.
type Log struct {
	Level  string // trace, debug, info, warn or error; default "info"
	Format string // text or json; default "text"
	Access bool   // one line per request; default true
}

// Limits bounds the requests of a mount. After Parse, Default or
// DefaultLimits every field is set (positive).
type Limits struct {
	Timeout       time.Duration // a whole request; default 60s
	HeaderTimeout time.Duration // until the program's header block is complete; default Timeout
	IdleTimeout   time.Duration // without any byte moving; default Timeout
	KillGrace     time.Duration // between SIGTERM and SIGKILL; default 2s
	QueueTimeout  time.Duration // the longest wait for a program slot; default 10s
	MaxChildren   int           // programs running at once; default 4 × CPUs
	MaxQueue      int           // requests waiting for a slot; default 16 × MaxChildren
	MaxBody       int64         // bytes of a request body; default 1 GiB
}

// Mount is what runs for the requests under a URL path prefix. Exactly one
// of Root, Program, Worker and FastCGI is set, or Worker with Root, or none
// for the built-in demo app (only in Default's Config).
type Mount struct {
	Prefix  string            // "/" or "/git": leading '/', no trailing '/', no empty, "." or ".." segment
	Root    string            // a script root (absolute, cleaned), or ""; with Worker, scripts the workers read
	Program []string          // the program and its arguments, or nil
	Worker  *Worker           // the FastCGI workers gatewayd runs, or nil
	FastCGI string            // the ADDR of an external FastCGI server, HOST:PORT or unix:PATH, or ""
	Env     map[string]string // the top-level env with the mount's env over it; never nil
	PassEnv []string          // the top-level pass_env, PATH first
	Limits  Limits            // the top-level limits with the mount's limits block over them
	// StreamUnknownLength passes a request body of unknown length to the
	// program as it arrives, without CONTENT_LENGTH, instead of spooling
	// it first; default false.
	StreamUnknownLength bool
}

// Worker is a worker block: the FastCGI application a worker mount runs,
// and when its processes are recycled.
type Worker struct {
	Command     []string // the program and its arguments
	Processes   int      // workers running at once; default the number of CPUs
	MaxRequests int      // requests after which a worker is recycled; 0 is never
	MaxRSS      int64    // resident bytes over which a worker is recycled; 0 is never
}

// Handler returns the pipeline configuration of m: everything but App,
// Logger and what the command line alone decides (ServerSoftware, Strict).
// Program is set for a program mount only; ScriptFiles for a worker mount
// with a root.
func (m Mount) Handler() handler.Config {
	c := handler.Config{
		Root:          m.Root,
		ScriptFiles:   m.Worker != nil && m.Root != "",
		Env:           environ.Environ(maps.Clone(m.Env)),
		PassEnv:       slices.Clone(m.PassEnv),
		Timeout:       m.Limits.Timeout,
		HeaderTimeout: m.Limits.HeaderTimeout,
		IdleTimeout:   m.Limits.IdleTimeout,
		MaxBody:       m.Limits.MaxBody,

		StreamUnknownLength: m.StreamUnknownLength,
	}
	if m.Root == "" && m.Worker == nil && m.FastCGI == "" && len(m.Program) > 0 {
		c.Program = m.Program[0]
		if len(m.Program) > 1 {
			c.Args = slices.Clone(m.Program[1:])
		}
	}
	return c
}

// Runner returns the configuration of the runner of m's programs (a root
// or program mount).
func (m Mount) Runner() subprocess.Config {
	return subprocess.Config{
		MaxChildren:  m.Limits.MaxChildren,
		MaxQueue:     m.Limits.MaxQueue,
		QueueTimeout: m.Limits.QueueTimeout,
		KillGrace:    m.Limits.KillGrace,
	}
}

// WorkerConfig returns the configuration of the pool of m's workers (a
// worker mount). Env is the workers' whole environment, the one the
// pipeline starts a CGI program's from: the variables of PassEnv that
// gatewayd's own environment has, then Env over them. Logger is nil, for
// the daemon to set; Dir, StartTimeout, RapidFails and MaxStderr are left
// to their defaults. For a mount without Worker, Command is nil and the
// counts are 0.
func (m Mount) WorkerConfig() worker.Config {
	c := worker.Config{
		Env:          m.baseEnv(),
		MaxQueue:     m.Limits.MaxQueue,
		QueueTimeout: m.Limits.QueueTimeout,
		KillGrace:    m.Limits.KillGrace,
		Name:         m.Prefix,
	}
	if w := m.Worker; w != nil {
		c.Command = slices.Clone(w.Command)
		c.Processes = w.Processes
		c.MaxRequests = w.MaxRequests
		c.MaxRSS = w.MaxRSS
	}
	return c
}

// baseEnv returns the variables of m.PassEnv from gatewayd's environment
// with m.Env over them.
func (m Mount) baseEnv() environ.Environ {
	env := environ.Environ{}
	for _, k := range m.PassEnv {
		if v, ok := os.LookupEnv(k); ok {
			env[k] = v
		}
	}
	maps.Copy(env, m.Env)
	return env
}

// RemoteConfig returns the configuration of the connections to m's
// FastCGI server (a fastcgi mount). Logger is nil, for the daemon to set;
// DialTimeout and MaxStderr are left to their defaults. Network and
// Address are "unix" and the path for unix:PATH, else "tcp" and
// HOST:PORT; both are "" for a mount without FastCGI.
func (m Mount) RemoteConfig() worker.RemoteConfig {
	c := worker.RemoteConfig{
		MaxConns:     m.Limits.MaxChildren,
		MaxQueue:     m.Limits.MaxQueue,
		QueueTimeout: m.Limits.QueueTimeout,
		KillGrace:    m.Limits.KillGrace,
		Name:         m.Prefix,
	}
	if path, ok := strings.CutPrefix(m.FastCGI, "unix:"); ok {
		c.Network, c.Address = "unix", path
	} else if m.FastCGI != "" {
		c.Network, c.Address = "tcp", m.FastCGI
	}
	return c
}

// Default returns the Config the command line alone describes: no
// listeners, default logging and limits, and one mount at "/" that runs the
// scripts under root if root is not empty, else program if it is not
// empty, else the built-in demo app. Default does not check root or
// program; the pipeline does when it starts.
func Default(root string, program []string) *Config {
	c := &Config{
		Log:             defaultLog(),
		Limits:          DefaultLimits(),
		ShutdownTimeout: DefaultShutdownTimeout,
		Env:             map[string]string{},
		PassEnv:         defaultPassEnv(),
	}
	m := Mount{Prefix: "/", Env: map[string]string{}, PassEnv: defaultPassEnv(), Limits: c.Limits}
	switch {
	case root != "":
		if abs, err := filepath.Abs(root); err == nil {
			root = abs
		}
		m.Root = filepath.Clean(root)
	case len(program) > 0:
		m.Program = slices.Clone(program)
	}
	c.Mounts = []Mount{m}
	return c
}

// Load reads the file at path and parses it. A file that cannot be read
// is an error of its own; a bad one gives Problems.
func Load(path string) (*Config, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, src)
}

// Parse parses and checks src, the contents of the file filename (the name
// the problems give). It returns Problems when src has any mistake. Parse
// looks at the file system for the roots and programs src names.
func Parse(filename string, src []byte) (*Config, error) {
	p := &parser{filename: filename}
	f, diags := hclsyntax.ParseConfig(src, filename, hcl.InitialPos)
	if diags.HasErrors() {
		// What follows a syntax error would only give confusing problems.
		p.diags(diags)
		return nil, p.sorted()
	}
	var s fileSchema
	p.diags(gohcl.DecodeBody(f.Body, nil, &s))
	c := p.config(&s)
	if len(p.probs) > 0 {
		return nil, p.sorted()
	}
	return c, nil
}

// Problem is one mistake in a file.
type Problem struct {
	Filename     string
	Line, Column int // from 1; 0 when HCL gave no position
	Message      string
}

// Error returns "FILE:LINE:COL: message".
func (p Problem) Error() string {
	if p.Line == 0 {
		return fmt.Sprintf("%s: %s", p.Filename, p.Message)
	}
	return fmt.Sprintf("%s:%d:%d: %s", p.Filename, p.Line, p.Column, p.Message)
}

// Problems is the error Load and Parse return for a bad file: one Problem
// per mistake, in file order.
type Problems []Problem

// Error returns one line per problem.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// parser collects the problems of one file.
type parser struct {
	filename string
	probs    Problems
}

// problem records a mistake at the start of r.
func (p *parser) problem(r hcl.Range, format string, args ...any) {
	p.probs = append(p.probs, Problem{
		Filename: p.filename,
		Line:     r.Start.Line,
		Column:   r.Start.Column,
		Message:  fmt.Sprintf(format, args...),
	})
}

// diags records HCL's errors, in HCL's words.
func (p *parser) diags(ds hcl.Diagnostics) {
	for _, d := range ds {
		if d.Severity != hcl.DiagError {
			continue
		}
		msg := d.Summary
		if d.Detail != "" {
			msg += "; " + d.Detail
		}
		prob := Problem{Filename: p.filename, Message: strings.Join(strings.Fields(msg), " ")}
		if d.Subject != nil {
			prob.Line, prob.Column = d.Subject.Start.Line, d.Subject.Start.Column
		}
		p.probs = append(p.probs, prob)
	}
}

// sorted returns the problems in file order.
func (p *parser) sorted() Problems {
	slices.SortStableFunc(p.probs, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	})
	return p.probs
}
