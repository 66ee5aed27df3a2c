package main

import (
	"context"
	"io"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"gatewayd/environ"
	"gatewayd/handler"
	"gatewayd/handler/subprocess"
	"gatewayd/iis"
	"gatewayd/protocol/cgi"
)

// cgiOptions are the flags of `gatewayd cgi`: the serve flags that bound
// and check one request, and --iis.
type cgiOptions struct {
	serveOptions
	iis bool
}

func newCGICmd(stdout, stderr io.Writer) *cobra.Command {
	o := cgiOptions{serveOptions: defaultServeOptions()}
	o.logLevel = "warn" // the web server keeps the access log; its error log gets failures
	cmd := &cobra.Command{
		Use:   "cgi [flags] [PROGRAM [ARG...]]",
		Short: "Run once as a CGI program under Apache or IIS",
		Long: `Run once as the CGI program of a web server (Apache mod_cgi or mod_cgid, IIS):
read the request from the environment and stdin, run PROGRAM with ARGs for
it, and write the response on stdout. The program gets gatewayd's clean
environment, timeouts and a validated response; a program that crashes or
prints garbage gets a clean 500 page. The exit status is 0 whenever a
response was written; log lines go to stderr, the web server's error log.

Without PROGRAM, the file PATH_TRANSLATED names is run, as Apache's Action
and IIS script maps ask; only when REDIRECT_STATUS is set (Apache sets it on
an Action's internal redirect, a client cannot) or with --iis. Otherwise the
request gets 403, so a URL cannot make gatewayd run any file.

--config FILE routes the request through the mounts of a configuration file
(see gatewayd serve --help) by SCRIPT_NAME + PATH_INFO, with each mount's
program, limits and environment; PROGRAM, if given, is the mount at "/". The
file's listen and log blocks are not used: the web server keeps the access
log.

--iis undoes IIS's PATH_INFO, which repeats SCRIPT_NAME unless the handler
mapping has allowPathInfo="true", and corrects PATH_TRANSLATED to match.
IIS cannot be told apart reliably, so it is never on by itself.`,
		Example: `  #!/bin/sh  (an Apache ScriptAlias'd wrapper)
  exec /usr/local/bin/gatewayd cgi --timeout 30s /srv/app/bin/app

  Action gatewayd-script /gw-bin/gatewayd    (with AddHandler gatewayd-script .gw)

  scriptProcessor="C:\gatewayd\gatewayd.exe cgi --iis"    (IIS web.config)`,
		// Flags are parsed in RunE, after the words of an indexed query are
		// taken off the command line: see withoutQueryArgs.
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			env := cgi.Environ()
			f := cmd.Flags()
			cmd.InitDefaultHelpFlag()
			if err := f.Parse(withoutQueryArgs(args, env["QUERY_STRING"])); err != nil {
				return usageError{err}
			}
			if help, _ := f.GetBool("help"); help {
				return cmd.Help()
			}
			o.changed = map[string]bool{}
			f.Visit(func(fl *pflag.Flag) { o.changed[fl.Name] = true })
			return runCGI(cmd.Context(), o, f.Args(), env, cmd.InOrStdin(), stdout, stderr)
		},
	}
	cmd.Flags().SetInterspersed(false) // flags after PROGRAM are its arguments
	f := cmd.Flags()
	f.StringVar(&o.config, "config", "", "route the request through the mounts of the HCL configuration `FILE` (its listen and log blocks are not used)")
	f.BoolVar(&o.iis, "iis", false, "fix IIS's PATH_INFO and PATH_TRANSLATED; run PATH_TRANSLATED without REDIRECT_STATUS")
	addRequestFlags(f, &o.serveOptions) // keep --timeout below the web server's own
	return cmd
}

