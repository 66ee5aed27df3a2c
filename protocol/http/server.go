// Package http is gatewayd's development HTTP/1.1 origin server, the
// counterpart of wsgiref's simple_server, on net/http: keep-alive, chunked
// transfer when a length is unknown, HEAD without a body, Date, and
// "Server: gatewayd/VERSION". It turns each request into a CGI environment
// and hands it to the handler pipeline, which answers in origin form.
//
// The environment is wsgiref.simple_server's get_environ corrected by
// RFC 3875 where the two differ:
//
//   - SERVER_NAME comes from the Host header (RFC 3875 §4.1.14), else the
//     local address; wsgiref uses the name the server was bound to.
//     SERVER_PORT is the port the request arrived on (§4.1.15).
//   - CONTENT_TYPE is absent when the request has none (§4.1.3); wsgiref
//     puts "text/plain".
//   - CONTENT_LENGTH is absent when there is no body (§4.1.2); wsgiref puts
//     "". A chunked body is de-chunked and counted (§4.2).
//   - REMOTE_HOST is REMOTE_ADDR (§4.1.9 allows it); wsgiref leaves "".
//     REMOTE_ADDR of a client on a unix socket is "unix:", as nginx says.
//   - Repeated header fields are joined with ", ", Cookie with "; "
//     (§4.1.18, as nginx does); wsgiref joins with ",". Header names holding
//     anything but letters, digits and '-' are dropped, as nginx and Apache
//     drop them, so "X_Foo" cannot shadow "X-Foo"; wsgiref merges them.
//     Folded (obs-fold) header lines are merged by net/http with one space.
//   - Authorization and Proxy-Authorization are not passed (§9.2) unless
//     PassAuthorization is set; HTTP_PROXY is never passed (httpoxy).
//   - The daemon's own environment does not leak into requests: only the
//     handler's allow-list does. wsgiref passes the whole of it.
//   - An absolute-form request target (GET http://host/x) gives PATH_INFO
//     "/x"; wsgiref gives "http://host/x".
//   - REQUEST_URI (the raw request target), REQUEST_SCHEME, SERVER_ADDR and
//     REMOTE_PORT are added, as nginx and Apache add them.
//
// The framing of each request is checked before net/http reads it (RFC
// 9112 §6.1, §6.3): a request with both Content-Length and
// Transfer-Encoding, with Transfer-Encoding in HTTP/1.0, with a
// Transfer-Encoding or Content-Length field folded over lines, or with
// Content-Length repeated (as nginx refuses it) gets 400, its connection is
// closed and no program runs; nothing after it on the connection is read
// as a request. net/http alone would pick one reading — the chunked one,
// the single value, the Content-Length — and keep the connection, so a
// request a proxy in front took for body would run (request smuggling). A
// malformed Content-Length is net/http's 400, a transfer coding other than
// chunked its 501. A chunked request is served and then ends its
// connection: the check does not follow chunks to the next request.
//
// Kept from wsgiref: PATH_INFO is the percent-decoded path, byte for byte
// ("%2F" decodes to "/", "+" stays), with a run of leading slashes collapsed
// to one (gh-87389); QUERY_STRING is the raw query, "" when there is none;
// SERVER_PROTOCOL is the request's own version. The response status line is
// net/http's: "HTTP/1.1" and its standard reason phrase for the code.
package http

import (
	"context"
	"errors"
	"io"
	"net"
	nethttp "net/http"
	"net/textproto"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"gatewayd/environ"
	"gatewayd/handler"
)

// Config configures a Server. Zero fields take the default their comment
// gives.
type Config struct {
	// Handler runs the requests: the pipeline (*handler.Handler), or
	// whatever stands in front of it. Required.
	Handler handler.Server
	// ServerSoftware is SERVER_SOFTWARE and the Server response header.
	// Default: "gatewayd".
	ServerSoftware string
	// ReadHeaderTimeout bounds reading a request's header. Default: 10s.
	ReadHeaderTimeout time.Duration
	// IdleTimeout bounds the wait for the next request on a kept-alive
	// connection. Default: 120s.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds a request's header; more gets 431. Default: 64 KiB.
	MaxHeaderBytes int
	// PassAuthorization passes Authorization and Proxy-Authorization to
	// programs as HTTP_AUTHORIZATION and HTTP_PROXY_AUTHORIZATION.
	PassAuthorization bool
	// Logger receives net/http's errors; the handler logs the requests,
	// those refused for their framing included. Default: no logging.
	Logger hclog.Logger
}

// Defaults of Config.
const (
	DefaultServerSoftware    = handler.DefaultServerSoftware
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
	DefaultMaxHeaderBytes    = 64 << 10
)

// Server serves HTTP/1.1 through a handler.Server.
type Server struct {
	cfg Config
	srv *nethttp.Server
	ids atomic.Uint64
}

