package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"gatewayd/cmd/gatewayd/internal/config"
	"gatewayd/cmd/gatewayd/internal/ops"
	"gatewayd/handler"
)

// serveOptions are the flags of `gatewayd serve`.
type serveOptions struct {
	config        string              // --config FILE, or ""
	changed       map[string]bool     // the flags given on the command line
	listen        map[string][]string // protocol name → its ADDRs, in flag order
	root          string
	timeout       time.Duration
	headerTimeout time.Duration
	idleTimeout   time.Duration
	killGrace     time.Duration
	maxChildren   int
	maxQueue      int
	queueTimeout  time.Duration
	fastcgiStderr bool
	maxBody       int64
	strict        bool
	streamUnknown bool // --stream-unknown-length, for every mount
	passAuth      bool
	logLevel      string
	logFormat     string
	// shutdownTimeout bounds the drain after SIGTERM or SIGINT.
	shutdownTimeout time.Duration
	admin           string // --admin ADDR, or ""
}

// defaultShutdownTimeout is the default of --shutdown-timeout.
const defaultShutdownTimeout = config.DefaultShutdownTimeout

// defaultServeOptions is what `gatewayd` with no arguments runs.
func defaultServeOptions() serveOptions {
	return serveOptions{
		listen:          map[string][]string{"http": {"127.0.0.1:8000"}},
		timeout:         handler.DefaultTimeout,
		logLevel:        "info",
		logFormat:       "text",
		shutdownTimeout: defaultShutdownTimeout,
	}
}

func newServeCmd(stderr io.Writer) *cobra.Command {
	o := defaultServeOptions()
	o.listen = map[string][]string{}
	cmd := &cobra.Command{
		Use:   "serve [flags] [PROGRAM [ARG...]]",
		Short: "Serve CGI programs over HTTP, FastCGI and SCGI",
		Long: `Serve CGI programs to clients (--http) and to web servers (--fastcgi,
--scgi), from one process on as many listeners as given.

With PROGRAM, every request runs PROGRAM with ARGs. With --root DIR, each
request runs the executable script its URL path names inside DIR; the rest
of the path is PATH_INFO. With neither, the built-in demo app answers.

ADDR is HOST:PORT, unix:PATH, fd:N (an inherited listening socket),
systemd (every socket systemd passed) or systemd:NAME (those whose
FileDescriptorName is NAME).

--config FILE reads a whole deployment from an HCL file: listeners, limits,
environment and mounts, each a script root, a program, persistent FastCGI
workers or an external FastCGI server under a URL prefix (see
configs/gatewayd.hcl and configs/php-workers.hcl; gatewayd config check
FILE validates one). The
command line adds to and overrides the file: its listeners are added,
--root or PROGRAM becomes the mount at "/", and a limit flag given applies
to every mount.

--admin ADDR (or an admin block) serves, on a listener of its own,
/metrics (Prometheus text), /status (JSON: uptime, requests in flight and
queued, limits, per-mount counters, workers) and /healthz (200 while
serving, 503 while draining). It answers while every program slot is busy.

SIGTERM or SIGINT stops gatewayd: it stops accepting and lets the requests
in flight finish, for at most --shutdown-timeout. When that passes, or a
second SIGTERM or SIGINT comes, the programs still running are stopped
(SIGTERM, then SIGKILL after --kill-grace) and gatewayd exits with status
1; it exits 0 when every request finished. SIGHUP
reads --config again: a good file applies to new requests at once while
those in flight finish as they began, listeners in both files stay open;
a bad one changes nothing and each problem is logged.`,
		Example: `  gatewayd serve --http 127.0.0.1:8080 --root ./cgi-bin
  gatewayd serve --config /etc/gatewayd/gatewayd.hcl
  gatewayd serve --fastcgi unix:/run/gatewayd/fastcgi.sock --root /usr/lib/cgi-bin
  gatewayd serve --fastcgi 127.0.0.1:9000 /usr/lib/git-core/git-http-backend`,
		Args: usageArgs(cobra.ArbitraryArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.listeners() == 0 && o.config == "" {
				return usageError{errors.New("serve: no listener: give " + listenerFlags() + " or --config FILE")}
			}
			o.changed = map[string]bool{}
			cmd.Flags().Visit(func(f *pflag.Flag) { o.changed[f.Name] = true })
			if o.root != "" && len(args) > 0 {
				return usageError{errors.New("serve: give PROGRAM or --root, not both")}
			}
			return serve(cmd.Context(), o, args, stderr)
		},
	}
	cmd.Flags().SetInterspersed(false) // flags after PROGRAM are its arguments
	f := cmd.Flags()
	for _, p := range protocols {
		f.Var(&addrList{o.listen, p.name}, p.name, p.usage)
	}
	f.StringVar(&o.config, "config", "", "read the deployment from the HCL configuration `FILE`; flags add to and override it")
	f.StringVar(&o.root, "root", "", "run the script each request names, if it lies inside `DIR`")
	addRequestFlags(f, &o)
	f.IntVar(&o.maxChildren, "max-children", 0, "programs running at once (default 4 × CPUs)")
	f.IntVar(&o.maxQueue, "max-queue", 0, "requests waiting for a program slot; more get 503 at once (default 16 × --max-children)")
	f.DurationVar(&o.queueTimeout, "queue-timeout", 0, "longest wait for a free program slot before 503 (default 10s)")
	f.BoolVar(&o.fastcgiStderr, "fastcgi-stderr", false, "send programs' stderr to the web server as FCGI_STDERR records instead of the log")
	f.BoolVar(&o.passAuth, "pass-authorization", false, "pass the Authorization header to programs (HTTP front-end)")
	f.DurationVar(&o.shutdownTimeout, "shutdown-timeout", o.shutdownTimeout, "longest SIGTERM waits for the requests in flight before it stops them")
	f.StringVar(&o.admin, "admin", "", "serve /metrics, /status and /healthz on `ADDR` (default: none)")
	return cmd
}

