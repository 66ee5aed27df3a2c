package handler

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"gatewayd/environ"
)

// Config configures a Handler. Zero fields take the default their comment
// gives; New validates the rest.
type Config struct {
	// App runs what routing chose. Required.
	App App
	// Root, when set, makes every request run the script its URL names, if
	// that script lies inside Root (see Handler.route).
	Root string
	// ScriptFiles says that the files under Root are scripts the App reads
	// (php-cgi, a FastCGI worker, interprets them) rather than programs to
	// run: they need not be executable, and the App is told which one by
	// SCRIPT_FILENAME, with no Call.Program.
	ScriptFiles bool
	// Program, when set and Root is not, is run for every request, with Args.
	Program string
	Args    []string

	// Env holds variables given to every program, below the request's own.
	Env environ.Environ
	// PassEnv names the variables copied from the daemon's environment.
	// Default: PATH.
	PassEnv []string

	// Timeout bounds a whole request. Default: 60s.
	Timeout time.Duration
	// HeaderTimeout bounds the time until the program's header block is
	// complete. Default: Timeout.
	HeaderTimeout time.Duration
	// IdleTimeout bounds the time without any body or output byte moving.
	// Default: Timeout.
	IdleTimeout time.Duration

	// MaxHeaderBytes bounds the program's header block. Default: 64 KiB.
	MaxHeaderBytes int
	// MaxBody bounds the request body; a longer one gets 413. Default: 1 GiB.
	MaxBody int64
	// StreamUnknownLength passes a body of unknown length to the program as
	// a stream without CONTENT_LENGTH, instead of spooling it to a temporary
	// file to count it (RFC 3875 §4.2 wants CONTENT_LENGTH).
	StreamUnknownLength bool
	// ReadBodyFirst reads a body of known length whole, in memory or a
	// temporary file, before the program starts, instead of streaming it:
	// for web servers that write the whole body before reading any output
	// (Apache's mod_cgi). A body that ends early then means the client went
	// away: nothing runs and nothing is written.
	ReadBodyFirst bool
	// TempDir is where bodies are spooled. Default: os.TempDir().
	TempDir string

	// Strict turns response violations that would be repaired into errors.
	Strict bool
	// ServerSoftware is the default SERVER_SOFTWARE. Default: "gatewayd".
	ServerSoftware string
	// ErrorStatus, ErrorHeaders and ErrorBody make the page sent when the
	// program fails before its headers. Defaults: wsgiref's
	// "500 Internal Server Error", Content-Type text/plain and
	// "A server error occurred.  Please contact the administrator.".
	ErrorStatus  Status
	ErrorHeaders []Field
	ErrorBody    []byte

	// Logger receives one line per request. Default: no logging.
	Logger hclog.Logger
	// Observer, when set, is told how each request ended (for metrics).
	Observer Observer
	// NoAccessLog leaves out the info line of each request that succeeds
	// (the access log); failures, aborts and repaired responses are still
	// logged.
	NoAccessLog bool
}

// Defaults of Config.
const (
	DefaultTimeout        = 60 * time.Second
	DefaultMaxHeaderBytes = 64 << 10
	DefaultMaxBody        = 1 << 30
	DefaultServerSoftware = "gatewayd"
	// DefaultErrorBody is wsgiref's error_body.
	DefaultErrorBody = "A server error occurred.  Please contact the administrator."
)

// DefaultPassEnv returns the default of Config.PassEnv: PATH alone.
func DefaultPassEnv() []string { return []string{"PATH"} }

// DefaultErrorStatus returns the default of Config.ErrorStatus, wsgiref's
// error_status: 500 Internal Server Error.
func DefaultErrorStatus() Status {
	return Status{Code: http.StatusInternalServerError, Reason: "Internal Server Error"}
}

// DefaultErrorHeaders returns the default of Config.ErrorHeaders, wsgiref's
// error_headers: Content-Type text/plain.
func DefaultErrorHeaders() []Field { return []Field{{"Content-Type", "text/plain"}} }

