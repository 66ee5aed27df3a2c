// Package fastcgi is gatewayd's FastCGI 1.0 front-end: a drop-in for
// fcgiwrap behind nginx, complete to the specification. record.go is the
// wire format; server.go is the connection loop and the request-ID demux.
// client.go is the other side, gatewayd as the web server in front of a
// FastCGI application (ClientConn).
//
// Roles (FastCGI §5.1):
//
//   - RESPONDER runs the request through the handler pipeline.
//   - AUTHORIZER runs it with no body; the program's response is relayed,
//     including its Variable-* fields, and on 200 its body is dropped
//     (FastCGI §6.3).
//   - FILTER gives the program its request body followed by the FCGI_DATA
//     stream on standard input. CONTENT_LENGTH is the length of both
//     together and FCGI_DATA_LENGTH the length of the data, so a filter
//     reads CONTENT_LENGTH − FCGI_DATA_LENGTH body bytes and then the file
//     (FastCGI §6.4).
//   - Any other role gets END_REQUEST with FCGI_UNKNOWN_ROLE.
//
// Requests on one connection run concurrently, each its own program
// (FCGI_MPXS_CONNS=1); their records are interleaved on the way back.
// FCGI_KEEP_CONN is honoured both ways. FCGI_GET_VALUES is answered with
// one record carrying only the names asked for, from the real limits;
// other management records get FCGI_UNKNOWN_TYPE.
//
// Bounds: more than MaxReqs requests at once get FCGI_OVERLOADED; within
// it a request waits for a program slot up to the queue timeout and then
// gets a 503 page. A connection that breaks a bound — more than
// MaxConnRequests requests at once, more than MaxParamsBytes of
// parameters for one request or MaxConnParamsBytes for all the requests
// of the connection still receiving theirs, parameters not complete
// within ParamsTimeout — or sends a malformed record is closed with one
// logged reason; no other connection notices. However a request ends —
// its program finished, ABORT_REQUEST, a malformed record, the
// connection closed before its parameters were complete — its slot is
// released and its timers stopped.
//
// Connections with no request running do not hold the listener: a new one
// must complete its first request's parameters within ParamsTimeout, and a
// kept one (FCGI_KEEP_CONN) is closed after IdleTimeout without a record.
// The default of 120s outlasts nginx's upstream keepalive_timeout (60s),
// so that nginx, not gatewayd, closes the connections of its pool and never
// finds one closed under it. A web server that takes no response bytes for
// WriteTimeout loses its connection, and the connection's programs are
// stopped.
//
// FastCGI has no flow control, and one program that does not read its body
// must not stall the other requests of its connection nor hide their
// ABORT_REQUEST: the read loop never waits for a program. What a program
// has not read yet waits in memory (256 KiB per request) and past that in
// an unlinked temporary file, as nginx buffers a body, up to the request's
// CONTENT_LENGTH (bytes past it are dropped) or, for a body of unknown
// length, MaxBody. Memory per request stays bounded whatever the body or
// response.
//
// When the connection is to close after a request (no FCGI_KEEP_CONN), its
// records go out with a FIN and whatever the web server still sends — the
// rest of a body the program did not read — is read and dropped for up to
// two seconds before the close: closing a socket with unread bytes resets
// it, and the web server would lose the response.
//
// ABORT_REQUEST, a connection closed by the web server or a failed write
// stop the request's program (its process group is killed and reaped);
// END_REQUEST carries the program's exit status as appStatus (−1, that is
// 0xFFFFFFFF, when a signal ended it) wherever the connection still lives.
// A response cut short after its header (the program stopped by a timeout)
// gets no END_REQUEST when it is the connection's one request: the
// connection is reset instead (over TCP; a unix socket can only close),
// so that the web server sees the response incomplete rather than end it
// as whole.
package fastcgi

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"gatewayd/environ"
	"gatewayd/handler"
	"gatewayd/protocol/internal/accept"
)

