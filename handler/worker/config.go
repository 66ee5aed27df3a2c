package worker

import (
	"path/filepath"
	"runtime"
	"time"

	"github.com/hashicorp/go-hclog"

	"gatewayd/environ"
	"gatewayd/handler"
	"gatewayd/handler/subprocess"
)

// Config configures a Pool. The zero value of every field but Command
// means its default.
type Config struct {
	// Command is the worker program and its arguments. Required.
	Command []string
	// Dir is the workers' working directory. Default: the directory of
	// Command[0].
	Dir string
	// Env is the workers' whole environment; PHP_FCGI_CHILDREN and
	// PHP_FCGI_MAX_REQUESTS are added (see the package documentation).
	// A request's variables reach a worker as FastCGI parameters, not here.
	Env environ.Environ
	// Processes is the number of workers. Default: one per CPU
	// (DefaultProcesses).
	Processes int
	// MaxRequests recycles a worker after it served this many requests;
	// 0 never does.
	MaxRequests int
	// MaxRSS recycles a worker whose resident memory is over this many
	// bytes after a request (Linux); 0 never does.
	MaxRSS int64
	// MaxQueue bounds the requests waiting for an idle worker; one beyond
	// it gets 503 at once. Default: 16 × Processes.
	MaxQueue int
	// QueueTimeout is the longest a request waits for an idle worker
	// before it gets 503. Default: subprocess.DefaultQueueTimeout.
	QueueTimeout time.Duration
	// KillGrace is how long a worker has to end a request after
	// FCGI_ABORT_REQUEST, and to exit after SIGTERM, before it is killed.
	// Default: subprocess.DefaultKillGrace.
	KillGrace time.Duration
	// StartTimeout bounds the time a new worker takes to answer FastCGI.
	// Default: DefaultStartTimeout.
	StartTimeout time.Duration
	// RapidFails is the number of worker failures within a minute after
	// which the pool answers 503 instead of starting more, until the
	// minute has passed. Default: DefaultRapidFails.
	RapidFails int
	// MaxStderr bounds the FCGI_STDERR bytes logged per request. Default:
	// handler.DefaultMaxStderr.
	MaxStderr int
	// Name names the pool in log lines and errors (the mount's prefix).
	Name string
	// Logger receives what is not about one request: workers started,
	// exited, recycled, their own output. Default: none.
	Logger hclog.Logger
}

// DefaultProcesses returns the default of Config.Processes on this
// machine: runtime.NumCPU(), as many workers as can run at once.
func DefaultProcesses() int { return runtime.NumCPU() }

// Defaults of Config.
const (
	DefaultStartTimeout = 10 * time.Second
	// DefaultRapidFails is IIS's default of rapidFailProtectionMaxCrashes.
	DefaultRapidFails = 5
)

func (c Config) withDefaults() Config {
	if c.Dir == "" && len(c.Command) > 0 {
		c.Dir = filepath.Dir(c.Command[0])
	}
	if c.Processes <= 0 {
		c.Processes = DefaultProcesses()
	}
	if c.MaxQueue <= 0 {
		c.MaxQueue = subprocess.DefaultQueuePerChild * c.Processes
	}
	if c.QueueTimeout <= 0 {
		c.QueueTimeout = subprocess.DefaultQueueTimeout
	}
	if c.KillGrace <= 0 {
		c.KillGrace = subprocess.DefaultKillGrace
	}
	if c.StartTimeout <= 0 {
		c.StartTimeout = DefaultStartTimeout
	}
	if c.RapidFails <= 0 {
		c.RapidFails = DefaultRapidFails
	}
	if c.MaxStderr <= 0 {
		c.MaxStderr = handler.DefaultMaxStderr
	}
	if c.Logger == nil {
		c.Logger = hclog.NewNullLogger()
	}
	return c
}