// addRequestFlags defines the flags that bound and check each request and
// set up logging, shared by serve and cgi.
func addRequestFlags(f *pflag.FlagSet, o *serveOptions) {
	f.DurationVar(&o.timeout, "timeout", o.timeout, "longest a request may run")
	f.DurationVar(&o.headerTimeout, "header-timeout", 0, "longest wait for a program's headers (default: --timeout)")
	f.DurationVar(&o.idleTimeout, "idle-timeout", 0, "longest a request may go without I/O (default: --timeout)")
	f.DurationVar(&o.killGrace, "kill-grace", 0, "time between SIGTERM and SIGKILL for a program being stopped (default 2s)")
	f.Int64Var(&o.maxBody, "max-body", 0, "largest request body in bytes; more gets 413 (default 1 GiB)")
	f.BoolVar(&o.strict, "strict", false, "response violations are errors (500) instead of repaired and warned")
	f.BoolVar(&o.streamUnknown, "stream-unknown-length", false,
		"pass a body of unknown length (chunked) to the program as it arrives, without CONTENT_LENGTH, instead of spooling it first")
	f.StringVar(&o.logLevel, "log-level", o.logLevel, "log `LEVEL`: trace, debug, info, warn, error")
	f.StringVar(&o.logFormat, "log-format", o.logFormat, "log format: text or json")
}

// newLogger returns the daemon's logger, writing to w.
func newLogger(o serveOptions, w io.Writer) (hclog.Logger, error) {
	return newLoggerFor(o.logLevel, o.logFormat, w)
}

func newLoggerFor(levelName, format string, w io.Writer) (hclog.Logger, error) {
	level := hclog.LevelFromString(levelName)
	if level == hclog.NoLevel {
		return nil, usageError{fmt.Errorf("unknown log level %q", levelName)}
	}
	if format != "text" && format != "json" {
		return nil, usageError{fmt.Errorf("unknown log format %q (want text or json)", format)}
	}
	return hclog.New(&hclog.LoggerOptions{
		Name:       "gatewayd",
		Level:      level,
		Output:     w,
		JSONFormat: format == "json",
	}), nil
}