// Config configures a Server. Zero fields take their defaults.
type Config struct {
	// Handler runs the requests: the pipeline (*handler.Handler), or
	// whatever stands in front of it. Required.
	Handler handler.Server
	// MaxConns bounds the connections served at once (FCGI_MAX_CONNS);
	// more wait to be accepted. Default: 1024.
	MaxConns int
	// MaxReqs bounds the requests running at once over all connections
	// (FCGI_MAX_REQS); one more gets FCGI_OVERLOADED. Default: 1024.
	MaxReqs int
	// MaxConnRequests bounds the requests running at once on one
	// connection. Default: 256.
	MaxConnRequests int
	// MaxParamsBytes bounds a request's PARAMS stream. Default: 1 MiB.
	MaxParamsBytes int
	// MaxConnParamsBytes bounds the PARAMS bytes held on one connection
	// for all its requests whose parameters are not complete yet.
	// Default: 4 MiB.
	MaxConnParamsBytes int
	// ParamsTimeout bounds the time from a connection's opening, and from
	// each BEGIN_REQUEST, to the end of that request's PARAMS stream.
	// Default: 10s.
	ParamsTimeout time.Duration
	// IdleTimeout bounds the time a kept connection with no request
	// running waits for its next record. Default: 120s, longer than nginx's
	// upstream keepalive_timeout.
	IdleTimeout time.Duration
	// WriteTimeout bounds each write to the web server: one that takes no
	// bytes for this long loses the connection. Default: 60s.
	WriteTimeout time.Duration
	// MaxBody bounds the bytes of a body of unknown length that wait for
	// their program; a body with a CONTENT_LENGTH is bounded by it.
	// Default: 1 GiB.
	MaxBody int64
	// TempDir is where bodies the programs have not read yet are spooled.
	// Default: os.TempDir().
	TempDir string
	// StderrRecords sends programs' stderr to the web server as FCGI_STDERR
	// records (nginx logs them) instead of to gatewayd's log.
	StderrRecords bool
	// WebServerAddrs, when not empty, lists the only addresses TCP
	// connections are accepted from (FCGI_WEB_SERVER_ADDRS).
	WebServerAddrs []string
	// Logger receives one line per connection error. Default: none.
	Logger hclog.Logger
}

// Defaults of Config.
const (
	DefaultMaxConns           = 1024
	DefaultMaxReqs            = 1024
	DefaultMaxConnRequests    = 256
	DefaultMaxParamsBytes     = 1 << 20
	DefaultMaxConnParamsBytes = 4 << 20
	DefaultParamsTimeout      = 10 * time.Second
	DefaultIdleTimeout        = 120 * time.Second
	DefaultWriteTimeout       = 60 * time.Second
	DefaultMaxBody            = 1 << 30
)

// lingerTimeout bounds the draining of a connection that is being closed.
const lingerTimeout = 2 * time.Second

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("fastcgi: server closed")

// Server serves FastCGI connections through a handler.Server.
type Server struct {
	cfg     Config
	allowed []net.IP
	log     hclog.Logger
	slots   chan struct{} // a token per connection served
	done    chan struct{} // closed by Shutdown
	running atomic.Int64  // requests running, for FCGI_MAX_REQS
	ids     atomic.Uint64

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	closed    bool
	connsDone sync.WaitGroup // one per connection
}

// New returns a Server for cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Handler == nil {
		return nil, errors.New("fastcgi: no handler")
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.MaxReqs <= 0 {
		cfg.MaxReqs = DefaultMaxReqs
	}
	if cfg.MaxConnRequests <= 0 {
		cfg.MaxConnRequests = DefaultMaxConnRequests
	}
	if cfg.MaxParamsBytes <= 0 {
		cfg.MaxParamsBytes = DefaultMaxParamsBytes
	}
	if cfg.MaxConnParamsBytes <= 0 {
		cfg.MaxConnParamsBytes = DefaultMaxConnParamsBytes
	}
	if cfg.ParamsTimeout <= 0 {
		cfg.ParamsTimeout = DefaultParamsTimeout
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	s := &Server{
		cfg:       cfg,
		log:       cfg.Logger,
		slots:     make(chan struct{}, cfg.MaxConns),
		done:      make(chan struct{}),
		listeners: map[net.Listener]struct{}{},
		conns:     map[*conn]struct{}{},
	}
	for _, a := range cfg.WebServerAddrs {
		ip := net.ParseIP(strings.TrimSpace(a))
		if ip == nil {
			return nil, fmt.Errorf("fastcgi: web server address %q is not an IP address", a)
		}
		s.allowed = append(s.allowed, ip)
	}
	return s, nil
}

