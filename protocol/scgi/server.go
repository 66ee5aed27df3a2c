// Package scgi is gatewayd's SCGI server: the front-end that nginx
// (scgi_pass), Apache (mod_proxy_scgi) and lighttpd (mod_scgi) talk to.
// netstring.go is the wire format (ReadHeader, AppendHeader); server.go is
// the connection loop, which turns each request into a handler.Request and
// writes the handler's response back in gateway form ("Status: 200 OK",
// the CGI header fields, a blank line, the body).
//
// The protocol is SCGI 1 (protocol.txt, Neil Schemenauer), read strictly:
//
//   - One request per connection, then the connection is closed (§2).
//   - The header is a netstring whose length has no leading zeros and ends
//     within 20 bytes; its content is NUL-terminated name/value pairs, the
//     first CONTENT_LENGTH (ASCII digits), with an SCGI header whose value
//     is 1, and no name twice (§2: "Duplicate names are not allowed"),
//     except HTTP_* names (below). A header block over MaxHeaderBytes is
//     refused before any of it is read. A request that breaks a rule runs
//     no program: its connection is closed and one line logs the reason,
//     such as scgi: duplicate header name "REQUEST_METHOD".
//   - The body is exactly CONTENT_LENGTH bytes. If the web server closes the
//     connection before they have all come, the program reads what came and
//     then end of file, and the request is stopped as an abort.
//   - The response is the pipeline's gateway form, which nginx, Apache and
//     lighttpd all parse (SCGI does not specify the response); an NPH
//     program's status line becomes a Status field. When the program left
//     part of the body unread, the server closes its side and drains the
//     rest for up to two seconds before closing: a close with unread bytes
//     resets the connection, and the web server, still sending, would lose
//     the response.
//
// Parameters reach the program as sent — the web server's own variables
// (nginx scgi_param, Apache SetEnv, lighttpd setenv) and SCGI=1 included —
// and their values are bytes, ISO-8859-1 included; the pipeline still never
// passes HTTP_PROXY. CONTENT_LENGTH frames the body and is always sent;
// when it is 0 the program gets no CONTENT_LENGTH, as RFC 3875 §4.1.2 wants
// for a request without a body and as the FastCGI and HTTP front-ends give
// it.
//
// HTTP_* names are the one exception to unique names: nginx before 1.23
// sends a request header field that occurs on several lines as one
// parameter per line (nginx 1.22.1: two Cookie lines give HTTP_COOKIE
// twice), while Apache and lighttpd join them. Their values are joined
// with ", " (HTTP_COOKIE with "; "), as nginx 1.23 and the other front-ends
// join them (environ.Add).
//
// nginx's stock scgi_params sends neither SCRIPT_NAME nor PATH_INFO. When
// both are absent the server sets SCRIPT_NAME to "" and PATH_INFO to
// DOCUMENT_URI (nginx's $uri, already decoded and normalised), or, without
// DOCUMENT_URI, to the percent-decoded path of REQUEST_URI
// (handler.RequestPath). The request then looks like a root mount, so
// routing under a script root (handler Config.Root) and programs that use
// PATH_INFO (git http-backend) work with the stock configuration. A web
// server that sends either variable (Apache with proxy-scgi-pathinfo,
// lighttpd) is taken at its word. The SCRIPT_FILENAME Apache's
// mod_proxy_scgi sends, proxy:scgi://host:port/path, names no file and is
// dropped.
//
// Once the body has been read the server watches the connection, as
// net/http does: when the web server closes it — its client went away —
// the request's context is cancelled and the handler stops the program.
// SCGI has no other way to say so. A web server that half-closes its side
// after the request would look the same; nginx, Apache and lighttpd do not
// by default (lighttpd only with tcp-fin-propagate).
package scgi

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"gatewayd/environ"
	"gatewayd/handler"
	"gatewayd/protocol/internal/accept"
)

