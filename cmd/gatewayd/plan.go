package main

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"gatewayd/cmd/gatewayd/internal/config"
	"gatewayd/handler/subprocess"
)

// loadPlan is the plan serve runs: the configuration file of --config, if
// given, with the command line over it, or the command line alone.
//
// The command line adds to and overrides the file: its listeners are added
// to the file's; --root or PROGRAM is the mount at "/", replacing the
// file's own; a limit flag given (--timeout, --max-children, …) sets that
// limit for every mount, a mount's own limits block included; --log-level
// and --log-format override the log block, --shutdown-timeout the file's
// shutdown_timeout, --admin the admin block.
func loadPlan(o serveOptions, program []string) (plan, config.Log, error) {
	cfg := config.Default(o.root, program)
	if o.config != "" {
		file, err := config.Load(o.config)
		if err != nil {
			return plan{}, config.Log{}, err
		}
		if o.root != "" || len(program) > 0 {
			root := cfg.Mounts[0]
			root.Limits, root.Env, root.PassEnv = file.Limits, file.Env, file.PassEnv
			file.Mounts = slices.DeleteFunc(file.Mounts, func(m config.Mount) bool { return m.Prefix == "/" })
			file.Mounts = append(file.Mounts, root)
		}
		cfg = file
	}
	if o.changed["log-level"] || o.config == "" {
		cfg.Log.Level = o.logLevel
	}
	if o.changed["log-format"] || o.config == "" {
		cfg.Log.Format = o.logFormat
	}

	p := plan{shutdown: cfg.ShutdownTimeout}
	if o.changed["shutdown-timeout"] || o.config == "" {
		p.shutdown = o.shutdownTimeout
	}
	if cfg.Admin != nil {
		p.admin = cfg.Admin.Address
	}
	if o.changed["admin"] {
		p.admin = o.admin
	}
	for _, l := range cfg.Listen {
		p.listen = append(p.listen, listenSpec{l.Protocol, l.Address})
	}
	for i := range protocols {
		for _, addr := range o.listen[protocols[i].name] {
			if s := (listenSpec{protocols[i].name, addr}); !slices.Contains(p.listen, s) {
				p.listen = append(p.listen, s)
			}
		}
	}
	if len(cfg.Mounts) == 0 {
		return plan{}, config.Log{}, usageError{errors.New("serve: nothing to serve: give PROGRAM, --root, or mount blocks in --config")}
	}
	for _, m := range cfg.Mounts {
		o.overrideLimits(&m.Limits)
		mp := mountPlan{prefix: m.Prefix, handler: m.Handler(), what: "the demo app"}
		mp.handler.Strict = o.strict
		mp.handler.StreamUnknownLength = mp.handler.StreamUnknownLength || o.streamUnknown
		mp.handler.NoAccessLog = !cfg.Log.Access
		switch {
		case m.Worker != nil:
			wc := m.WorkerConfig()
			mp.worker = &wc
			mp.what = fmt.Sprintf("%d workers of %s", wc.Processes, wc.Command[0])
		case m.FastCGI != "":
			rc := m.RemoteConfig()
			mp.remote = &rc
			mp.what = "the FastCGI server at " + m.FastCGI
		case m.Root != "" || len(m.Program) > 0:
			rc := m.Runner()
			mp.runner = &rc
			mp.what = "scripts under " + m.Root
			if m.Root == "" {
				mp.what = m.Program[0]
			}
		}
		p.mounts = append(p.mounts, mp)
	}
	return p, cfg.Log, nil
}

// overrideLimits sets in l the limits given on the command line. A
// --timeout given alone also bounds the header and idle timeouts (without
// --config it is their default, as it always was), and --max-children given
// alone sets the queue to its default for that many children.
func (o serveOptions) overrideLimits(l *config.Limits) {
	if o.changed["timeout"] {
		l.Timeout = o.timeout
		for flag, d := range map[string]*time.Duration{"header-timeout": &l.HeaderTimeout, "idle-timeout": &l.IdleTimeout} {
			if !o.changed[flag] && (o.config == "" || *d > o.timeout) {
				*d = o.timeout
			}
		}
	}
	for flag, v := range map[string]struct {
		dst *time.Duration
		val time.Duration
	}{
		"header-timeout": {&l.HeaderTimeout, o.headerTimeout},
		"idle-timeout":   {&l.IdleTimeout, o.idleTimeout},
		"kill-grace":     {&l.KillGrace, o.killGrace},
		"queue-timeout":  {&l.QueueTimeout, o.queueTimeout},
	} {
		if o.changed[flag] {
			*v.dst = v.val
		}
	}
	if o.changed["max-children"] {
		l.MaxChildren = o.maxChildren
		if !o.changed["max-queue"] {
			l.MaxQueue = subprocess.DefaultQueuePerChild * o.maxChildren
		}
	}
	if o.changed["max-queue"] {
		l.MaxQueue = o.maxQueue
	}
	if o.changed["max-body"] {
		l.MaxBody = o.maxBody
	}
}