// Serve accepts connections on l until Shutdown, serving each on its own
// goroutine. It returns ErrServerClosed after Shutdown.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()
	var backoff accept.Backoff
	for {
		select {
		case s.slots <- struct{}{}:
		case <-s.done:
			return ErrServerClosed
		}
		rwc, err := l.Accept()
		if err != nil {
			<-s.slots
			if s.isClosed() {
				return ErrServerClosed
			}
			if backoff.Retry(err, s.done, s.log) {
				continue
			}
			if s.isClosed() {
				return ErrServerClosed
			}
			return err
		}
		backoff.Reset()
		if !s.allowedAddr(rwc.RemoteAddr()) {
			s.log.Warn("connection refused: not in FCGI_WEB_SERVER_ADDRS", "remote", rwc.RemoteAddr().String())
			rwc.Close()
			<-s.slots
			continue
		}
		c := s.newConn(rwc)
		if c == nil {
			rwc.Close()
			<-s.slots
			return ErrServerClosed
		}
		go func() {
			defer func() { <-s.slots }()
			c.serve()
		}()
	}
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// allowedAddr applies FCGI_WEB_SERVER_ADDRS to TCP peers.
func (s *Server) allowedAddr(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	if len(s.allowed) == 0 || !ok {
		return true
	}
	return slices.ContainsFunc(s.allowed, ta.IP.Equal)
}

// Shutdown stops accepting, closes idle connections, lets requests in
// flight finish and closes their connections after them. It returns
// ctx.Err() if they outlive ctx, after stopping them.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.closed {
		close(s.done)
	}
	s.closed = true
	for l := range s.listeners {
		l.Close()
	}
	for c := range s.conns {
		c.closeWhenIdle()
	}
	s.mu.Unlock()

	done := make(chan struct{})
	go func() {
		s.connsDone.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			c.rwc.Close()
		}
		s.mu.Unlock()
		<-done
		return ctx.Err()
	}
}

// Limits reports what GET_VALUES answers.
func (s *Server) limits() map[string]string {
	return map[string]string{
		"FCGI_MAX_CONNS":  strconv.Itoa(s.cfg.MaxConns),
		"FCGI_MAX_REQS":   strconv.Itoa(s.cfg.MaxReqs),
		"FCGI_MPXS_CONNS": "1",
	}
}

// conn is one connection. Its reader goroutine (serve) owns the request
// table's structure; request goroutines remove their own entries under mu.
// All writes to the connection go through wmu.
type conn struct {
	s   *Server
	rwc net.Conn
	id  uint64

	wmu sync.Mutex
	bw  *bufio.Writer // writes through deadlineWriter to rwc

	// Owned by the read loop.
	params   int      // PARAMS bytes held by the requests not started yet
	begun    int      // BEGIN_REQUESTs accepted
	contents [][]byte // the stream records' contents passed on at once

	draining atomic.Bool // closeAfter has begun: the read loop drops what comes

	mu        sync.Mutex
	reqs      map[uint16]*request
	closing   bool  // the connection is being closed by us
	idleClose bool  // close once no request is running (Shutdown)
	writeErr  error // the first failed write, which closed the connection

	reqsDone sync.WaitGroup // one per request goroutine
}

func (s *Server) newConn(rwc net.Conn) *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	c := &conn{s: s, rwc: rwc, id: s.ids.Add(1), reqs: map[uint16]*request{}}
	c.bw = connWriters.Get().(*bufio.Writer)
	c.bw.Reset(deadlineWriter{c})
	// Until its first request has begun, ParamsTimeout bounds the wait.
	rwc.SetReadDeadline(time.Now().Add(s.cfg.ParamsTimeout))
	s.conns[c] = struct{}{}
	s.connsDone.Add(1)
	return c
}

// deadlineWriter writes to the connection within WriteTimeout. A failed
// write closes the connection, so that its read loop ends and its other
// requests stop rather than wait on a web server that takes nothing.
type deadlineWriter struct{ c *conn }

func (w deadlineWriter) Write(p []byte) (int, error) {
	w.c.rwc.SetWriteDeadline(time.Now().Add(w.c.s.cfg.WriteTimeout))
	n, err := w.c.rwc.Write(p)
	if err != nil {
		w.c.writeFailed(err)
	}
	return n, err
}

