package conform

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gatewayd/environ"
	"gatewayd/handler"
	"gatewayd/handler/subprocess"
	"gatewayd/protocol/cgi"
	"gatewayd/protocol/fastcgi"
	gwhttp "gatewayd/protocol/http"
)

// Options configure a check.
type Options struct {
	// Program is the program to run, with Args.
	Program string
	Args    []string
	// Profile names the web server whose request is played (Profiles).
	// Default: nginx.
	Profile string
	Request Request
	// Env holds variables given to the program below the request's, as
	// a mount's env does.
	Env environ.Environ
	// Timeout bounds the request, as serve's --timeout does. Default:
	// handler.DefaultTimeout.
	Timeout time.Duration
	// MaxHeaderBytes bounds the program's header block. Default:
	// handler.DefaultMaxHeaderBytes.
	MaxHeaderBytes int
	// ServerSoftware is gatewayd's SERVER_SOFTWARE and Server field.
	// Default: handler.DefaultServerSoftware.
	ServerSoftware string
}

// maxCapture bounds the program's output kept for the report; the rest is
// counted.
const maxCapture = 4 << 20

// A UsageError is an Options that does not describe a check that can
// run: an unknown profile, a malformed header.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }

// Run runs o.Program once with the request o describes, as gatewayd would
// run it behind o.Profile's web server, and reports what it did. The error
// is a *UsageError for bad Options, or says why the program could not be run;
// a program that ran, however badly, gives a Report.
func Run(ctx context.Context, o Options) (*Report, error) {
	o.Profile = cmp.Or(o.Profile, "nginx")
	if !slices.Contains(Profiles, o.Profile) {
		return nil, &UsageError{fmt.Errorf("--profile %q: want one of %s", o.Profile, strings.Join(Profiles, ", "))}
	}
	o.Timeout = cmp.Or(o.Timeout, handler.DefaultTimeout)
	o.MaxHeaderBytes = cmp.Or(o.MaxHeaderBytes, handler.DefaultMaxHeaderBytes)
	o.ServerSoftware = cmp.Or(o.ServerSoftware, handler.DefaultServerSoftware)
	program, err := filepath.Abs(o.Program)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(program); err != nil {
		return nil, fmt.Errorf("cannot run %s: %w", o.Program, err)
	} else if fi.IsDir() {
		return nil, fmt.Errorf("cannot run %s: it is a directory", o.Program)
	}
	hdr, err := o.Request.header()
	if err != nil {
		return nil, &UsageError{err}
	}
	dir, err := os.MkdirTemp("", "gatewayd-check-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	c := &checker{o: o, program: program, hdr: hdr, dir: dir, path: o.Request.path(o.Profile, program)}
	runner := subprocess.New(subprocess.Config{MaxChildren: 1})
	defer runner.Close()
	c.rec = &recorder{app: runner, dir: dir}
	live, res, err := c.live(ctx)
	if err != nil {
		return nil, err
	}
	if len(c.rec.runs) == 0 {
		if c.rec.startErr != nil {
			return nil, fmt.Errorf("cannot run %s: %w", o.Program, c.rec.startErr)
		}
		return nil, fmt.Errorf("cannot run %s: %v", o.Program, cmp.Or(res.Err, errors.New("nothing ran")))
	}
	return c.report(ctx, live, res), nil
}

// checker is one check being made.
type checker struct {
	o       Options
	program string
	hdr     http.Header
	dir     string
	path    string
	rec     *recorder
}

// pipeline returns the Handler gatewayd would run the program with for
// the profile, with app in the program's place.
func (c *checker) pipeline(app handler.App, strict bool) (*handler.Handler, error) {
	cfg := handler.Config{
		App:            app,
		Program:        c.program,
		Args:           c.o.Args,
		Timeout:        c.o.Timeout,
		MaxHeaderBytes: c.o.MaxHeaderBytes,
		Strict:         strict,
		ServerSoftware: c.o.ServerSoftware,
		Env:            c.o.Env,
	}
	if c.o.Profile == "apache" || c.o.Profile == "iis" {
		// gatewayd cgi: the environment is the web server's, PATH
		// included, and the body is read before the program starts.
		cfg.PassEnv = []string{}
		cfg.ReadBodyFirst = true
	}
	return handler.New(cfg)
}

// live runs the program once through the profile's front-end and returns
// what that front-end sent.
func (c *checker) live(ctx context.Context) ([]byte, handler.Result, error) {
	h, err := c.pipeline(c.rec, false)
	if err != nil {
		return nil, handler.Result{}, err
	}
	var res handler.Result
	srv := handler.ServerFunc(func(ctx context.Context, req *handler.Request, w handler.ResponseWriter) handler.Result {
		res = h.Serve(ctx, req, w)
		return res
	})
	r := c.o.Request
	var out []byte
	switch c.o.Profile {
	case "nginx":
		out, err = fetchFastCGI(ctx, srv, c.dir, nginxParams(r, c.path, c.hdr), r.Body)
	case "apache", "iis":
		env := apacheEnv(r, c.path, c.program, c.hdr)
		if c.o.Profile == "iis" {
			env = iisEnv(r, c.path, c.program, c.hdr)
		}
		var buf bytes.Buffer
		_, err = cgi.Serve(ctx, cgi.Config{Server: srv, IIS: c.o.Profile == "iis", Stdin: bytes.NewReader(r.Body), Stdout: &buf}, env)
		out = buf.Bytes()
		if errors.Is(err, cgi.ErrNoResponse) {
			err = nil // the report says why
		}
	case "http":
		out, err = c.fetchHTTP(ctx, srv)
	}
	return out, res, err
}

// fetchFastCGI sends params and body to a gatewayd FastCGI front-end
// serving srv, as nginx does, and returns the STDOUT stream.
func fetchFastCGI(ctx context.Context, srv handler.Server, dir string, params environ.Environ, body []byte) ([]byte, error) {
	l, err := net.Listen("unix", filepath.Join(dir, "fastcgi.sock"))
	if err != nil {
		return nil, err
	}
	s, err := fastcgi.New(fastcgi.Config{Handler: srv})
	if err != nil {
		l.Close()
		return nil, err
	}
	go s.Serve(l)
	defer s.Shutdown(ctx)
	conn, err := net.Dial("unix", l.Addr().String())
	if err != nil {
		return nil, err
	}
	cc := fastcgi.NewClientConn(conn)
	defer cc.Close()
	var in io.Reader
	if body != nil {
		in = bytes.NewReader(body)
	}
	req, err := cc.Do(params, in, io.Discard)
	if err != nil {
		return nil, err
	}
	out, err := io.ReadAll(req)
	if _, endErr := req.End(); err == nil {
		err = endErr
	}
	return out, err
}

// fetchHTTP sends the request to a gatewayd HTTP front-end serving srv on
// the loopback interface and returns the bytes of its response, as a
// client receives them.
func (c *checker) fetchHTTP(ctx context.Context, srv handler.Server) ([]byte, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := gwhttp.New(gwhttp.Config{Handler: srv, ServerSoftware: c.o.ServerSoftware})
	go s.Serve(l)
	defer s.Shutdown(ctx)
	conn, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(c.o.Timeout + 30*time.Second))
	r := c.o.Request
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\n", r.method(), r.uri(c.path))
	h := c.hdr.Clone()
	h.Set("Connection", "close")
	if r.Body != nil {
		h.Set("Content-Length", fmt.Sprint(len(r.Body)))
	}
	h.Write(&b)
	b.WriteString("\r\n")
	b.Write(r.Body)
	if _, err := conn.Write(b.Bytes()); err != nil {
		return nil, err
	}
	return io.ReadAll(conn)
}

