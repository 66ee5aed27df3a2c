package http

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	nethttp "net/http"
	"net/textproto"
	"strconv"
	"sync"
)

// The framing check (RFC 9112 §6.1, §6.3). net/http settles an ambiguous
// request framing on its own and hides that it did: of Content-Length and
// Transfer-Encoding: chunked it keeps the chunked coding and deletes
// Content-Length from Request.Header; of several equal Content-Length
// fields it keeps one; it ignores Transfer-Encoding in an HTTP/1.0 request;
// and it keeps the connection open after each. A proxy in front that reads
// the other framing then passes a second, hidden request, which net/http
// serves (request smuggling). By the time a handler runs nothing in the
// Request tells these cases apart, so each connection is read through a
// framingConn that checks each header block on its way to net/http.

// errFraming is wrapped by the reason a request is refused.
var errFraming = errors.New("http: ambiguous request framing")

// framingListener wraps each connection it accepts in a framingConn.
type framingListener struct {
	net.Listener
	maxBlock int // header block bytes checked before giving up
}

func (l framingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &framingConn{Conn: c, maxBlock: l.maxBlock}, nil
}

// framing is what the check found in one header block.
type framing struct {
	method, target, proto string // the request line, to match the block with its Request
	err                   error  // why the framing is ambiguous, or nil
	// last is set when the body is chunked: the check does not follow
	// chunks, so nothing after this request can be checked, and the
	// connection is closed after its response.
	last bool
}

// framingConn passes the bytes of a connection through unchanged and
// checks the framing of each request header among them: the request line
// and the Content-Length and Transfer-Encoding fields, as net/http's
// textproto reads them (lines end in LF with an optional CR before it; a
// line that starts with SP or HTAB continues the field before it). Bodies
// framed by Content-Length are skipped to find the next header block.
//
// The check stops at the first block that ends the connection (ambiguous,
// malformed or chunked) or is too long to check; a request it has no
// result for is refused.
type framingConn struct {
	net.Conn
	maxBlock int

	mu sync.Mutex // guards what follows; net/http reads from two goroutines, one at a time
	// The scanner's state.
	stopped bool
	skip    int64  // body bytes to pass before the next header block
	partial []byte // the start of a line not yet ended
	size    int    // bytes of the current block so far
	block   blockScan
	// checked holds the blocks scanned whose requests have not reached
	// the handler yet (more than one when a client pipelines).
	checked []framing
}

// blockScan is the state of the header block being scanned.
type blockScan struct {
	started    bool // the request line has been read
	http10     bool
	cur        framing
	fields     int
	afterFrame bool   // the field line before was Content-Length or Transfer-Encoding
	cl, te     int    // how many of each field
	clValue    string // the first of each
	teValue    string
}

func (c *framingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		c.scan(p[:n])
		c.mu.Unlock()
	}
	return n, err
}

// CloseWrite half-closes the connection, which net/http does before it
// closes a connection whose request body it has not read.
func (c *framingConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.New("http: connection cannot half-close")
}

// scan checks the bytes b read from the connection. It keeps no reference
// to b.
func (c *framingConn) scan(b []byte) {
	for len(b) > 0 && !c.stopped {
		if c.skip > 0 {
			n := int(min(c.skip, int64(len(b))))
			b, c.skip = b[n:], c.skip-int64(n)
			continue
		}
		i := bytes.IndexByte(b, '\n')
		n := i + 1
		if i < 0 {
			n = len(b)
		}
		if c.size += n; c.size > c.maxBlock {
			// net/http refuses such a block (431) before any handler
			// runs; if it did not, no check would let it through.
			c.stopped = true
			return
		}
		if i < 0 {
			c.partial = append(c.partial, b...)
			return
		}
		line := b[:i]
		if len(c.partial) > 0 {
			c.partial = append(c.partial, line...)
			line = c.partial
		}
		b = b[n:]
		c.line(bytes.TrimSuffix(line, []byte("\r")))
		c.partial = c.partial[:0]
	}
}

// line checks one line of a header block, without its line end.
func (c *framingConn) line(line []byte) {
	s := &c.block
	if !s.started {
		// parseRequestLine's split: METHOD SP TARGET SP PROTO.
		method, rest, ok1 := bytes.Cut(line, []byte(" "))
		target, proto, ok2 := bytes.Cut(rest, []byte(" "))
		major, minor, ok := nethttp.ParseHTTPVersion(string(proto))
		if !ok1 || !ok2 || !ok || major != 1 {
			c.stopped = true // net/http refuses it and closes the connection
			return
		}
		s.started, s.http10 = true, minor == 0
		s.cur = framing{method: string(method), target: string(target), proto: string(proto)}
		return
	}
	if len(line) == 0 {
		c.endBlock()
		return
	}
	if line[0] == ' ' || line[0] == '\t' {
		// obs-fold (RFC 9112 §5.2): net/http joins it to the field before.
		if s.afterFrame || s.fields == 0 {
			s.cur.err = fmt.Errorf("%w: a framing field folded over lines", errFraming)
		}
		return
	}
	s.fields++
	name, value, _ := bytes.Cut(line, []byte(":"))
	v := textproto.TrimString(string(value))
	s.afterFrame = true
	switch {
	case equalFoldASCII(name, "Content-Length"):
		if s.cl++; s.cl == 1 {
			s.clValue = v
		}
	case equalFoldASCII(name, "Transfer-Encoding"):
		if s.te++; s.te == 1 {
			s.teValue = v
		}
	default:
		s.afterFrame = false
	}
}

// endBlock decides the framing of the block just ended (RFC 9112 §6.3)
// and where the next one starts.
func (c *framingConn) endBlock() {
	s := &c.block
	f := s.cur
	switch {
	case f.err != nil:
	case s.te > 0 && s.cl > 0:
		f.err = fmt.Errorf("%w: both Content-Length and Transfer-Encoding", errFraming)
	case s.te > 0 && s.http10:
		f.err = fmt.Errorf("%w: Transfer-Encoding in an HTTP/1.0 request", errFraming)
	case s.te > 1 || s.te == 1 && !equalFoldASCII([]byte(s.teValue), "chunked"):
		f.err = fmt.Errorf("%w: transfer coding other than chunked", errFraming)
	case s.te == 1:
		f.last = true
	case s.cl > 1:
		f.err = fmt.Errorf("%w: Content-Length repeated", errFraming)
	case s.cl == 1:
		n, err := strconv.ParseInt(s.clValue, 10, 64)
		if err != nil || !allDigits(s.clValue) {
			f.err = fmt.Errorf("%w: bad Content-Length %.40q", errFraming, s.clValue)
		}
		c.skip = n
	}
	c.checked = append(c.checked, f)
	c.block, c.size = blockScan{}, 0
	if f.err != nil || f.last {
		c.stopped = true
	}
}

// claim returns the framing of r, the next request on the connection, and
// an error wrapping errFraming when it must be refused.
func (c *framingConn) claim(r *nethttp.Request) (framing, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.checked) == 0 {
		return framing{}, fmt.Errorf("%w: header not checked", errFraming)
	}
	f := c.checked[0]
	c.checked = c.checked[1:]
	if f.method != r.Method || f.target != r.RequestURI || f.proto != r.Proto {
		// The check lost track of the requests: refuse this one and, as
		// it ends the connection, every one after it.
		c.checked, c.stopped = nil, true
		return framing{}, fmt.Errorf("%w: header checked out of step", errFraming)
	}
	return f, f.err
}

// equalFoldASCII reports whether b is s, ignoring ASCII case only, as
// textproto canonicalises field names.
func equalFoldASCII(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