// writeBuffers is Write for several slices at once, with one writev where
// the connection has it.
func (w deadlineWriter) writeBuffers(b net.Buffers) error {
	w.c.rwc.SetWriteDeadline(time.Now().Add(w.c.s.cfg.WriteTimeout))
	_, err := b.WriteTo(w.c.rwc)
	if err != nil {
		w.c.writeFailed(err)
	}
	return err
}

// writeFailed closes the connection after a failed write, unless it is
// already being closed: then the write failed because its side is shut.
func (c *conn) writeFailed(err error) {
	c.mu.Lock()
	closing := c.closing
	if c.writeErr == nil && !closing {
		c.writeErr = err
	}
	c.mu.Unlock()
	if !closing {
		c.rwc.Close()
	}
}

// request is one request on a connection.
type request struct {
	id       uint16
	role     uint16
	keepConn bool
	params   []byte // the PARAMS stream until it ends; the read loop's
	started  bool   // PARAMS ended; the request goroutine runs. Set under conn.mu
	timer    *time.Timer

	ctx    context.Context
	cancel context.CancelFunc
	body   *body       // STDIN (and DATA) records go here; nil when dropped
	stdout *stream     // the request goroutine's; nil until started
	stderr atomic.Bool // an FCGI_STDERR record was sent
}

// connError is a reason to close a connection: the peer broke the
// protocol or a bound. Other errors are I/O errors.
type connError struct{ err error }

func (e *connError) Error() string { return e.err.Error() }
func (e *connError) Unwrap() error { return e.err }

func connErrorf(format string, args ...any) error {
	return &connError{fmt.Errorf("fastcgi: "+format, args...)}
}

// serve reads the connection's records until it closes or breaks the
// protocol, then stops its requests and waits for them.
func (c *conn) serve() {
	defer c.s.connsDone.Done()
	defer func() {
		c.s.mu.Lock()
		delete(c.s.conns, c)
		c.s.mu.Unlock()
	}()
	err := c.readLoop()
	c.mu.Lock()
	closing := c.closing
	c.closing = true
	var unstarted []*request
	for id, r := range c.reqs {
		if !r.started {
			// No goroutine will end it: its slot is released here.
			delete(c.reqs, id)
			unstarted = append(unstarted, r)
			continue
		}
		r.cancel()
		if r.body != nil {
			r.body.close(errConnClosed)
		}
	}
	writeErr := c.writeErr
	c.mu.Unlock()
	for _, r := range unstarted {
		c.release(r)
	}
	// The logger is made only for a line to log: most connections end
	// without one.
	log := func() hclog.Logger { return c.s.log.With("conn", c.id, "remote", c.rwc.RemoteAddr().String()) }
	var ce *connError
	switch {
	case errors.As(err, &ce):
		log().Warn("closing connection", "reason", ce.err.Error())
	case writeErr != nil && isTimeout(writeErr):
		log().Warn("closing connection: the web server took no response bytes in time", "timeout", c.s.cfg.WriteTimeout)
	case closing, writeErr != nil, errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
	case isTimeout(err) && c.begun == 0:
		log().Warn("closing connection: no request in time", "timeout", c.s.cfg.ParamsTimeout)
	case isTimeout(err):
		log().Debug("closing idle connection", "idle_timeout", c.s.cfg.IdleTimeout)
	default:
		log().Warn("closing connection", "error", err)
	}
	c.rwc.Close()
	c.reqsDone.Wait()
	c.bw.Reset(nil) // no request writes any more
	connWriters.Put(c.bw)
}

// Buffers of connections, reused: nginx without fastcgi_keep_conn opens a
// connection per request. Each holds a whole record, or most of one, so
// that a body streaming in or out takes one system call per record or
// fewer.
var (
	connWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, maxRecord) }}
	connReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 64<<10) }}
	recordBufs  = sync.Pool{New: func() any { b := make([]byte, maxRecord); return &b }}
)

var errConnClosed = errors.New("fastcgi: connection closed")

func isTimeout(err error) bool {
	ne, ok := errors.AsType[net.Error](err)
	return ok && ne.Timeout()
}