// runCGI serves the one request in env: the body from stdin, the response
// to stdout, log lines to stderr. It returns an error only when no response
// could be written.
func runCGI(ctx context.Context, o cgiOptions, args []string, env environ.Environ, stdin io.Reader, stdout, stderr io.Writer) error {
	log, err := newLogger(o.serveOptions, stderr)
	if err != nil {
		return err
	}
	switch {
	case o.iis && !iis.Detect(env):
		log.Warn("--iis given, but SERVER_SOFTWARE does not name IIS", "server_software", env["SERVER_SOFTWARE"])
	case !o.iis && iis.Detect(env):
		log.Debug("IIS without --iis: PATH_INFO is taken as it is (right with allowPathInfo=\"true\")")
	}
	// The web server stops a CGI program with SIGTERM (Apache on a timeout
	// or a client gone): the program in its own process group must be
	// stopped with it. SIGPIPE, when the web server stops reading, must not
	// kill gatewayd before that either: with it notified, the write fails
	// instead, and the pipeline stops the program.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	pipe := make(chan os.Signal, 1)
	signal.Notify(pipe, syscall.SIGPIPE)
	defer signal.Stop(pipe)

	cfg := cgi.Config{IIS: o.iis, Stdin: stdin, Stdout: stdout}
	if o.config != "" {
		dep, err := configDeployment(o, args, stderr, log)
		if err != nil {
			return err
		}
		defer dep.close()
		cfg.Server = dep.server
	} else {
		runner := subprocess.New(subprocess.Config{MaxChildren: 1, KillGrace: o.killGrace})
		defer runner.Close()
		cfg.Handler = handler.Config{
			App:            runner,
			Timeout:        o.timeout,
			HeaderTimeout:  o.headerTimeout,
			IdleTimeout:    o.idleTimeout,
			MaxBody:        o.maxBody,
			Strict:         o.strict,
			ServerSoftware: serverSoftware(),
			Logger:         log.Named("cgi"),
		}
		cfg.Translated = len(args) == 0
		if len(args) > 0 {
			cfg.Handler.Program, cfg.Handler.Args = args[0], args[1:]
		}
	}
	res, err := cgi.Serve(ctx, cfg, env)
	if err != nil && res.Status == 0 && res.Err != nil {
		// The pipeline ran and its one log line says why no response
		// was written.
		return loggedError{err}
	}
	return err
}

// configDeployment builds the mounts of --config for one CGI request, each
// reading the body first as Apache needs; PROGRAM, if given, is the mount
// at "/".
func configDeployment(o cgiOptions, args []string, stderr io.Writer, log hclog.Logger) (*deployment, error) {
	p, _, err := loadPlan(o.serveOptions, args)
	if err != nil {
		return nil, configError(err, stderr)
	}
	for i := range p.mounts {
		p.mounts[i].handler.ReadBodyFirst = true
	}
	return build(p, serverSoftware(), log.Named("cgi"), nil, nil)
}

// withoutQueryArgs returns args without the words of an indexed query at
// its end. For a query without an unencoded '=' (RFC 3875 §4.4), Apache
// passes its '+'-separated words, decoded, as the arguments of a CGI
// program, and IIS does too: a wrapper that forwards "$@", or a script map
// with no %s, would let a URL such as /app?/bin/sh choose PROGRAM or set
// gatewayd's flags (php-cgi's CVE-2012-1823). So a tail of args that reads
// as those words is dropped, compared leniently (Apache escapes shell
// characters with '\'; Windows splits and quotes the command line by its
// own rules), and programs never get query words as arguments.
func withoutQueryArgs(args []string, query string) []string {
	if query == "" || strings.Contains(query, "=") {
		return args
	}
	words := strings.Split(query, "+")
	for i, w := range words {
		if d, err := url.PathUnescape(w); err == nil {
			words[i] = d
		}
	}
	want := lenient(strings.Join(words, " "))
	for j := len(args) - 1; j >= 0; j-- {
		got := lenient(strings.Join(args[j:], " "))
		if got == want {
			return args[:j]
		}
		if len(got) > len(want) {
			break
		}
	}
	return args
}

// lenient drops what a command line's escaping and quoting may add.
func lenient(s string) string {
	return strings.NewReplacer(`\`, "", `"`, "", " ", "").Replace(s)
}
