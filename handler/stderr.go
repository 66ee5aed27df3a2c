package handler

import (
	"bytes"
	"io"
	"strconv"
	"unicode/utf8"

	"github.com/hashicorp/go-hclog"
)

// Bounds of a StderrLog.
const (
	// DefaultMaxStderr is the default bound of the stderr bytes passed on
	// per request.
	DefaultMaxStderr = 64 << 10
	// stderrTail is how much of the end of stderr is kept for the failure
	// log line (Exit.Stderr).
	stderrTail = 1 << 10
	// maxStderrLine is the longest line passed on whole; a longer one is
	// passed on in pieces of this size.
	maxStderrLine = 4 << 10
)

// StderrLog takes what a program writes on its standard error during one
// request and passes it on line by line: to the front-end's sink when the
// request has one (Call.Stderr, FastCGI's FCGI_STDERR stream), else to the
// request's log as warnings, with bytes that could forge or garble a log
// line escaped. At most max bytes are passed on; the rest is counted, and
// Close logs how much was dropped. It keeps the end of what was written for
// Exit.Stderr. A StderrLog is not safe for concurrent use.
type StderrLog struct {
	log     hclog.Logger // the request's; kv is added when a line is logged
	kv      []any
	sink    io.Writer
	max     int
	line    []byte // a line not yet complete
	tail    Tail
	logged  int
	dropped int
}

// NewStderrLog returns a StderrLog for c's program that passes on at most
// max bytes (DefaultMaxStderr when max <= 0). Logged lines carry
// c.Log's fields and kv.
func NewStderrLog(c *Call, max int, kv ...any) *StderrLog {
	if max <= 0 {
		max = DefaultMaxStderr
	}
	log := c.Log
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &StderrLog{log: log, kv: kv, sink: c.Stderr, max: max}
}

// logger is the logger of the lines: made when the first is logged, as
// most programs write no stderr at all.
func (s *StderrLog) logger() hclog.Logger {
	if len(s.kv) > 0 {
		s.log, s.kv = s.log.With(s.kv...), nil
	}
	return s.log
}

// Write passes on the complete lines of b and keeps the rest for the next
// Write or Close. It never fails: a sink that fails is dropped, and what
// follows is only counted in the tail.
func (s *StderrLog) Write(b []byte) (int, error) {
	n := len(b)
	s.tail.Write(b)
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			room := maxStderrLine - len(s.line)
			if len(b) < room {
				s.line = append(s.line, b...)
				break
			}
			s.line = append(s.line, b[:room]...)
			b = b[room:]
		} else {
			s.line = append(s.line, b[:i+1]...)
			b = b[i+1:]
		}
		s.pass(s.line)
		s.line = s.line[:0]
	}
	return n, nil
}

// Close passes on a last line without its newline and logs how much was
// dropped over the bound.
func (s *StderrLog) Close() {
	if len(s.line) > 0 {
		s.pass(s.line)
		s.line = nil
	}
	if s.dropped > 0 {
		s.logger().Warn("stderr truncated", "logged_bytes", s.logged, "dropped_bytes", s.dropped)
	}
}

// Tail returns the last KiB or so that was written, without its final
// newlines: for the failure log line.
func (s *StderrLog) Tail() string { return s.tail.String() }

// Tail keeps the last KiB or so of what is written to it: a program's
// output, for the line that says why it failed. Its zero value is ready;
// it is not safe for concurrent use.
type Tail struct{ buf []byte }

// Write keeps the end of b. It never fails.
func (t *Tail) Write(b []byte) (int, error) {
	if len(b) >= stderrTail {
		t.buf = append(t.buf[:0], b[len(b)-stderrTail:]...)
		return len(b), nil
	}
	t.buf = append(t.buf, b...)
	if len(t.buf) > 2*stderrTail {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-stderrTail:]...)
	}
	return len(b), nil
}

// String returns the last KiB or so, without its final newlines.
func (t *Tail) String() string {
	b := t.buf
	if len(b) > stderrTail {
		b = b[len(b)-stderrTail:]
	}
	return string(bytes.TrimRight(b, "\n"))
}

func (s *StderrLog) pass(line []byte) {
	switch {
	case s.logged+len(line) > s.max:
		s.dropped += len(line)
	case s.sink != nil:
		if _, err := s.sink.Write(line); err != nil {
			s.sink = io.Discard // the front-end's stream is gone; keep counting
		}
		s.logged += len(line)
	default:
		s.logger().Warn("stderr: " + Printable(line))
		s.logged += len(line)
	}
}

// Printable returns line without its line ending, with bytes that could
// forge or garble a log line (control characters, invalid UTF-8) shown as
// Go escapes.
func Printable(line []byte) string {
	line = bytes.TrimRight(line, "\r\n")
	for i := 0; i < len(line); {
		r, n := utf8.DecodeRune(line[i:])
		if r == utf8.RuneError && n <= 1 || r < 0x20 && r != '\t' || r == 0x7f {
			q := strconv.QuoteToASCII(string(line))
			return q[1 : len(q)-1]
		}
		i += n
	}
	return string(line)
}