// release frees what a request that ends holds: its slot among MaxReqs,
// its parameters timer and context, and its body. It is called once per
// request that began, by whatever ended it, after removing it from reqs.
func (c *conn) release(r *request) {
	r.timer.Stop()
	r.cancel()
	c.s.running.Add(-1)
	if r.body != nil {
		r.body.release()
	}
}

// dropParams forgets the parameters r has gathered; the read loop's.
func (c *conn) dropParams(r *request) {
	c.params -= len(r.params)
	r.params = nil
}

func (c *conn) readLoop() error {
	bp := recordBufs.Get().(*[]byte)
	defer recordBufs.Put(bp)
	buf := *bp
	br := connReaders.Get().(*bufio.Reader)
	br.Reset(c.rwc)
	defer func() {
		br.Reset(nil)
		connReaders.Put(br)
	}()
	consumed := 0 // bytes of the last records still in br, their contents handed out uncopied
	for {
		br.Discard(consumed)
		h, content, n, err := nextRecord(br, buf)
		consumed = n
		if err != nil {
			if errors.Is(err, errVersion) {
				return &connError{err} // FastCGI §8: nothing after it can be framed
			}
			return err
		}
		if c.draining.Load() {
			continue // closing: what still comes is read only so as not to reset
		}
		if h.ID == 0 {
			if err := c.management(h, content); err != nil {
				return err
			}
			continue
		}
		if h.Type == typeStdin || h.Type == typeData {
			// The records of this stream that follow in br go to the
			// program with this one, in one write.
			c.contents = append(c.contents[:0], content)
			if len(content) > 0 {
				var span int
				c.contents, span = appendStream(c.contents, br, n, h)
				consumed += span
			}
			if err := c.stream(h, c.contents); err != nil {
				return err
			}
			continue
		}
		if err := c.record(h, content); err != nil {
			return err
		}
	}
}

// management answers a management record (FastCGI §4).
func (c *conn) management(h header, content []byte) error {
	if h.Type != typeGetValues {
		// FastCGI §4.2: {UNKNOWN_TYPE, 0, {T}}.
		return c.write(appendRecord(nil, typeUnknownType, 0, []byte{byte(h.Type), 0, 0, 0, 0, 0, 0, 0}), true)
	}
	// Each name is answered once, so the result stays a few bytes
	// however many names are asked for.
	limits := c.s.limits()
	var out []byte
	for len(content) > 0 {
		name, _, rest, err := readNameValue(content)
		if err != nil {
			return connErrorf("malformed GET_VALUES")
		}
		if v, ok := limits[name]; ok {
			out = appendNameValue(out, name, v)
			delete(limits, name)
		}
		content = rest
	}
	return c.write(appendRecord(nil, typeGetValuesResult, 0, out), true)
}

// record handles an application record (id ≠ 0).
func (c *conn) record(h header, content []byte) error {
	c.mu.Lock()
	r := c.reqs[h.ID]
	c.mu.Unlock()
	if h.Type == typeBeginRequest {
		return c.begin(h, content, r)
	}
	if r == nil {
		return nil // FastCGI §3.3: records of an inactive request are ignored
	}
	switch h.Type {
	case typeParams:
		if r.started {
			return connErrorf("PARAMS after the end of request %d's parameters", h.ID)
		}
		if len(content) > 0 {
			if len(r.params)+len(content) > c.s.cfg.MaxParamsBytes {
				return connErrorf("request %d's parameters over the limit of %d bytes", h.ID, c.s.cfg.MaxParamsBytes)
			}
			if c.params+len(content) > c.s.cfg.MaxConnParamsBytes {
				return connErrorf("parameters of the requests not started yet over the connection's limit of %d bytes",
					c.s.cfg.MaxConnParamsBytes)
			}
			r.params = append(r.params, content...)
			c.params += len(content)
			return nil
		}
		return c.start(r)
	case typeAbortRequest:
		r.cancel() // FastCGI §5.4: the request goroutine sends END_REQUEST
		if !r.started {
			c.dropParams(r)
			c.end(r, 0, StatusRequestComplete)
		}
		return nil
	}
	return nil // other application record types are ignored
}

