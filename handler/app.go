package handler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/hashicorp/go-hclog"

	"gatewayd/environ"
)

// An App produces CGI responses: a program run as a subprocess, a persistent
// worker, or Go code in this process. The pipeline starts it once per dispatch
// (a local redirect dispatches again) and reads its output as a CGI response.
type App interface {
	// Start begins serving c and returns the running response. Cancelling
	// ctx stops the app: a subprocess has its process group terminated and
	// reaped. An error from Start means nothing ran; a *Error in its chain
	// chooses the status the client gets (503 when overloaded, 404, 403),
	// any other error gives 500.
	Start(ctx context.Context, c *Call) (Run, error)
}

// A Run is an app that has started.
type Run interface {
	// Read reads the app's output: a CGI response, that is a header block and
	// then the body (RFC 3875 §6). Output ends at io.EOF.
	io.Reader

	// Wait waits for the app to end, releases everything it holds and says
	// how it ended. It is called exactly once, after the pipeline has stopped
	// reading. When the pipeline stops early it cancels the context first, so
	// Wait never waits on output nobody reads.
	Wait() Exit
}

// Exit says how a Run ended, for the log and for FastCGI's appStatus.
type Exit struct {
	// Pid is the process id, or 0 for an app in this process.
	Pid int
	// Code is the exit status, or -1 when the process was killed by a signal.
	Code int
	// Signal names the signal that ended the process, if one did.
	Signal string
	// Err is why the app did not end by itself or could not be waited for;
	// nil after a normal exit, whatever its status.
	Err error
	// Stderr is the tail of what the app wrote on its standard error.
	Stderr string
}

// Call is what an App is given for one dispatch.
type Call struct {
	// ID names the request in logs.
	ID string
	// Env is the complete environment for the program: base variables,
	// request variables and gateway variables, already cleaned.
	Env environ.Environ
	// Body delivers exactly CONTENT_LENGTH bytes and then io.EOF; it is
	// never nil. Where the front-end's body can write itself into a
	// program's stdin, Body implements PipeBody.
	Body io.Reader
	// Program is the absolute path of the program to run; empty for apps
	// that run in this process.
	Program string
	// Args are the program's arguments after its name.
	Args []string
	// Log is the request's logger, tagged with its id.
	Log hclog.Logger
	// Stderr, when not nil, receives what the program writes on its
	// standard error instead of the log (FastCGI's FCGI_STDERR stream).
	Stderr io.Writer
}

// Error is a request failure that carries the HTTP status the client gets.
// Inner code returns it; the handler alone writes the page and logs it.
type Error struct {
	// Status is the HTTP status code of the error response.
	Status int
	// Err is the cause, for the log.
	Err error
}

func (e *Error) Error() string {
	return fmt.Sprintf("%d %s: %v", e.Status, http.StatusText(e.Status), e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given status and a formatted cause.
func Errorf(status int, format string, args ...any) error {
	return &Error{Status: status, Err: fmt.Errorf(format, args...)}
}

// ErrOverloaded is the cause when no program slot came free within the queue
// timeout. Front-ends that can say so in their protocol (FastCGI's
// FCGI_OVERLOADED) branch on it.
var ErrOverloaded = errors.New("handler: too many programs running")

// StatusOf returns the HTTP status that err asks for: the Status of the first
// *Error in its chain, or 500.
func StatusOf(err error) int {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Status
	}
	return http.StatusInternalServerError
}
