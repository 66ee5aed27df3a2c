package cgi

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"gatewayd/environ"
	"gatewayd/handler"
	"gatewayd/iis"
)

// Config configures Serve. Zero fields take the default their comment gives.
type Config struct {
	// Handler configures the pipeline that runs the request; its App is
	// required (a subprocess.Runner for programs). PassEnv defaults to
	// none, not to PATH: the environment gatewayd was given is the
	// request's, PATH included (see the package doc). MaxBody and TempDir
	// also bound and place the spooled request body.
	Handler handler.Config
	// Server, when set, serves the request in place of a pipeline made from
	// Handler: a table of mounts from a configuration file, say. Its
	// pipelines must read the body first (handler.Config.ReadBodyFirst),
	// as Apache writes the whole body before it reads any output; Handler
	// and Translated are not used.
	Server handler.Server

	// Translated runs the program PATH_TRANSLATED names when
	// Handler.Program is empty: the file of an Apache Action or an IIS
	// script map. It is allowed only when REDIRECT_STATUS is set (Apache
	// sets it on the internal redirect of an Action; a client cannot) or
	// IIS is; otherwise the request gets 403.
	Translated bool
	// IIS applies the IIS fix-ups (iis.Fix) to the environment and lets
	// Translated run PATH_TRANSLATED without REDIRECT_STATUS.
	IIS bool

	// Stdin delivers the request body. Default: os.Stdin.
	Stdin io.Reader
	// Stdout receives the response. Default: os.Stdout.
	Stdout io.Writer
}

// ErrNoResponse is wrapped by the error Serve returns when no complete
// response reached Stdout, so the process should exit with a failure.
var ErrNoResponse = errors.New("cgi: no response written")

// Serve runs the one request env describes (Environ gives the process's
// own) through the pipeline and writes the response in gateway form on
// Stdout, flushed. It reads CONTENT_LENGTH bytes of body from Stdin before
// the program starts.
//
// The Result is the pipeline's. The error is nil when a complete response
// was written, whatever its status: a program that crashed got its 500 page
// and the web server judges by that. It is non-nil when nothing could be:
// the body ended early, Stdout failed, or Config is invalid.
func Serve(ctx context.Context, cfg Config, env environ.Environ) (handler.Result, error) {
	env = env.Clone()
	h := cfg.Server
	if h == nil {
		hc := cfg.Handler
		if hc.App == nil {
			return handler.Result{}, errors.New("cgi: no app")
		}
		if cfg.Translated && hc.Program == "" {
			if prog, err := script(env, cfg.IIS); err != nil {
				hc.App = refused{err}
			} else {
				hc.Program = prog
			}
		}
		if hc.PassEnv == nil {
			hc.PassEnv = []string{}
		}
		hc.ReadBodyFirst = true
		p, err := handler.New(hc)
		if err != nil {
			return handler.Result{}, fmt.Errorf("cgi: %w", err)
		}
		h = p
	}
	if cfg.IIS {
		iis.Fix(env)
	}
	stdin, stdout := cfg.Stdin, cfg.Stdout
	if stdin == nil {
		stdin = os.Stdin
	}
	if stdout == nil {
		stdout = os.Stdout
	}
	// RFC 3875 §4.2: the body is CONTENT_LENGTH bytes of stdin; without
	// CONTENT_LENGTH there is none. It is read whole before the program
	// starts (hc.ReadBodyFirst): Apache writes all of it before it reads any
	// output, and one that ends early means the client went away.
	req := &handler.Request{Env: env, Frontend: "cgi"}
	if env["CONTENT_LENGTH"] != "" {
		req.Body = stdin
	}
	bw := bufio.NewWriterSize(stdout, 32<<10)
	res := h.Serve(ctx, req, handler.NewGatewayWriter(bw))
	// The pipeline never does the final flush: completing the response is
	// the front-end's part.
	if err := bw.Flush(); err != nil {
		return res, fmt.Errorf("%w: %w", ErrNoResponse, err)
	}
	if res.Status == 0 {
		return res, fmt.Errorf("%w: %w", ErrNoResponse, res.Err)
	}
	return res, nil
}