// recorder is the App of the live run: it runs the program with app and
// keeps what each run read, wrote and how it ended. The body is handed
// over in a file, whose offset tells, after the program exits, how much of
// it the program read.
type recorder struct {
	app handler.App
	dir string

	mu       sync.Mutex
	runs     []*recordedRun
	startErr error
}

func (r *recorder) Start(ctx context.Context, call *handler.Call) (handler.Run, error) {
	f, err := os.CreateTemp(r.dir, "body-")
	if err != nil {
		return nil, err
	}
	size, err := io.Copy(f, call.Body)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	rr := &recordedRun{body: f, bodySize: size, env: call.Env, started: time.Now()}
	c := *call
	c.Body, c.Stderr = f, &rr.stderr
	run, err := r.app.Start(ctx, &c)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		f.Close()
		r.startErr = err
		return nil, err
	}
	rr.Run = run
	r.runs = append(r.runs, rr)
	return rr, nil
}

// recordedRun is one run of the program.
type recordedRun struct {
	handler.Run
	env      environ.Environ
	body     *os.File
	bodySize int64
	started  time.Time

	out    bytes.Buffer // the first maxCapture bytes of stdout
	total  int64        // every byte of stdout
	stderr lockedBuffer

	bodyRead int64
	exit     handler.Exit
	took     time.Duration
}

func (r *recordedRun) Read(p []byte) (int, error) {
	n, err := r.Run.Read(p)
	if room := maxCapture - r.out.Len(); room > 0 {
		r.out.Write(p[:min(n, room)])
	}
	r.total += int64(n)
	return n, err
}

func (r *recordedRun) Wait() handler.Exit {
	r.exit = r.Run.Wait()
	r.took = time.Since(r.started)
	r.bodyRead, _ = r.body.Seek(0, io.SeekCurrent)
	r.body.Close()
	return r.exit
}

// lockedBuffer is a bounded buffer safe for the stderr relay's goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
	n  int64
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.n += int64(len(p))
	if room := 64<<10 - b.b.Len(); room > 0 {
		b.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// replay is an App that gives, dispatch after dispatch, what the live
// run's program printed, so that the same response is forwarded again in
// another form without running the program again.
type replay struct {
	runs []*recordedRun
	next atomic.Int64
}

func (r *replay) Start(context.Context, *handler.Call) (handler.Run, error) {
	i := int(r.next.Add(1) - 1)
	if i >= len(r.runs) {
		return nil, errors.New("conform: no output recorded for this dispatch")
	}
	return &replayed{Reader: bytes.NewReader(r.runs[i].out.Bytes()), exit: r.runs[i].exit}, nil
}

type replayed struct {
	io.Reader
	exit handler.Exit
}

func (r *replayed) Wait() handler.Exit { return r.exit }

// gatewayForm returns the response as gatewayd forwards it in gateway
// form, over FastCGI, SCGI and CGI, and its status.
func (c *checker) gatewayForm(ctx context.Context, strict bool) ([]byte, int, error) {
	h, err := c.pipeline(&replay{runs: c.rec.runs}, strict)
	if err != nil {
		return nil, 0, err
	}
	var out bytes.Buffer
	env := nginxParams(c.o.Request, c.path, c.hdr)
	res := h.Serve(ctx, &handler.Request{Env: env, Body: bytes.NewReader(c.o.Request.Body)}, handler.NewGatewayWriter(&out))
	return out.Bytes(), res.Status, nil
}

// originForm returns the response as gatewayd's HTTP front-end sends it.
func (c *checker) originForm(ctx context.Context) ([]byte, error) {
	h, err := c.pipeline(&replay{runs: c.rec.runs}, false)
	if err != nil {
		return nil, err
	}
	return c.fetchHTTP(ctx, h)
}