// maxRedirects bounds the local redirects of one request.
const maxRedirects = 10

// Handler is the pipeline. It is safe for concurrent use.
type Handler struct {
	cfg  Config
	base environ.Environ // PassEnv from the daemon's environment, then Env
	root string          // Root resolved through symlinks
	log  hclog.Logger
	ids  atomic.Uint64

	// Set by NewMux before the first request, when the Handler is a mount.
	mux    *Mux   // routes local redirects, which may leave the mount
	prefix string // the mount's prefix; "" for "/" or no mount
}

// New returns a Handler for cfg.
func New(cfg Config) (*Handler, error) {
	if cfg.App == nil {
		return nil, errors.New("handler: no app")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.HeaderTimeout <= 0 {
		cfg.HeaderTimeout = cfg.Timeout
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = cfg.Timeout
	}
	if cfg.MaxHeaderBytes <= 0 {
		cfg.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.PassEnv == nil {
		cfg.PassEnv = DefaultPassEnv()
	}
	if cfg.ServerSoftware == "" {
		cfg.ServerSoftware = DefaultServerSoftware
	}
	if cfg.ErrorStatus.Code == 0 {
		cfg.ErrorStatus = DefaultErrorStatus()
	}
	if cfg.ErrorHeaders == nil {
		cfg.ErrorHeaders = DefaultErrorHeaders()
	}
	if cfg.ErrorBody == nil {
		cfg.ErrorBody = []byte(DefaultErrorBody)
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	h := &Handler{cfg: cfg, log: cfg.Logger, base: environ.Environ{}}
	for _, k := range cfg.PassEnv {
		if v, ok := os.LookupEnv(k); ok {
			h.base[k] = v
		}
	}
	for k, v := range cfg.Env {
		h.base[k] = v
	}
	if cfg.Root != "" {
		root, err := filepath.Abs(cfg.Root)
		if err == nil {
			root, err = filepath.EvalSymlinks(root)
		}
		if err != nil {
			return nil, fmt.Errorf("handler: root: %w", err)
		}
		h.root = root
	} else if cfg.Program != "" {
		p, err := filepath.Abs(cfg.Program)
		if err != nil {
			return nil, fmt.Errorf("handler: program: %w", err)
		}
		h.cfg.Program = p
	}
	return h, nil
}

// Request is one request as a front-end decoded it.
type Request struct {
	// Env holds the request's CGI variables (RFC 3875 §4.1).
	Env environ.Environ
	// Body is the request body, or nil when there is none. At most
	// CONTENT_LENGTH bytes of it are read; when CONTENT_LENGTH is absent or
	// empty its length is unknown.
	Body io.Reader
	// ID names the request in logs; New makes one up when it is empty.
	ID string
	// Frontend names the protocol the request came in on ("http",
	// "fastcgi", "scgi", "cgi"), for the access log.
	Frontend string
	// Stderr, when not nil, receives the programs' standard error instead
	// of the log.
	Stderr io.Writer
	// Refuse, when set, is why the front-end will not have the request
	// run (an HTTP request whose framing is ambiguous, say): nothing runs,
	// and the pipeline answers with the error page of the status Refuse
	// carries (StatusOf) and logs the request with it.
	Refuse error
}

// Result says how a request ended, for front-ends that report it (FastCGI's
// END_REQUEST).
type Result struct {
	// Status is the status sent, or 0 when none could be.
	Status int
	// Exit is how the last program run ended.
	Exit Exit
	// BodyBytes counts the body bytes sent.
	BodyBytes int64
	// Err is why the request failed, or nil.
	Err error
	// Aborted is set when the response was cut short after its header
	// went out: a program stopped mid-body by a timeout, or a client that
	// went away. The front-end must not end such a response the way it
	// ends a complete one (the HTTP front-end drops the connection
	// without the last chunk).
	Aborted bool
}

// Causes of a context ending early, distinguished in the log and status.
var (
	errTimeout       = errors.New("handler: request timed out")
	errHeaderTimeout = errors.New("handler: no complete header block in time")
	errIdleTimeout   = errors.New("handler: no I/O in time")
	errClientGone    = errors.New("handler: client went away")
)

// Serve runs the pipeline for req and writes the response to w. It never
// panics and writes exactly one log line. It flushes w when the program's
// output pauses; completing the response after Serve returns is the
// front-end's part.
func (h *Handler) Serve(ctx context.Context, req *Request, w ResponseWriter) (res Result) {
	growStack()
	start := time.Now()
	id := req.ID
	if id == "" {
		id = strconv.FormatUint(h.ids.Add(1), 10)
	}
	s := &serve{h: h, w: w, log: h.log.With("request_id", id), id: id, stderr: req.Stderr, frontend: req.Frontend}
	s.env = h.buildEnv(req.Env)
	if dropped := s.env.DropCaseDuplicates(); dropped != nil {
		s.log.Warn("variables whose names differ only in case from others dropped", "dropped", dropped)
	}
	defer func() {
		if p := recover(); p != nil {
			s.fail(fmt.Errorf("handler: panic: %v\n%s", p, debug.Stack()))
		}
		res = s.result
		d := time.Since(start)
		s.logRequest(d)
		if o := s.h.cfg.Observer; o != nil {
			o.Observe(Outcome{Mount: s.mount(), Frontend: s.frontend,
				Status: s.result.Status, Duration: d, Stop: s.stopReason()})
		}
	}()
	if req.Refuse != nil {
		s.fail(req.Refuse)
		return s.result
	}
	s.run(ctx, req.Body)
	return s.result
}

// buildEnv layers the request's variables over the base environment and
// adds the gateway's own (pipeline step 1).
func (h *Handler) buildEnv(req environ.Environ) environ.Environ {
	env := make(environ.Environ, len(h.base)+len(req)+4)
	for k, v := range h.base {
		env[k] = v
	}
	for k, v := range req {
		env[k] = v
	}
	// httpoxy: HTTP_PROXY never reaches a program, whoever sent it.
	delete(env, "HTTP_PROXY")
	// Nor do systemd's variables for gatewayd itself: a program that
	// found NOTIFY_SOCKET could tell systemd gatewayd is ready, or
	// stopping, and LISTEN_* name descriptors it does not have.
	for _, k := range systemdVars {
		delete(env, k)
	}
	delete(env, "HTTP_CONTENT_TYPE")
	delete(env, "HTTP_CONTENT_LENGTH")
	if env["CONTENT_LENGTH"] == "" {
		delete(env, "CONTENT_LENGTH") // nginx sends "" for no body
	}
	env["GATEWAY_INTERFACE"] = "CGI/1.1" // RFC 3875 §4.1.4
	setDefault(env, "SERVER_SOFTWARE", h.cfg.ServerSoftware)
	setDefault(env, "QUERY_STRING", "") // RFC 3875 §4.1.7: always set
	setDefault(env, "SCRIPT_NAME", "")  // RFC 3875 §4.1.13: always set
	return env
}

// systemdVars are the variables systemd sets for the service it runs
// (sd_listen_fds(3), sd_notify(3), sd_watchdog_enabled(3)).
var systemdVars = []string{"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", "NOTIFY_SOCKET", "WATCHDOG_PID", "WATCHDOG_USEC"}

func setDefault(env environ.Environ, k, v string) {
	if _, ok := env[k]; !ok {
		env[k] = v
	}
}

// serve is the state of one request; one goroutine owns it.
type serve struct {
	h        *Handler
	w        ResponseWriter
	log      hclog.Logger
	id       string
	env      environ.Environ
	stderr   io.Writer // the front-end's sink for program stderr, or nil
	frontend string    // Request.Frontend

	ctx    context.Context
	cancel context.CancelCauseFunc
	act    activity

	program     string // the program of the last dispatch
	started     bool   // the app was asked to start a program
	ran         bool   // and it did
	headersSent bool
	violations  []Violation
	result      Result
	reason      error // why the request failed, for the log
}

func (s *serve) run(parent context.Context, body io.Reader) {
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	s.ctx, s.cancel = ctx, cancel
	total := time.AfterFunc(s.h.cfg.Timeout, func() { cancel(errTimeout) })
	defer total.Stop()
	idle := s.act.watch(s.h.cfg.IdleTimeout, func() { cancel(errIdleTimeout) })
	defer idle.Stop()

	in, cleanup, err := s.prepareBody(body)
	if err != nil {
		s.fail(err)
		return
	}
	defer cleanup()

	env := s.env
	for hop := 0; ; hop++ {
		if hop > maxRedirects {
			s.fail(fmt.Errorf("handler: more than %d local redirects", maxRedirects))
			return
		}
		next, done := s.dispatch(env, in)
		if done {
			return
		}
		env, in = next, http.NoBody
		if s.h.mux != nil {
			s.h = s.h.mux.pick(env) // the redirect may lead to another mount
		}
	}
}

// dispatch routes env, runs the app and handles its response. It returns
// the environment of a local redirect to follow, or done.
func (s *serve) dispatch(env environ.Environ, body io.Reader) (redirect environ.Environ, done bool) {
	s.started, s.ran = false, false
	call, err := s.h.route(env)
	if err != nil {
		s.fail(err)
		return nil, true
	}
	call.ID, call.Log, call.Body, call.Stderr = s.id, s.log, body, s.stderr
	s.program = call.Program
	s.started = true
	run, err := s.h.cfg.App.Start(s.ctx, call)
	if err != nil {
		s.fail(s.cause(err))
		return nil, true
	}
	s.ran = true
	// Wait must follow whatever happens below.
	waited := false
	wait := func() {
		if !waited {
			waited = true
			s.result.Exit = run.Wait()
		}
	}
	defer wait()

	out := outputReaders.Get().(*bufio.Reader)
	out.Reset(s.act.reader(run))
	defer func() {
		out.Reset(nil)
		outputReaders.Put(out)
	}()
	headerTimer := time.AfterFunc(s.h.cfg.HeaderTimeout, func() { s.cancel(errHeaderTimeout) })
	var resp *Response
	if IsNPH(call.Program) {
		if raw, ok := s.w.(RawWriter); ok {
			headerTimer.Stop()
			s.passRaw(raw, out)
			return nil, true
		}
		resp, err = ReadNPHResponse(out, s.h.cfg.MaxHeaderBytes)
	} else {
		resp, err = ReadResponse(out, s.h.cfg.MaxHeaderBytes)
	}
	headerTimer.Stop()
	if err != nil {
		s.cancel(errBadResponse)
		wait()
		s.fail(s.cause(s.programErr(err)))
		return nil, true
	}
	if resp.Kind == LocalRedirect {
		// RFC 3875 §6.2.2: the body, if any, is not for the client.
		_, err := io.Copy(io.Discard, out)
		wait()
		if err != nil || s.ctx.Err() != nil {
			s.fail(s.cause(err))
			return nil, true
		}
		loc, _ := resp.Header.Get("Location")
		return redirectEnv(env, loc), false
	}
	s.violations = Check(resp)
	if s.h.cfg.Strict && len(s.violations) > 0 {
		s.cancel(errBadResponse)
		wait()
		s.fail(s.programErr(fmt.Errorf("%w: %s", ErrViolation, joinViolations(s.violations))))
		return nil, true
	}
	s.send(resp, out)
	wait()
	return nil, true
}

// programErr says which program err is about, when one ran.
func (s *serve) programErr(err error) error {
	if s.program == "" {
		return err
	}
	return fmt.Errorf("%s: %w", s.program, err)
}

// Buffers for reading programs' output, reused across requests. A body
// is copied 64 KiB at a time: a program's stdout pipe holds 256 KiB (see
// the subprocess runner), and a FastCGI connection's writer a whole
// record, so that each chunk is one read and, socket permitting, one
// write.
var (
	outputReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 32<<10) }}
	copyBuffers   = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}
)