// Config configures a Server. Zero fields take the default their comment
// gives.
type Config struct {
	// Handler runs the requests: the pipeline (*handler.Handler), or
	// whatever stands in front of it. Required.
	Handler handler.Server
	// MaxHeaderBytes bounds a request's header block, the content of its
	// netstring; a longer one is refused before any of it is read.
	// Default: 64 KiB (DefaultMaxHeaderBytes).
	MaxHeaderBytes int
	// ReadHeaderTimeout bounds the time from accepting a connection to
	// having read its whole header, so that a slow or silent peer cannot
	// hold a connection. Default: 10s.
	ReadHeaderTimeout time.Duration
	// WriteTimeout bounds each write of the response to the web server: a
	// web server that takes nothing for this long loses the connection, and
	// the program is stopped. Default: 60s.
	WriteTimeout time.Duration
	// MaxConns bounds the connections served at once; further ones wait in
	// the listener's backlog. Default: 1024.
	MaxConns int
	// Logger receives the server's own events: a refused request (one line
	// with its reason), a response that could not be delivered, accept
	// errors. The handler logs the requests themselves. Default: no logging.
	Logger hclog.Logger
}

// Defaults of Config. DefaultMaxHeaderBytes, ReadHeader's default too, is
// in netstring.go.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultWriteTimeout      = 60 * time.Second
	DefaultMaxConns          = 1024
)

// lingerTimeout bounds how long a connection whose body was not read to
// its end is drained after the response, so that closing it does not
// reset it and lose the response at the web server.
const lingerTimeout = 2 * time.Second

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("scgi: Server closed")

// errBodyClosed is what a body read gets once its request is over.
var errBodyClosed = errors.New("scgi: body read after the request ended")

// Server serves SCGI through a handler.Server: one goroutine per
// connection, one request per connection.
type Server struct {
	cfg   Config
	log   hclog.Logger
	slots chan struct{} // a token per connection being served

	mu        sync.Mutex
	closing   bool                       // Shutdown has begun
	quit      chan struct{}              // closed when Shutdown begins
	listeners map[*net.Listener]struct{} // being served; Shutdown closes them
	conns     map[*conn]struct{}         // being served; Shutdown may stop them
	wg        sync.WaitGroup             // one count per connection goroutine; Add only under mu while !closing
}

// New returns a Server for cfg. It panics if cfg.Handler is nil.
func New(cfg Config) *Server {
	if cfg.Handler == nil {
		panic("scgi: Config.Handler is nil")
	}
	if cfg.MaxHeaderBytes <= 0 {
		cfg.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if cfg.ReadHeaderTimeout <= 0 {
		cfg.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	return &Server{
		cfg:       cfg,
		log:       cfg.Logger,
		slots:     make(chan struct{}, cfg.MaxConns),
		quit:      make(chan struct{}),
		listeners: map[*net.Listener]struct{}{},
		conns:     map[*conn]struct{}{},
	}
}

// Serve accepts connections on l and serves each on its own goroutine
// until Shutdown; it may be called for several listeners at once. It
// closes l and returns ErrServerClosed after Shutdown, or the error that
// stopped it accepting.
func (s *Server) Serve(l net.Listener) error {
	defer l.Close()
	if !s.trackListener(&l, true) {
		return ErrServerClosed
	}
	defer s.trackListener(&l, false)
	var backoff accept.Backoff
	for {
		select {
		case s.slots <- struct{}{}:
		case <-s.quit:
			return ErrServerClosed
		}
		nc, err := l.Accept()
		if err != nil {
			<-s.slots
			if s.isClosing() {
				return ErrServerClosed
			}
			if backoff.Retry(err, s.quit, s.log) {
				continue
			}
			if s.isClosing() {
				return ErrServerClosed
			}
			return err
		}
		backoff.Reset()
		ctx, cancel := context.WithCancel(context.Background())
		c := &conn{srv: s, nc: nc, cancel: cancel}
		if !s.trackConn(c) {
			cancel()
			nc.Close()
			<-s.slots
			return ErrServerClosed
		}
		go c.serve(ctx)
	}
}

// Shutdown stops the server: it closes the listeners and waits for the
// connections being served to end. A connection still reading its header
// is served if its header comes within ReadHeaderTimeout. When ctx ends
// first, Shutdown stops the requests left — their contexts are cancelled,
// so their programs are stopped, and their connections closed — waits for
// them to end and returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.closing {
		s.closing = true
		close(s.quit)
	}
	for l := range s.listeners {
		(*l).Close()
	}
	s.mu.Unlock()

	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	for c := range s.conns {
		c.cancel()
		c.nc.SetDeadline(aLongTimeAgo)
	}
	s.mu.Unlock()
	<-done
	return ctx.Err()
}