// stream passes on the contents v of consecutive STDIN or DATA records
// of request h.ID, of type h.Type (FastCGI §5.3). Only the first can be
// empty: the stream's end, then alone in v.
func (c *conn) stream(h header, v [][]byte) error {
	c.mu.Lock()
	r := c.reqs[h.ID]
	c.mu.Unlock()
	switch {
	case r == nil:
		return nil // FastCGI §3.3: records of an inactive request are ignored
	case !r.started:
		return connErrorf("%v before the end of request %d's parameters", h.Type, h.ID)
	case h.Type == typeData && r.role != roleFilter, r.body == nil:
		return nil
	case len(v[0]) == 0:
		// The body ends with STDIN's end, or with DATA's for a filter.
		if h.Type == typeData || r.role != roleFilter {
			r.body.close(io.EOF)
		}
		return nil
	}
	r.body.write(v...) // never waits long; an error ends the body, and the request sees it
	return nil
}

// begin starts request id (FastCGI §5.1).
func (c *conn) begin(h header, content []byte, active *request) error {
	if active != nil {
		return connErrorf("BEGIN_REQUEST for request %d, which is running", h.ID)
	}
	br, err := parseBeginRequest(content)
	if err != nil {
		return &connError{err}
	}
	r := &request{id: h.ID, role: br.Role, keepConn: br.Flags&flagKeepConn != 0}
	switch {
	case br.Role != roleResponder && br.Role != roleAuthorizer && br.Role != roleFilter:
		return c.reject(r, StatusUnknownRole) // FastCGI §5.5
	case c.s.running.Load() >= int64(c.s.cfg.MaxReqs):
		return c.reject(r, StatusOverloaded) // FastCGI §5.5
	}
	c.mu.Lock()
	if len(c.reqs) >= c.s.cfg.MaxConnRequests {
		c.mu.Unlock()
		return connErrorf("more than %d requests at once", c.s.cfg.MaxConnRequests)
	}
	if len(c.reqs) == 0 {
		c.rwc.SetReadDeadline(time.Time{}) // busy: the requests' own timers bound it
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	c.reqs[h.ID] = r
	c.s.running.Add(1)
	r.timer = time.AfterFunc(c.s.cfg.ParamsTimeout, func() { c.paramsLate(r) })
	c.mu.Unlock()
	c.begun++
	return nil
}

// paramsLate closes the connection of a request whose parameters did not
// come within ParamsTimeout, unless the request has started or ended since.
func (c *conn) paramsLate(r *request) {
	c.mu.Lock()
	late := c.reqs[r.id] == r && !r.started && !c.closing
	c.mu.Unlock()
	if !late {
		return
	}
	c.s.log.Warn("closing connection: parameters not complete in time",
		"conn", c.id, "request", r.id, "timeout", c.s.cfg.ParamsTimeout)
	c.rwc.Close()
}

// reject ends a request that never ran.
func (c *conn) reject(r *request, protocolStatus uint8) error {
	err := c.write(appendRecord(nil, typeEndRequest, r.id, endRequestBody(0, protocolStatus)), true)
	if err == nil && !r.keepConn {
		c.closeAfter()
	}
	return err
}

// start decodes r's parameters and runs it on its own goroutine.
func (c *conn) start(r *request) error {
	// Sized for what nginx's fastcgi_params and a few headers make, so
	// that the map is not grown and rehashed while it fills.
	env := make(environ.Environ, 48)
	for p := r.params; len(p) > 0; {
		name, value, rest, err := readNameValue(p)
		if err != nil {
			return &connError{fmt.Errorf("request %d: %w", r.id, err)}
		}
		env.Add(name, value)
		p = rest
	}
	c.dropParams(r)
	adjustEnv(env, r.role)

	req := &handler.Request{Env: env, ID: strconv.FormatUint(c.id, 10) + "." + strconv.FormatUint(uint64(r.id), 10), Frontend: "fastcgi"}
	if r.role != roleAuthorizer { // FastCGI §6.3: an authorizer's STDIN is dropped
		length := int64(-1)
		if n, err := strconv.ParseInt(env["CONTENT_LENGTH"], 10, 64); err == nil && n >= 0 {
			length = n
		}
		r.body = newBody(length, c.s.cfg.MaxBody, c.s.cfg.TempDir)
		req.Body = r.body
	}
	c.mu.Lock()
	r.started = true
	c.mu.Unlock()
	r.timer.Stop()
	w := &stream{c: c, r: r, t: typeStdout, coalesce: true}
	r.stdout = w
	if c.s.cfg.StderrRecords {
		req.Stderr = &stream{c: c, r: r, t: typeStderr}
	}
	var rw handler.ResponseWriter = handler.NewGatewayWriter(w)
	if r.role == roleAuthorizer {
		rw = &authorizerWriter{ResponseWriter: rw}
	}
	c.reqsDone.Add(1)
	go func() {
		defer c.reqsDone.Done()
		res := c.s.cfg.Handler.Serve(r.ctx, req, rw)
		if res.Aborted && c.abort(r) {
			return
		}
		c.end(r, uint32(int32(res.Exit.Code)), StatusRequestComplete)
	}()
	return nil
}

var errRequestDone = errors.New("fastcgi: request finished")

// adjustEnv turns FastCGI parameters into the request's CGI environment.
func adjustEnv(env environ.Environ, role uint16) {
	// Apache mod_proxy_fcgi: SCRIPT_FILENAME=proxy:fcgi://host:port/path.
	if sf, ok := strings.CutPrefix(env["SCRIPT_FILENAME"], "proxy:fcgi://"); ok {
		if i := strings.IndexByte(sf, '/'); i >= 0 {
			env["SCRIPT_FILENAME"] = sf[i:]
		}
	}
	switch role {
	case roleAuthorizer:
		env["FCGI_ROLE"] = "AUTHORIZER"
		delete(env, "CONTENT_LENGTH")
	case roleFilter:
		env["FCGI_ROLE"] = "FILTER"
		body, _ := strconv.ParseInt(env["CONTENT_LENGTH"], 10, 64)
		data, _ := strconv.ParseInt(env["FCGI_DATA_LENGTH"], 10, 64)
		env["CONTENT_LENGTH"] = strconv.FormatInt(body+data, 10)
	default:
		env["FCGI_ROLE"] = "RESPONDER"
	}
}

// end finishes r: the streams' empty records and END_REQUEST (FastCGI
// §5.5), then the connection's close unless the web server keeps it.
func (c *conn) end(r *request, appStatus uint32, protocolStatus uint8) {
	c.mu.Lock()
	if c.reqs[r.id] != r {
		c.mu.Unlock()
		return // already released, when the connection closed
	}
	delete(c.reqs, r.id)
	last := len(c.reqs) == 0
	closeConn := !r.keepConn || c.idleClose && last
	if last && !closeConn && !c.closing {
		c.rwc.SetReadDeadline(time.Now().Add(c.s.cfg.IdleTimeout))
	}
	c.mu.Unlock()
	c.release(r)

	var b []byte
	if r.started {
		r.stdout.flushPending()
		b = appendRecord(b, typeStdout, r.id, nil) // FastCGI §6.1: STDOUT always ends
		if r.stderr.Load() {
			b = appendRecord(b, typeStderr, r.id, nil)
		}
	}
	b = appendRecord(b, typeEndRequest, r.id, endRequestBody(appStatus, protocolStatus))
	if c.write(b, true) == nil && closeConn {
		c.closeAfter()
	}
}

// abort ends r, whose response was cut short after its header (a timeout,
// a failed write), without END_REQUEST: the connection is reset after what
// was written so far, which is the one way FastCGI has to tell a web
// server that a response is incomplete (nginx then logs an upstream error
// and does not end the client's response as whole).
// It does so only when r is the connection's one request, and reports
// whether it did; a request multiplexed with others ends with END_REQUEST
// rather than take its neighbours down.
func (c *conn) abort(r *request) bool {
	c.mu.Lock()
	alone := c.reqs[r.id] == r && len(c.reqs) == 1
	if alone {
		delete(c.reqs, r.id)
		c.closing = true
	}
	c.mu.Unlock()
	if !alone {
		return false
	}
	c.release(r)
	r.stdout.flushPending()
	c.wmu.Lock()
	c.bw.Flush()
	c.wmu.Unlock()
	// nginx without fastcgi_keep_conn takes a close for the end of a
	// response; a reset it cannot (TCP only: a unix socket has none).
	if tc, ok := c.rwc.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.rwc.Close()
	return true
}

// write writes records to the connection, flushing when asked. Writes of
// different requests never interleave within a record.
func (c *conn) write(b []byte, flush bool) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if _, err := c.bw.Write(b); err != nil {
		return err
	}
	if flush {
		return c.bw.Flush()
	}
	return nil
}