// errBadResponse ends a program whose output was rejected.
var errBadResponse = errors.New("handler: response rejected")

// ErrViolation is the cause when strict mode rejects a response that
// lenient mode would have repaired.
var ErrViolation = errors.New("handler: response violates RFC 3875")

// send emits resp and streams the body from out. Headers go out with the
// first body bytes, or at the end with Content-Length: 0 when there are none
// (wsgiref's finish_content).
func (s *serve) send(resp *Response, out *bufio.Reader) {
	bp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bp)
	buf := *bp
	fl := newIdleFlusher(s.w, func(error) { s.cancel(errClientGone) })
	for {
		n, err := out.Read(buf)
		if n > 0 {
			if !s.headersSent && !s.writeHeader(resp.Status, resp.Header) {
				fl.stop()
				return
			}
			if werr := fl.write(buf[:n], out.Buffered() == 0); werr != nil {
				fl.stop()
				s.clientGone(werr)
				return
			}
			s.result.BodyBytes += int64(n)
			s.act.touch()
		}
		if err == io.EOF {
			if s.ctx.Err() != nil {
				// The output ended because the program was stopped (a
				// timeout, the client gone), not because it was complete.
				fl.stop()
				s.fail(s.cause(nil))
				return
			}
			break
		}
		if err != nil {
			if ferr := fl.stop(); ferr != nil {
				s.clientGone(ferr)
			} else {
				s.fail(s.cause(err))
			}
			return
		}
	}
	if err := fl.stop(); err != nil {
		s.clientGone(err)
		return
	}
	if !s.headersSent {
		if _, err := resp.Header.SetDefault("Content-Length", "0"); err != nil {
			s.fail(err)
			return
		}
		s.writeHeader(resp.Status, resp.Header)
	}
}