// aLongTimeAgo is a deadline that has passed: it ends blocked reads and
// writes at once.
var aLongTimeAgo = time.Unix(1, 0)

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// trackListener adds or removes l; adding fails once Shutdown has begun.
func (s *Server) trackListener(l *net.Listener, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !add {
		delete(s.listeners, l)
		return true
	}
	if s.closing {
		return false
	}
	s.listeners[l] = struct{}{}
	return true
}

// trackConn adds c to the connections being served; it fails once
// Shutdown has begun.
func (s *Server) trackConn(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return true
}

// connDone releases what c held in the server.
func (s *Server) connDone(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	<-s.slots
	s.wg.Done()
}

// conn is one connection. Its goroutine (serve) owns it; the body reader
// and the close watcher run beside it on the fields mu guards.
type conn struct {
	srv    *Server
	nc     net.Conn
	br     *bufio.Reader      // set before the body or the watcher reads it
	cancel context.CancelFunc // ends the request: the web server went away, or Shutdown gave up

	mu        sync.Mutex
	finishing bool          // the request is over: no watcher starts, a read error is no abort
	watchDone chan struct{} // closed when the watcher ends; nil until it starts
}

// serve reads one request, runs it and closes the connection.
func (c *conn) serve(ctx context.Context) {
	defer c.srv.connDone(c)
	defer c.nc.Close()
	defer c.cancel()
	defer func() {
		if p := recover(); p != nil {
			c.srv.log.Error("panic serving a connection", "remote", remoteAddr(c.nc),
				"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		}
	}()
	cfg := &c.srv.cfg

	c.nc.SetReadDeadline(time.Now().Add(cfg.ReadHeaderTimeout))
	c.br = readerPool.Get().(*bufio.Reader)
	c.br.Reset(c.nc)
	hdr, err := ReadHeader(c.br, cfg.MaxHeaderBytes)
	if err != nil {
		c.refuse(err)
		c.releaseReader()
		return
	}
	c.nc.SetReadDeadline(time.Time{})

	req := &handler.Request{Env: requestEnv(hdr), Frontend: "scgi"}
	var b *body
	if hdr.ContentLength > 0 {
		b = &body{c: c, remaining: hdr.ContentLength}
		req.Body = b
	} else {
		c.watch()
	}
	bw := writerPool.Get().(*bufio.Writer)
	bw.Reset(deadlineWriter{c.nc, cfg.WriteTimeout})
	res := cfg.Handler.Serve(ctx, req, handler.NewGatewayWriter(bw))
	err = bw.Flush()
	bw.Reset(nil) // the pipeline writes nothing after Serve returns
	writerPool.Put(bw)
	if err != nil && res.Err == nil {
		c.srv.log.Warn("response not delivered", "remote", remoteAddr(c.nc), "error", err)
	}
	// An aborted response must not end with the FIN of a whole one.
	unread := c.finish(b, err == nil && !res.Aborted)
	switch {
	case res.Aborted:
		// The response was cut short after its header: SCGI ends a
		// response by closing, so only a reset tells the web server that
		// this one is incomplete (nginx then logs the upstream error
		// rather than end the client's response as whole). A unix
		// socket has no reset; there the close ends it.
		if tc, ok := c.nc.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
	case unread > 0 && err == nil:
		c.linger(unread)
	}
	c.releaseReader()
}

// releaseReader gives the connection's reader back to the pool once
// nothing reads it any more: the body and the watcher are finished, or
// never started. (After a panic it is left to the garbage collector.)
func (c *conn) releaseReader() {
	c.br.Reset(nil)
	readerPool.Put(c.br)
}

// Buffers of finished connections, for the next ones.
var (
	readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4<<10) }}
	writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 32<<10) }}
)

// refuse logs why no request could be read from the connection.
func (c *conn) refuse(err error) {
	if err == io.EOF {
		// A port probe, or a web server that gave up before sending.
		c.srv.log.Debug("connection closed before a request", "remote", remoteAddr(c.nc))
		return
	}
	c.srv.log.Warn("request refused", "remote", remoteAddr(c.nc), "reason", err.Error())
}

