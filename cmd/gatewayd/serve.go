package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"

	"gatewayd/handler"
	"gatewayd/handler/demo"
	"gatewayd/handler/subprocess"
	gwhttp "gatewayd/protocol/http"
)

// serveOptions are the flags of `gatewayd serve`.
type serveOptions struct {
	httpAddrs     []string
	root          string
	timeout       time.Duration
	headerTimeout time.Duration
	idleTimeout   time.Duration
	killGrace     time.Duration
	maxChildren   int
	queueTimeout  time.Duration
	maxBody       int64
	strict        bool
	passAuth      bool
	logLevel      string
	logFormat     string
}

// defaultServeOptions is what `gatewayd` with no arguments runs.
func defaultServeOptions() serveOptions {
	return serveOptions{
		httpAddrs: []string{"127.0.0.1:8000"},
		timeout:   handler.DefaultTimeout,
		logLevel:  "info",
		logFormat: "text",
	}
}

func newServeCmd(stderr io.Writer) *cobra.Command {
	o := defaultServeOptions()
	o.httpAddrs = nil
	cmd := &cobra.Command{
		Use:   "serve [flags] [PROGRAM [ARG...]]",
		Short: "Serve CGI programs over HTTP",
		Long: `Serve CGI programs to clients.

With PROGRAM, every request runs PROGRAM with ARGs. With --root DIR, each
request runs the executable script its URL path names inside DIR; the rest
of the path is PATH_INFO. With neither, the built-in demo app answers.

ADDR is HOST:PORT or unix:PATH.`,
		Example: `  gatewayd serve --http 127.0.0.1:8080 --root ./cgi-bin
  gatewayd serve --http unix:/run/gatewayd.sock /usr/lib/git-core/git-http-backend`,
		Args: usageArgs(cobra.ArbitraryArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(o.httpAddrs) == 0 {
				return usageError{errors.New("serve: no listener: give --http ADDR")}
			}
			if o.root != "" && len(args) > 0 {
				return usageError{errors.New("serve: give PROGRAM or --root, not both")}
			}
			return serve(cmd.Context(), o, args, stderr)
		},
	}
	cmd.Flags().SetInterspersed(false) // flags after PROGRAM are its arguments
	f := cmd.Flags()
	f.StringArrayVar(&o.httpAddrs, "http", nil, "serve HTTP on `ADDR` (repeatable)")
	f.StringVar(&o.root, "root", "", "run the script each request names, if it lies inside `DIR`")
	f.DurationVar(&o.timeout, "timeout", o.timeout, "longest a request may run")
	f.DurationVar(&o.headerTimeout, "header-timeout", 0, "longest wait for a program's headers (default: --timeout)")
	f.DurationVar(&o.idleTimeout, "idle-timeout", 0, "longest a request may go without I/O (default: --timeout)")
	f.DurationVar(&o.killGrace, "kill-grace", 0, "time between SIGTERM and SIGKILL for a program being stopped (default 2s)")
	f.IntVar(&o.maxChildren, "max-children", 0, "programs running at once (default 4 × CPUs)")
	f.DurationVar(&o.queueTimeout, "queue-timeout", 0, "longest wait for a free program slot before 503 (default 10s)")
	f.Int64Var(&o.maxBody, "max-body", 0, "largest request body in bytes; more gets 413 (default 1 GiB)")
	f.BoolVar(&o.strict, "strict", false, "response violations are errors (500) instead of repaired and warned")
	f.BoolVar(&o.passAuth, "pass-authorization", false, "pass the Authorization header to programs (HTTP front-end)")
	f.StringVar(&o.logLevel, "log-level", o.logLevel, "log `LEVEL`: trace, debug, info, warn, error")
	f.StringVar(&o.logFormat, "log-format", o.logFormat, "log format: text or json")
	return cmd
}

// newLogger returns the daemon's logger, writing to w.
func newLogger(o serveOptions, w io.Writer) (hclog.Logger, error) {
	level := hclog.LevelFromString(o.logLevel)
	if level == hclog.NoLevel {
		return nil, usageError{fmt.Errorf("unknown log level %q", o.logLevel)}
	}
	if o.logFormat != "text" && o.logFormat != "json" {
		return nil, usageError{fmt.Errorf("unknown log format %q (want text or json)", o.logFormat)}
	}
	return hclog.New(&hclog.LoggerOptions{
		Name:       "gatewayd",
		Level:      level,
		Output:     w,
		JSONFormat: o.logFormat == "json",
	}), nil
}

// serve runs the daemon until SIGINT or SIGTERM, then drains it.
func serve(ctx context.Context, o serveOptions, program []string, stderr io.Writer) error {
	log, err := newLogger(o, stderr)
	if err != nil {
		return err
	}
	software := "gatewayd/" + gatewayVersion()
	cfg := handler.Config{
		Root:           o.root,
		Timeout:        o.timeout,
		HeaderTimeout:  o.headerTimeout,
		IdleTimeout:    o.idleTimeout,
		MaxBody:        o.maxBody,
		Strict:         o.strict,
		ServerSoftware: software,
		Logger:         log.Named("handler"),
	}
	var runner *subprocess.Runner
	switch {
	case o.root != "" || len(program) > 0:
		runner = subprocess.New(subprocess.Config{
			MaxChildren:  o.maxChildren,
			QueueTimeout: o.queueTimeout,
			KillGrace:    o.killGrace,
		})
		defer runner.Close()
		cfg.App = runner
		if len(program) > 0 {
			cfg.Program, cfg.Args = program[0], program[1:]
		}
	default:
		cfg.App = demo.App{}
	}
	h, err := handler.New(cfg)
	if err != nil {
		return err
	}

	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for _, addr := range o.httpAddrs {
		l, err := listen(addr)
		if err != nil {
			return err
		}
		listeners = append(listeners, l)
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv := gwhttp.New(gwhttp.Config{
		Handler:           h,
		ServerSoftware:    software,
		PassAuthorization: o.passAuth,
		Logger:            log.Named("http"),
	})
	errc := make(chan error, len(listeners))
	var wg sync.WaitGroup
	for _, l := range listeners {
		what := "the demo app"
		switch {
		case o.root != "":
			what = "scripts under " + o.root
		case len(program) > 0:
			what = program[0]
		}
		log.Info("serving "+what, "url", listenURL(l), "cpus", runtime.NumCPU())
		wg.Go(func() {
			if err := srv.Serve(l); !errors.Is(err, nethttp.ErrServerClosed) {
				errc <- fmt.Errorf("serve %s: %w", l.Addr(), err)
			}
		})
	}

	select {
	case <-ctx.Done():
		log.Info("shutting down: finishing requests in flight")
	case err = <-errc:
		log.Error("listener failed; shutting down", "error", err)
	}
	stop() // a second signal kills the process
	drain, cancel := context.WithTimeout(context.Background(), o.timeout+5*time.Second)
	defer cancel()
	if serr := srv.Shutdown(drain); serr != nil {
		log.Warn("requests still running at the end of the drain", "error", serr)
	}
	wg.Wait()
	log.Info("stopped")
	return err
}