func (s *serve) writeHeader(st Status, h *Headers) bool {
	s.headersSent = true
	s.result.Status = st.Code
	if err := s.w.WriteHeader(st, h); err != nil {
		s.clientGone(err)
		return false
	}
	return true
}

// passRaw copies an NPH program's output to the client unmodified.
func (s *serve) passRaw(raw RawWriter, out io.Reader) {
	s.headersSent = true
	conn, err := raw.Raw()
	if err != nil {
		s.fail(err)
		return
	}
	defer conn.Close()
	n, err := io.Copy(conn, out)
	s.result.BodyBytes = n
	s.result.Status = -1 // unknown: the program wrote the status line
	if err != nil {
		s.clientGone(err)
	}
}

// cause returns the reason err happened: the context's cause when it ended
// early, else err itself.
func (s *serve) cause(err error) error {
	if c := context.Cause(s.ctx); c != nil && !errors.Is(c, errBadResponse) {
		if errors.Is(c, context.Canceled) {
			return errClientGone
		}
		return c
	}
	if err == nil {
		err = errors.New("handler: unknown error")
	}
	return err
}

// clientGone records a failed write to the client and stops the program.
func (s *serve) clientGone(err error) {
	s.cancel(errClientGone)
	s.result.Err = fmt.Errorf("%w: %v", errClientGone, err)
	s.reason = s.result.Err
	s.result.Aborted = s.headersSent
}