// serve runs the daemon until SIGINT or SIGTERM, then drains it.
//
// Signals are handled here and nowhere else: the first SIGINT or SIGTERM
// starts the drain, a second one cuts it short (see drain), a third one ends
// the process at once. SIGHUP, where there is one, is logged and ignored
// until configuration reload exists.
func serve(ctx context.Context, o serveOptions, program []string, stderr io.Writer) error {
	p, logCfg, err := loadPlan(o, program)
	if err != nil {
		return configError(err, stderr)
	}
	if len(p.listen) == 0 {
		return usageError{errors.New("serve: no listener: give " + listenerFlags() + ", or listen blocks in --config")}
	}
	log, err := newLoggerFor(logCfg.Level, logCfg.Format, stderr)
	if err != nil {
		return err
	}
	takeActivated() // before any program starts: none inherits the sockets
	stopSignals := make(chan os.Signal, 2)
	signal.Notify(stopSignals, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(stopSignals)
	hangups, stopHangups := notifyHangup()
	defer stopHangups()

	d := newDaemon(o, log, serverSoftware())
	if err := d.Start(p); err != nil {
		d.Shutdown(context.Background())
		return err
	}
	notify := ops.NewNotifier(log)
	status := readyStatus(p) // the status line, without the counts
	notify.Ready(status)
	sent := status
	var statusTick <-chan time.Time // the counts are for the service manager alone
	if notify.Enabled() {
		t := time.NewTicker(statusInterval)
		defer t.Stop()
		statusTick = t.C
	}
	// The watchdog is fed through the drain too: it ends when serve does.
	if iv := ops.WatchdogInterval(); iv > 0 {
		watch, stopWatch := context.WithCancel(context.Background())
		defer stopWatch()
		go notify.Watchdog(watch, iv, d.check)
	}
	for {
		select {
		case <-statusTick:
			if s := status + d.counts(); s != sent {
				notify.Status(s)
				sent = s
			}
			continue
		case <-ctx.Done():
			log.Info("shutting down: finishing requests in flight")
		case sig := <-stopSignals:
			log.Info("shutting down: finishing requests in flight", "signal", sig)
		case err = <-d.errc:
			log.Error("listener failed; shutting down", "error", err)
		case <-hangups:
			// systemctl reload of a Type=notify-reload unit waits for
			// both, whatever the reload does.
			notify.Reloading()
			next, ok := reload(d, o, program, log)
			switch {
			case ok:
				p = next
				status = readyStatus(p)
			case o.config == "":
				status = readyStatus(p)
			default:
				status = readyStatus(p) + "; the last reload failed, see the log"
			}
			notify.Ready(status)
			sent = status
			continue
		}
		break
	}
	notify.Stopping(d.DrainBound())
	// A second SIGTERM or SIGINT cuts the drain short; from then on a
	// further one ends the process at once.
	cutCtx, cut := context.WithCancel(context.Background())
	defer cut()
	stopping := make(chan struct{})
	defer close(stopping)
	go func() {
		for {
			select {
			case <-hangups:
				log.Warn("SIGHUP received while stopping; ignoring")
			case sig := <-stopSignals:
				signal.Stop(stopSignals)
				log.Warn("second signal: stopping the requests in flight now", "signal", sig)
				cut()
			case <-stopping:
				return
			}
		}
	}()
	switch err := d.Shutdown(cutCtx); {
	case errors.Is(err, context.Canceled):
		log.Error("drain cut short by a second signal: requests in flight were stopped")
		return loggedError{errDrainCut}
	case err != nil:
		log.Error("drain timed out: requests in flight were stopped", "error", err)
		return loggedError{err}
	}
	log.Info("stopped")
	return err
}

// readyStatus is the unit's status line while p serves.
func readyStatus(p plan) string {
	return fmt.Sprintf("serving %s on %d listeners", describe(p), len(p.listen))
}

// statusInterval is how often the status line's counts are brought up to
// date, when they changed.
const statusInterval = time.Second

// reload applies --config again, after SIGHUP, and returns the plan now
// served; a file with problems changes nothing, each problem is logged,
// and ok is false.
func reload(d *daemon, o serveOptions, program []string, log hclog.Logger) (_ plan, ok bool) {
	if o.config == "" {
		log.Warn("SIGHUP received: no configuration file (--config) to reload; ignoring")
		return plan{}, false
	}
	log.Info("SIGHUP received: reloading the configuration", "file", o.config)
	p, logCfg, err := loadPlan(o, program)
	if err == nil && len(p.listen) == 0 {
		err = errors.New("no listener: the file has no listen block, and the command line none")
	}
	if err == nil {
		err = d.Reload(p)
	}
	if err != nil {
		if ps, ok := errors.AsType[config.Problems](err); ok {
			for _, pr := range ps {
				log.Error("configuration not reloaded: " + pr.Error())
			}
		} else {
			log.Error("configuration not reloaded", "error", err)
		}
		return plan{}, false
	}
	log.SetLevel(hclog.LevelFromString(logCfg.Level))
	log.Info("configuration reloaded", "file", o.config, "mounts", len(p.mounts), "listeners", len(p.listen))
	return p, true
}

// configError prints the problems of a bad configuration file to w, one a
// line as config check prints them, and marks them told.
func configError(err error, w io.Writer) error {
	ps, ok := errors.AsType[config.Problems](err)
	if !ok {
		return err
	}
	for _, p := range ps {
		fmt.Fprintln(w, p)
	}
	return loggedError{err}
}