// New returns a Server for cfg.
func New(cfg Config) *Server {
	if cfg.ServerSoftware == "" {
		cfg.ServerSoftware = DefaultServerSoftware
	}
	if cfg.ReadHeaderTimeout <= 0 {
		cfg.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.MaxHeaderBytes <= 0 {
		cfg.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	s := &Server{cfg: cfg}
	s.srv = &nethttp.Server{
		Handler:           s,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		ErrorLog:          cfg.Logger.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}),
		// Every request, OPTIONS * too, goes through ServeHTTP's framing
		// check, so that each Request meets its header block.
		DisableGeneralOptionsHandler: true,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if fc, ok := c.(*framingConn); ok {
				ctx = context.WithValue(ctx, framingKey{}, fc)
			}
			return ctx
		},
	}
	return s
}

// framingKey is the context key of a request's *framingConn.
type framingKey struct{}

// Serve accepts connections on l until Shutdown. It returns
// nethttp.ErrServerClosed after Shutdown.
func (s *Server) Serve(l net.Listener) error {
	// net/http reads at most MaxHeaderBytes+4096 bytes for a header, and
	// may have up to 4096 more in its buffer.
	return s.srv.Serve(framingListener{Listener: l, maxBlock: s.cfg.MaxHeaderBytes + 8<<10})
}

// Shutdown stops accepting connections and waits for in-flight requests to
// finish, or for ctx to end, whose error it then returns.
func (s *Server) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }

// ServeHTTP runs one request through the pipeline. On a connection that
// Serve accepted, a request whose framing is ambiguous is refused first
// (see the package comment); a Server used as a handler of another
// nethttp.Server has only net/http's own checks.
func (s *Server) ServeHTTP(w nethttp.ResponseWriter, r *nethttp.Request) {
	if fc, ok := r.Context().Value(framingKey{}).(*framingConn); ok {
		f, err := fc.claim(r)
		if err != nil {
			w.Header().Set("Connection", "close")
			req := &handler.Request{Env: s.environ(r), ID: strconv.FormatUint(s.ids.Add(1), 10), Frontend: "http",
				Refuse: &handler.Error{Status: nethttp.StatusBadRequest, Err: err}}
			s.cfg.Handler.Serve(r.Context(), req, &responseWriter{w: w, software: s.cfg.ServerSoftware})
			return
		}
		if f.last {
			w.Header().Set("Connection", "close")
		}
	}
	if r.Method == "OPTIONS" && r.RequestURI == "*" {
		// What net/http answers when its own OPTIONS handler is enabled.
		w.Header().Set("Content-Length", "0")
		if r.ContentLength != 0 {
			io.Copy(io.Discard, nethttp.MaxBytesReader(w, r.Body, 4<<10))
		}
		return
	}
	body := &trackedBody{r: r.Body, length: r.ContentLength}
	req := &handler.Request{
		Env:      s.environ(r),
		ID:       strconv.FormatUint(s.ids.Add(1), 10),
		Frontend: "http",
	}
	if r.ContentLength != 0 {
		req.Body = body
		// Programs may write their response before reading their body;
		// without this net/http would discard the unread body at the first
		// header write.
		nethttp.NewResponseController(w).EnableFullDuplex()
	}
	rw := &responseWriter{w: w, software: s.cfg.ServerSoftware}
	if req.Body != nil {
		rw.body = body
	}
	res := s.cfg.Handler.Serve(r.Context(), req, rw)
	if res.Aborted && res.Status > 0 {
		// The response was cut short: end the connection without the
		// last chunk, so that the client sees it incomplete rather than
		// a short body that looks whole. What was written goes out first.
		nethttp.NewResponseController(w).Flush()
		panic(nethttp.ErrAbortHandler)
	}
	if req.Body != nil && !body.done() {
		// A program that did not read its whole body may have left a stdin
		// pump blocked in Read; end that read so the connection can close.
		nethttp.NewResponseController(w).SetReadDeadline(time.Now())
	}
}