// fail ends the request with an error: the error page when no header was
// sent yet, else just the end of the stream.
func (s *serve) fail(err error) {
	s.result.Err, s.reason = err, err
	if s.cancel != nil {
		s.cancel(errBadResponse)
	}
	if s.headersSent {
		s.result.Aborted = true
		return
	}
	if errors.Is(err, errClientGone) {
		return
	}
	st := s.h.errorStatus(err)
	h, page := s.h.errorPage(st)
	if s.writeHeader(st, h) {
		if _, err := s.w.Write(page); err == nil {
			s.result.BodyBytes = int64(len(page))
		}
	}
}

// errorStatus maps a failure to the status the client gets.
func (h *Handler) errorStatus(err error) Status {
	code := StatusOf(err)
	switch {
	case IsTimeout(err):
		code = http.StatusGatewayTimeout
	}
	if code == http.StatusInternalServerError {
		return h.cfg.ErrorStatus
	}
	return Status{Code: code, Reason: http.StatusText(code)}
}

// errorPage returns the header block and body of the error page for st.
func (h *Handler) errorPage(st Status) (*Headers, []byte) {
	body := h.cfg.ErrorBody
	fields := h.cfg.ErrorHeaders
	if st != h.cfg.ErrorStatus {
		body = []byte(st.String() + "\n")
		fields = []Field{{"Content-Type", "text/plain"}}
	}
	hd, err := NewHeaders(fields...)
	if err != nil {
		hd = &Headers{}
	}
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	return hd, body
}