// closeAfter closes the connection once the records written so far are
// out, and stops its other requests. Closing a socket that still holds
// unread bytes resets it, and a web server still sending a body the
// program did not read would lose the response (nginx logs "Connection
// reset by peer" and answers 502). So the records go out with a FIN, and
// the read loop reads and drops what still comes until the web server
// closes its side or lingerTimeout passes; serve then closes.
func (c *conn) closeAfter() {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return
	}
	c.closing = true
	for _, r := range c.reqs {
		r.cancel()
	}
	c.mu.Unlock()
	c.draining.Store(true)
	if cw, ok := c.rwc.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
		c.rwc.SetReadDeadline(time.Now().Add(lingerTimeout))
		return
	}
	c.rwc.Close()
}

// closeWhenIdle closes the connection now if no request runs on it, else
// after the last one ends.
func (c *conn) closeWhenIdle() {
	c.mu.Lock()
	c.idleClose = true
	idle := len(c.reqs) == 0
	c.mu.Unlock()
	if idle {
		c.closeAfter()
	}
}

// stream writes a request's STDOUT or STDERR as records. A coalescing
// stream gathers small writes into one record until it is flushed, fills
// or the request ends; it is used by one goroutine.
type stream struct {
	c        *conn
	r        *request
	t        recType
	coalesce bool
	pending  []byte
}