// environ builds the CGI environment of r.
func (s *Server) environ(r *nethttp.Request) environ.Environ {
	env := environ.Environ{
		"SERVER_SOFTWARE": s.cfg.ServerSoftware,
		"SERVER_PROTOCOL": r.Proto,
		"REQUEST_METHOD":  r.Method,
		"REQUEST_URI":     r.RequestURI,
		"REQUEST_SCHEME":  "http",
		"SCRIPT_NAME":     "",
		"PATH_INFO":       "/" + strings.TrimLeft(r.URL.Path, "/"),
		"QUERY_STRING":    r.URL.RawQuery,
	}
	if r.URL.Path == "" {
		env["PATH_INFO"] = "/"
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		env["CONTENT_TYPE"] = ct
	}
	if r.ContentLength > 0 || r.ContentLength == 0 && len(r.Header["Content-Length"]) > 0 {
		env["CONTENT_LENGTH"] = strconv.FormatInt(r.ContentLength, 10)
	}
	env.AddHeaders(r.Header, s.cfg.PassAuthorization)
	if r.Host != "" {
		env["HTTP_HOST"] = r.Host
	}

	remote, rport := splitHostPort(r.RemoteAddr)
	if remote == "" {
		remote = "unix:"
	}
	env["REMOTE_ADDR"], env["REMOTE_HOST"] = remote, remote
	if rport != "" {
		env["REMOTE_PORT"] = rport
	}
	local, lport := "", ""
	if a, ok := r.Context().Value(nethttp.LocalAddrContextKey).(net.Addr); ok && a.Network() == "tcp" {
		local, lport = splitHostPort(a.String())
		env["SERVER_ADDR"] = local
	}
	name, hport := hostPort(r.Host)
	if name == "" {
		name = local
		if strings.Contains(name, ":") {
			name = "[" + name + "]"
		}
	}
	if lport == "" {
		lport = hport
	}
	if lport == "" {
		lport = "80"
	}
	env["SERVER_NAME"], env["SERVER_PORT"] = name, lport
	return env
}

// splitHostPort splits "host:port" and "[v6]:port"; anything else gives "".
func splitHostPort(addr string) (host, port string) {
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", ""
	}
	return h, p
}

// hostPort splits a Host header value, keeping an IPv6 literal's brackets
// (RFC 3875 §4.1.14).
func hostPort(host string) (name, port string) {
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.Contains(host[i:], "]") {
		return strings.ToLower(host[:i]), host[i+1:]
	}
	return strings.ToLower(host), ""
}

// trackedBody notes whether the request body was read to its end.
type trackedBody struct {
	r      io.Reader
	length int64 // the body's Content-Length, or -1
	read   atomic.Int64
	eof    atomic.Bool
}

func (b *trackedBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if b.read.Add(int64(n)) == b.length || err == io.EOF {
		b.eof.Store(true)
	}
	return n, err
}

// done reports whether the whole body has been read.
func (b *trackedBody) done() bool { return b.eof.Load() }

// responseWriter is the handler.ResponseWriter of an HTTP request: the
// origin form, written by net/http, which adds Date.
type responseWriter struct {
	w        nethttp.ResponseWriter
	software string
	body     *trackedBody // the request's body, or nil when it has none
}

// netHTTPFields are the response fields net/http acts on, found only under
// their canonical names: "Content-type" (as PHP writes it) kept as it was
// would get a sniffed Content-Type beside it, and "date" a second Date.
// Other names keep the program's case.
var netHTTPFields = map[string]bool{
	"Content-Type": true, "Content-Length": true, "Transfer-Encoding": true,
	"Connection": true, "Date": true, "Trailer": true,
}

func (rw *responseWriter) WriteHeader(st handler.Status, h *handler.Headers) error {
	dst := rw.w.Header()
	for _, f := range h.Fields() {
		name := f.Name
		if c := textproto.CanonicalMIMEHeaderKey(name); netHTTPFields[c] {
			name = c
		}
		dst[name] = append(dst[name], f.Value)
	}
	if !h.Has("Server") {
		dst.Set("Server", rw.software)
	}
	if rw.body != nil && !rw.body.done() {
		// The program answers before it has read its whole body, and
		// net/http will close the connection rather than read what is
		// left: say so, or a client reusing the connection for its next
		// request finds it closed under it.
		dst.Set("Connection", "close")
	}
	rw.w.WriteHeader(st.Code)
	return nil
}

func (rw *responseWriter) Write(p []byte) (int, error) {
	n, err := rw.w.Write(p)
	if errors.Is(err, nethttp.ErrBodyNotAllowed) {
		return len(p), nil // HEAD, 204, 304: the body is dropped (RFC 3875 §4.3.3)
	}
	return n, err
}

func (rw *responseWriter) Flush() error {
	return nethttp.NewResponseController(rw.w).Flush()
}

// Raw hijacks the connection for a non-parsed-header response.
func (rw *responseWriter) Raw() (io.WriteCloser, error) {
	conn, buf, err := nethttp.NewResponseController(rw.w).Hijack()
	if err != nil {
		return nil, err
	}
	return &rawConn{conn: conn, w: buf.Writer}, nil
}

// rawConn writes through the hijacked connection's buffer and flushes each
// write: NPH output goes out with minimal buffering (RFC 3875 §5.2).
type rawConn struct {
	conn net.Conn
	w    interface {
		io.Writer
		Flush() error
	}
}

func (c *rawConn) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	if err == nil {
		err = c.w.Flush()
	}
	return n, err
}

func (c *rawConn) Close() error { return c.conn.Close() }
