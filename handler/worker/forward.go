package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"gatewayd/handler"
	"gatewayd/protocol/fastcgi"
)

// A conn is a connection to a FastCGI application with what the pool that
// lent it needs to know.
type conn struct {
	net  net.Conn
	fcgi *fastcgi.ClientConn
}

func newConn(c net.Conn) *conn { return &conn{net: c, fcgi: fastcgi.NewClientConn(c)} }

func (c *conn) close() { c.fcgi.Close() }

// outcome is how a forwarded request ended, for the pool that lent its
// connection.
type outcome struct {
	end fastcgi.EndRequest
	// stuck is set when the application did not end the request within
	// the kill grace after FCGI_ABORT_REQUEST: a worker process must be
	// replaced.
	stuck bool
	err   error
}

// forward is one request running on a FastCGI application: the handler.Run
// of a Pool and of a Remote.
type forward struct {
	c       *conn
	req     *fastcgi.ClientRequest
	grace   time.Duration
	errLog  *handler.StderrLog
	pid     int
	release func(outcome) // gives the connection back; called once, by Wait

	stop      func() bool   // unregisters abortOnCancel
	abortDone chan struct{} // closed when abortOnCancel returns
	aborted   bool          // FCGI_ABORT_REQUEST went out; read after abortDone

	// Read's and Wait's, in the pipeline's goroutine.
	got    bool // a response byte arrived
	ended  bool // End was called, with end and endErr as result
	end    fastcgi.EndRequest
	endErr error
	once   sync.Once
}

// startForward begins call on c. The request's FCGI_STDERR goes to a
// StderrLog, written only by the goroutine that reads the connection.
func startForward(ctx context.Context, c *conn, call *handler.Call, cfg *common, pid int, release func(outcome)) (*forward, error) {
	f := &forward{c: c, grace: cfg.KillGrace, pid: pid, release: release, abortDone: make(chan struct{})}
	kv := []any{"worker", cfg.Name}
	if pid != 0 {
		kv = append(kv, "pid", pid)
	}
	f.errLog = handler.NewStderrLog(call, cfg.MaxStderr, kv...)
	var body io.Reader
	if call.Body != nil && call.Body != http.NoBody {
		body = call.Body
	}
	// php-cgi exits at once on an empty SCRIPT_FILENAME or PATH_TRANSLATED;
	// absent, it answers 404 "No input file specified.".
	for _, k := range []string{"SCRIPT_FILENAME", "PATH_TRANSLATED"} {
		if v, ok := call.Env[k]; ok && v == "" {
			delete(call.Env, k)
		}
	}
	req, err := c.fcgi.Do(call.Env, body, f.errLog)
	if err != nil {
		return nil, err
	}
	f.req = req
	f.stop = context.AfterFunc(ctx, f.abortOnCancel)
	return f, nil
}

// abortOnCancel runs when the request's context ends before Wait: a
// timeout, a client that went away. It asks the application to end the
// request and wakes a Read blocked on the connection.
func (f *forward) abortOnCancel() {
	defer close(f.abortDone)
	f.aborted = true
	f.req.Abort()
	f.c.net.SetReadDeadline(time.Now())
}

// Read reads the application's STDOUT stream: the CGI response. An
// application that refuses the request in END_REQUEST (FCGI_OVERLOADED)
// makes it fail with the matching status.
func (f *forward) Read(p []byte) (int, error) {
	n, err := f.req.Read(p)
	if n > 0 {
		f.got = true
	}
	switch {
	case err == nil:
		return n, nil
	case err == io.EOF:
		f.ended = true
		f.end, f.endErr = f.req.End()
		if perr := protocolError(f.end.ProtocolStatus); perr != nil && !f.got {
			return n, perr
		}
		return n, io.EOF
	case errors.Is(err, io.ErrUnexpectedEOF):
		return n, fmt.Errorf("worker: the application closed the connection before ending the request: %w", err)
	}
	return n, err
}

// Wait ends the request and hands the connection back. After an abort it
// does not wait: the application gets the kill grace to send END_REQUEST
// in the background while the client has its error page, and then its
// worker is taken back, or killed when END_REQUEST did not come.
func (f *forward) Wait() handler.Exit {
	var ex handler.Exit
	f.once.Do(func() {
		if !f.stop() {
			<-f.abortDone // abortOnCancel ran or is running; let it finish
		}
		// Code is the application's status from END_REQUEST, or -1 when
		// none came (yet).
		ex = handler.Exit{Pid: f.pid, Code: -1}
		if f.aborted && !f.ended {
			ex.Err = errors.New("worker: request aborted by the gateway")
			ex.Stderr = f.errLog.Tail()
			go f.finish()
			return
		}
		o := f.finish()
		ex.Stderr = f.errLog.Tail()
		if o.err == nil {
			ex.Code = int(o.end.AppStatus)
		}
		switch {
		case f.aborted:
			ex.Err = errors.New("worker: request aborted by the gateway")
		case o.err != nil:
			ex.Err = o.err
		}
	})
	return ex
}

// finish reads the application's response to its end, within the kill
// grace after an abort, and releases the connection.
func (f *forward) finish() outcome {
	end, err := f.end, f.endErr
	if !f.ended {
		if f.aborted {
			f.c.net.SetReadDeadline(time.Now().Add(f.grace))
		}
		end, err = f.req.End()
	}
	f.c.net.SetReadDeadline(time.Time{})
	f.errLog.Close()
	o := outcome{end: end, err: err}
	if f.aborted {
		// The abort may cross END_REQUEST on the wire, and the next
		// request on the connection would have the same id: it carries
		// no other.
		o.end.Reusable = false
	}
	var ne net.Error
	if f.aborted && errors.As(err, &ne) && ne.Timeout() {
		o.stuck = true
		o.err = fmt.Errorf("worker: no END_REQUEST within %v of FCGI_ABORT_REQUEST", f.grace)
	}
	f.release(o)
	return o
}

// common holds the settings Pool and Remote share.
type common struct {
	Name      string
	KillGrace time.Duration
	MaxStderr int
}

// protocolError turns an END_REQUEST that refused the request into the
// error the client's status comes from.
func protocolError(status uint8) error {
	switch status {
	case fastcgi.StatusOverloaded:
		return &handler.Error{Status: http.StatusServiceUnavailable, Err: fmt.Errorf("worker: FastCGI application overloaded: %w", handler.ErrOverloaded)}
	case fastcgi.StatusCantMpxConn:
		return errors.New("worker: FastCGI application refused the request: FCGI_CANT_MPX_CONN")
	case fastcgi.StatusUnknownRole:
		return errors.New("worker: FastCGI application refused the request: FCGI_UNKNOWN_ROLE")
	}
	return nil
}