// watch starts watching the connection once the body has been read: a
// read that fails means the web server went away (it sends nothing more
// on an SCGI connection), and the request is cancelled. Bytes that arrive
// are discarded.
func (c *conn) watch() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.finishing || c.watchDone != nil {
		return
	}
	done := make(chan struct{})
	c.watchDone = done
	go func() {
		defer close(done)
		for {
			if _, err := c.br.ReadByte(); err != nil {
				break
			}
		}
		c.mu.Lock()
		over := c.finishing
		c.mu.Unlock()
		if !over {
			c.cancel()
		}
	}()
}

// finish ends the request on the connection: with sent set (the response
// went out whole) it closes the writing side, which is the end of the
// response to the web server; then it takes the connection back from the
// watcher and the body reader, and returns how many body bytes were left
// unread.
func (c *conn) finish(b *body, sent bool) (unread int64) {
	c.mu.Lock()
	c.finishing = true
	done := c.watchDone
	c.mu.Unlock()
	if sent {
		if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
	}
	// Ends the watcher's read, and a read of the body that a program's
	// stdin pump may still be blocked in.
	c.nc.SetReadDeadline(aLongTimeAgo)
	if done != nil {
		<-done
	}
	if b == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	return b.remaining
}

// linger drains the unread body for a while once the response is out:
// closing a socket with unread bytes resets it, and the web server, still
// sending, could lose the response.
func (c *conn) linger(unread int64) {
	c.nc.SetReadDeadline(time.Now().Add(lingerTimeout))
	io.CopyN(io.Discard, c.br, unread)
}

// body is a request body: exactly CONTENT_LENGTH bytes of the connection.
type body struct {
	c *conn

	mu        sync.Mutex // held during a read, so finish can take the connection back
	remaining int64
	closed    bool // the request is over
}

// Read reads the body. When the web server closes the connection early
// it returns io.ErrUnexpectedEOF and cancels the request; after the last
// byte it starts the watcher.
func (b *body) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.closed:
		return 0, errBodyClosed
	case b.remaining == 0:
		return 0, io.EOF
	case len(p) == 0:
		return 0, nil
	}
	if int64(len(p)) > b.remaining {
		p = p[:b.remaining]
	}
	n, err := b.c.br.Read(p)
	b.remaining -= int64(n)
	switch {
	case b.remaining == 0:
		b.c.watch()
		return n, nil
	case err == io.EOF:
		b.c.cancel()
		return n, fmt.Errorf("scgi: body: %w", io.ErrUnexpectedEOF)
	case err != nil:
		b.c.cancel()
	}
	return n, err
}

// deadlineWriter bounds each write to the connection.
type deadlineWriter struct {
	nc      net.Conn
	timeout time.Duration
}

func (w deadlineWriter) Write(p []byte) (int, error) {
	w.nc.SetWriteDeadline(time.Now().Add(w.timeout))
	return w.nc.Write(p)
}

// requestEnv makes the request's CGI environment from its header.
func requestEnv(hdr Header) environ.Environ {
	env := make(environ.Environ, len(hdr.Params)+2)
	for _, p := range hdr.Params {
		env.Add(p.Name, p.Value)
	}
	if hdr.ContentLength == 0 {
		// SCGI must send it; CGI leaves it unset without a body (RFC 3875
		// §4.1.2).
		delete(env, nameContentLength)
	}
	// Apache mod_proxy_scgi: SCRIPT_FILENAME=proxy:scgi://host:port/path,
	// the URL it proxied to, which names no file.
	if strings.HasPrefix(env["SCRIPT_FILENAME"], "proxy:scgi://") {
		delete(env, "SCRIPT_FILENAME")
	}
	_, script := env["SCRIPT_NAME"]
	_, path := env["PATH_INFO"]
	if !script && !path {
		env["SCRIPT_NAME"] = ""
		if p, ok := handler.RequestPath(env); ok {
			env["PATH_INFO"] = p
		}
	}
	return env
}

// remoteAddr names the peer in the log.
func remoteAddr(nc net.Conn) string {
	a := nc.RemoteAddr()
	if a == nil || a.String() == "" || a.String() == "@" {
		return "unix:"
	}
	return a.String()
}