// coalesceMax bounds what a stream holds back.
const coalesceMax = 16 << 10

func (s *stream) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if s.t == typeStderr {
		s.r.stderr.Store(true)
	}
	if s.coalesce && len(s.pending)+len(p) <= coalesceMax {
		s.pending = append(s.pending, p...)
		return len(p), nil
	}
	if err := s.flushPending(); err != nil {
		return 0, err
	}
	s.c.wmu.Lock()
	defer s.c.wmu.Unlock()
	if len(p) >= directWrite {
		return s.writeDirect(p)
	}
	return writeStream(s.c.bw, s.t, s.r.id, p)
}

// directWrite is the size from which a stream's write skips the
// connection's buffer: its records go out in one writev, headers and
// padding around the caller's bytes, which are not copied. A 64 KiB
// download chunk spent more time copied into the buffer than written.
const directWrite = 16 << 10

// writeDirect writes p as records of the stream with one writev, after
// what the connection's buffer holds. c.wmu is held.
func (s *stream) writeDirect(p []byte) (int, error) {
	if err := s.c.bw.Flush(); err != nil {
		return 0, err
	}
	var bufs gather
	writeStream(&bufs, s.t, s.r.id, p) // frames p, never fails
	if err := (deadlineWriter{s.c}).writeBuffers(net.Buffers(bufs)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// gather collects the slices written to it, without copying them, for
// one writev.
type gather net.Buffers

func (g *gather) Write(p []byte) (int, error) {
	*g = append(*g, p)
	return len(p), nil
}

// flushPending writes what the stream holds back as one record.
func (s *stream) flushPending() error {
	if len(s.pending) == 0 {
		return nil
	}
	s.c.wmu.Lock()
	defer s.c.wmu.Unlock()
	err := writeRecord(s.c.bw, s.t, s.r.id, s.pending)
	s.pending = s.pending[:0]
	return err
}

// Flush sends what the stream and the connection hold back.
func (s *stream) Flush() error {
	if err := s.flushPending(); err != nil {
		return err
	}
	s.c.wmu.Lock()
	defer s.c.wmu.Unlock()
	return s.c.bw.Flush()
}

// authorizerWriter drops the body of a 200 response: for an authorizer it
// means "allowed" and only its Variable-* fields matter (FastCGI §6.3).
type authorizerWriter struct {
	handler.ResponseWriter
	allowed bool
}

func (w *authorizerWriter) WriteHeader(s handler.Status, h *handler.Headers) error {
	w.allowed = s.Code == 200
	return w.ResponseWriter.WriteHeader(s, h)
}

func (w *authorizerWriter) Write(p []byte) (int, error) {
	if w.allowed {
		return len(p), nil
	}
	return w.ResponseWriter.Write(p)
}
