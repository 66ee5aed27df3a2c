package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"gatewayd/cmd/gatewayd/internal/conform"
	"gatewayd/environ"
	"gatewayd/handler"
)

// checkOptions are the flags of `gatewayd check`.
type checkOptions struct {
	method, path, query, body, profile string
	header, env                        []string
	json                               bool
	timeout                            time.Duration
}

func newCheckCmd(stdout io.Writer) *cobra.Command {
	var o checkOptions
	cmd := &cobra.Command{
		Use:   "check [flags] PROGRAM [ARG...]",
		Short: "Check that a CGI program's response conforms, as wsgiref.validate does",
		Long: `Run PROGRAM once, with ARGs, as gatewayd serve runs it behind the web
server --profile names (nginx over FastCGI, Apache or IIS through gatewayd
cgi, or gatewayd's own HTTP front-end), with the request the flags build,
gatewayd's clean environment and its limits. Then print every rule the
response broke, each with its id, the line at fault and what to change, and
the response as gatewayd forwards it: in gateway form ("Status: 200 OK", to
web servers) and from gatewayd serve --http.

A violation is an error (gatewayd answers 500 or 504, or the response
breaks on the wire, in every mode), repaired (gatewayd repairs it and logs
a warning; serve --strict answers 500) or a warning (forwarded as it is,
but most likely a mistake). A program that runs, reads its body and ends
may have warnings only: it conforms, and serve --strict forwards its
response unchanged.

Exit status: 0 conforming, 1 errors or repairs, 2 a wrong command line or
a program that could not be run.

--json prints the same report as one JSON object (see
cmd/gatewayd/internal/conform's documentation for its fields).

The rules:
` + rulesHelp(),
		Example: `  gatewayd check /usr/lib/cgi-bin/hello.sh
  gatewayd check --method POST --body 'name=gatewayd' --header 'Content-Type: application/x-www-form-urlencoded' ./form.cgi
  gatewayd check --profile apache --path /cgi-bin/app.cgi/extra --query 'a=1' /usr/lib/cgi-bin/app.cgi
  gatewayd check --env GIT_PROJECT_ROOT=/srv/git --env GIT_HTTP_EXPORT_ALL=1 \
    --path /project.git/info/refs --query service=git-upload-pack /usr/lib/git-core/git-http-backend`,
		Args: usageArgs(func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return errors.New("check: no PROGRAM")
			}
			return nil
		}),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCheck(cmd, o, args, stdout)
		},
	}
	cmd.Flags().SetInterspersed(false) // flags after PROGRAM are its arguments
	f := cmd.Flags()
	f.StringVar(&o.method, "method", "", "request method (default GET, or POST with --body)")
	f.StringVar(&o.path, "path", "", "URL `PATH` (default / for nginx and http, /cgi-bin/PROGRAM for apache and iis)")
	f.StringVar(&o.query, "query", "", "query string, without '?'")
	f.StringArrayVar(&o.header, "header", nil, "request header `'Name: value'` (repeatable)")
	f.StringArrayVar(&o.env, "env", nil, "give the program `NAME=VALUE` too, as a mount's env does (repeatable)")
	f.StringVar(&o.body, "body", "", "request body: `STRING`, or @FILE for a file's content")
	f.StringVar(&o.profile, "profile", "nginx", "the web server whose request is played: "+strings.Join(conform.Profiles, ", "))
	f.BoolVar(&o.json, "json", false, "print the report as JSON")
	f.DurationVar(&o.timeout, "timeout", handler.DefaultTimeout, "longest the program may run")
	return cmd
}

// rulesHelp lists the rules for --help.
func rulesHelp() string {
	var b strings.Builder
	for _, r := range handler.Rules() {
		fmt.Fprintf(&b, "  %-28s %-8s %s\n", r.ID, r.Severity, r.Says)
	}
	return b.String()
}

func runCheck(cmd *cobra.Command, o checkOptions, args []string, stdout io.Writer) error {
	req := conform.Request{Method: o.method, Path: o.path, Query: o.query, Header: o.header}
	if cmd.Flags().Changed("body") {
		req.Body = []byte(o.body)
		if name, ok := strings.CutPrefix(o.body, "@"); ok {
			b, err := os.ReadFile(name)
			if err != nil {
				return usageError{fmt.Errorf("check: --body: %w", err)}
			}
			req.Body = b
		}
	}
	env := environ.Environ{}
	for _, kv := range o.env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return usageError{fmt.Errorf("check: --env %q: want NAME=VALUE", kv)}
		}
		env[k] = v
	}
	report, err := conform.Run(cmd.Context(), conform.Options{
		Program: args[0], Args: args[1:], Profile: o.profile, Request: req, Env: env,
		Timeout: o.timeout, ServerSoftware: serverSoftware(),
	})
	if _, ok := errors.AsType[*conform.UsageError](err); ok {
		return usageError{fmt.Errorf("check: %w", err)}
	} else if err != nil {
		// Not a usage error, but the same status: no check was made.
		return exitStatus{exitUsage, fmt.Errorf("check: %w", err)}
	}
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(report)
	} else {
		err = report.WriteText(stdout)
	}
	if err != nil {
		return err
	}
	if !report.Conforming {
		return exitStatus{code: exitError}
	}
	return nil
}