func joinViolations(vs []Violation) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = v.String()
	}
	return strings.Join(parts, "; ")
}

// logRequest writes the request's one log line.
func (s *serve) logRequest(d time.Duration) {
	uri := s.env["REQUEST_URI"]
	if uri == "" {
		uri = s.env["SCRIPT_NAME"] + s.env["PATH_INFO"]
		if q := s.env["QUERY_STRING"]; q != "" {
			uri += "?" + q
		}
	}
	var kv []any
	if s.frontend != "" {
		kv = append(kv, "frontend", s.frontend)
	}
	if s.h.mux != nil && s.h != s.h.mux.notFound {
		kv = append(kv, "mount", s.mount())
	}
	kv = append(kv,
		"method", s.env["REQUEST_METHOD"], "uri", uri,
		"status", s.result.Status, "bytes", s.result.BodyBytes,
		"duration", d.Round(time.Microsecond),
	)
	if s.program != "" {
		kv = append(kv, "program", s.program)
	}
	if ex := s.result.Exit; ex.Pid != 0 {
		kv = append(kv, "pid", ex.Pid, "exit_status", ex.Code)
		if ex.Signal != "" {
			kv = append(kv, "signal", ex.Signal)
		}
	}
	switch {
	case s.reason != nil && errors.Is(s.reason, errClientGone):
		s.log.Warn("request aborted", append(kv, "reason", s.reason.Error())...)
	case s.reason != nil && s.result.Status >= 400 && s.result.Status < 500:
		// The client's error (404, 403, 413…): worth a look, not an alarm.
		s.log.Warn("request rejected", append(kv, "reason", s.reason.Error())...)
	case s.reason != nil:
		kv = append(kv, "reason", s.reason.Error())
		if t := s.result.Exit.Stderr; t != "" {
			kv = append(kv, "stderr_tail", t)
		}
		s.log.Error("request failed", kv...)
	case len(s.violations) > 0:
		s.log.Warn("response repaired", append(kv, "repaired", joinViolations(s.violations))...)
	case !s.h.cfg.NoAccessLog:
		s.log.Info("request", kv...)
	}
}

// IsNPH reports whether program is a non-parsed-header program, by the
// convention the pipeline follows: its name begins with "nph-" (RFC 3875
// §5).
func IsNPH(program string) bool { return strings.HasPrefix(filepath.Base(program), "nph-") }

// IsTimeout reports whether err, a Result's Err, says the request ran
// past one of its timeouts (Config.Timeout, HeaderTimeout, IdleTimeout).
func IsTimeout(err error) bool {
	return errors.Is(err, errTimeout) || errors.Is(err, errHeaderTimeout) || errors.Is(err, errIdleTimeout)
}
