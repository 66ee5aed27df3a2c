package handler

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Errors in a CGI response header block. ReadResponse and ReadNPHResponse
// return them wrapped in a *ParseError.
var (
	// ErrNoResponse: the program wrote nothing at all (RFC 3875 §6.1).
	ErrNoResponse = errors.New("handler: no cgi response")
	// ErrTruncated: the output ended before the blank line that ends the
	// header block.
	ErrTruncated = errors.New("handler: cgi header block truncated")
	// ErrHeaderTooLarge: the header block is longer than the limit.
	ErrHeaderTooLarge = errors.New("handler: cgi header block too large")
	// ErrNoFields: the header block is empty; a CGI response has at least
	// one field (RFC 3875 §6.2).
	ErrNoFields = errors.New("handler: cgi header block has no fields")
	// ErrMalformedLine: a header line has no colon.
	ErrMalformedLine = errors.New("handler: cgi header line has no colon")
	// ErrBadFieldName: a field name is empty or not an RFC 9110 token
	// (RFC 9110 §5.1); whitespace before the colon is not allowed.
	ErrBadFieldName = errors.New("handler: invalid cgi header field name")
	// ErrContinuation: a header line starts with SP or HTAB. CGI responses
	// have no continuation lines (RFC 3875 §6.3).
	ErrContinuation = errors.New("handler: continuation line in cgi header")
	// ErrDuplicate: a second Status or Location field. Each CGI field
	// appears at most once (RFC 3875 §6.3); the response is rejected rather
	// than one of them picked, so there are never two statuses.
	ErrDuplicate = errors.New("handler: duplicate cgi header field")
)

// A ParseError is an error in a CGI response header block.
type ParseError struct {
	// Line is the 1-based number of the line where the error was found, or
	// 0 when no line is to blame (ErrNoResponse).
	Line int
	// Err is one of the Err variables of this package, possibly wrapped,
	// or an error from reading.
	Err error

	nph bool // the block of an nph- program: its line 1 is a status line
}

// Error returns Err's message and the line number.
func (e *ParseError) Error() string {
	if e.Line == 0 {
		return e.Err.Error()
	}
	return e.Err.Error() + " (line " + strconv.Itoa(e.Line) + ")"
}

// Unwrap returns Err.
func (e *ParseError) Unwrap() error { return e.Err }

// A Kind is one of the kinds of CGI response of RFC 3875 §6.2.
type Kind int

const (
	// Document is a document response (§6.2.1): not a redirect.
	Document Kind = iota
	// LocalRedirect is a Location starting with '/' and no other field,
	// not even Status (§6.2.2). The server serves that path instead.
	LocalRedirect
	// ClientRedirect is a Location with no Content-Type (§6.2.3). A Location
	// starting with '/' and other fields is one too: it is not a valid local
	// redirect, and gatewayd sends it to the client.
	ClientRedirect
	// ClientRedirectDoc is a Location with a Content-Type: a redirect with a
	// document for the client (§6.2.4).
	ClientRedirectDoc
)

var kindNames = [...]string{
	Document:          "document",
	LocalRedirect:     "local redirect",
	ClientRedirect:    "client redirect",
	ClientRedirectDoc: "client redirect with document",
}

// String returns the kind in words: "local redirect".
func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// A Response is a parsed CGI response header block.
type Response struct {
	// Status is the Status field's value, or the default for the Kind:
	// 200 OK for a Document, 302 Found for the redirects. (A LocalRedirect
	// is served inside gatewayd; 302 is for a front-end that sends it to
	// the client instead.)
	Status Status
	// HasStatus reports whether a Status field was present.
	HasStatus bool
	// ReasonAdded reports that the Status had no reason phrase: Status
	// holds the standard one (CGI-STATUS-REASON).
	ReasonAdded bool
	// Header holds every field except Status, in order, with names as sent.
	// Fields with an empty value are left out: a NULL value is the same as
	// a field not sent (RFC 3875 §6.3).
	Header *Headers
	// Kind is the kind of response, from its fields.
	Kind Kind
}

// ReadResponse reads one CGI header block (RFC 3875 §6) from br and
// classifies it. When it returns without error, br is at the first byte of
// the body.
//
// Lines end in LF or CRLF (§6.3.4). The block ends at the first empty line.
// Field names are tokens and are matched ignoring case; SP and HTAB around a
// value are trimmed. Continuation lines, control characters in values
// (HTAB aside), a malformed Status and a second Status or Location are
// errors.
//
// limit bounds the header block in bytes, line endings and the final empty
// line included; a limit of 0 or less means no limit. A single line may be as
// long as the limit allows, whatever the size of br's buffer.
//
// Every error is a *ParseError wrapping one of the Err variables of this
// package, or the error from br if it is not io.EOF.
func ReadResponse(br *bufio.Reader, limit int) (*Response, error) {
	lr := &lineReader{br: br, limit: limit}
	return lr.readResponse(false)
}

// ReadNPHResponse reads the header block of a non-parsed-header response
// (RFC 3875 §5): an HTTP status line such as "HTTP/1.0 200 OK" and then
// header fields, read as ReadResponse reads them. The status line gives
// Status, and HasStatus is true. A Status field among the others is an
// ErrDuplicate. Unlike a CGI response the fields may be none.
//
// It is for front-ends that cannot pass NPH output through raw, such as
// FastCGI (which has no NPH) and SCGI: they send the parsed response instead.
// A malformed status line is an ErrBadStatus on line 1.
func ReadNPHResponse(br *bufio.Reader, limit int) (*Response, error) {
	lr := &lineReader{br: br, limit: limit}
	line, err := lr.next()
	if err != nil {
		return nil, err
	}
	st, err := parseStatusLine(line)
	if err != nil {
		return nil, &ParseError{Line: 1, Err: err, nph: true}
	}
	lr.status, lr.hasStatus, lr.reasonAdded = st, true, noReason(line[len("HTTP/1.x "):])
	return lr.readResponse(true)
}

// Lint reads a header block as ReadResponse does (ReadNPHResponse with
// nph), but goes on past an error in one line to report every one, as
// gatewayd check does. It returns the Response the other lines make, which
// Check has repaired, and every violation: those of the lines, in order,
// then Check's. The Response is nil when the block cannot be read at all:
// no output, no end, over limit, no field, or an NPH status line that is
// not one.
func Lint(br *bufio.Reader, nph bool, limit int) (*Response, []Violation) {
	lr := &lineReader{br: br, limit: limit, lint: true}
	if nph {
		line, err := lr.next()
		if err != nil {
			return nil, lr.violation(err, "")
		}
		st, err := parseStatusLine(line)
		if err != nil {
			return nil, lr.violation(&ParseError{Line: 1, Err: err, nph: true}, line)
		}
		lr.status, lr.hasStatus, lr.reasonAdded = st, true, noReason(line[len("HTTP/1.x "):])
	}
	resp, err := lr.readResponse(nph)
	if errors.Is(err, ErrNoFields) && len(lr.found) > 0 {
		return nil, lr.found // every field was bad: that says it
	}
	if err != nil {
		return nil, lr.violation(err, "")
	}
	// Check's violations name fields; each gets the line of the first
	// field of that name not named yet.
	used := map[int]bool{}
	vs := Check(resp)
	for i, v := range vs {
		for _, l := range lr.lines {
			if name, _, _ := strings.Cut(l.text, ":"); name == v.Field && !used[l.n] {
				vs[i].Line, vs[i].Text, used[l.n] = l.n, l.text, true
				break
			}
		}
	}
	return resp, append(lr.found, vs...)
}

// violation adds err's violation to those found and returns them all.
func (r *lineReader) violation(err error, line string) []Violation {
	r.problem(err, line)
	return r.found
}

// problem records err, an error in line, in lint mode and returns nil so
// that reading goes on; otherwise it returns err.
func (r *lineReader) problem(err error, line string) error {
	if !r.lint {
		return err
	}
	v := Violation{Problem: problemOf(err), Text: line}
	if pe, ok := err.(*ParseError); ok {
		v.Line = pe.Line
		v.Problem = problemOf(pe.Err)
	}
	if rule, ok := RuleOf(err); ok {
		v.Rule = rule.ID
	}
	if name, _, ok := strings.Cut(line, ":"); ok && IsToken(name) {
		v.Field = name
	}
	r.found = append(r.found, v)
	return nil
}

// noReason reports whether a Status value is a code alone.
func noReason(v string) bool { return len(strings.Trim(v, " \t")) == 3 }

// parseStatusLine parses "HTTP/1.x NNN reason" (RFC 9112 §4).
func parseStatusLine(line string) (Status, error) {
	rest, ok := strings.CutPrefix(line, "HTTP/1.")
	if !ok || len(rest) < 2 || !isDigit(rest[0]) || rest[1] != ' ' {
		return Status{}, fmt.Errorf("%w: status line %q", ErrBadStatus, line)
	}
	return ParseStatus(rest[2:])
}

// lineReader reads the lines of a header block and keeps what the fields
// say as it goes.
type lineReader struct {
	br    *bufio.Reader
	limit int // bytes allowed in the block; 0 or less for no limit
	size  int // bytes read so far
	n     int // lines read so far

	status      Status
	hasStatus   bool
	reasonAdded bool

	lint  bool        // go on past errors in single lines (Lint)
	found []Violation // what lint found
	lines []numbered  // the field lines, in lint mode
}

// numbered is a header line and its number.
type numbered struct {
	n    int
	text string
}

// next returns the next line without its LF or CRLF. Its errors are
// *ParseErrors.
func (r *lineReader) next() (string, error) {
	r.n++
	var line []byte
	for {
		chunk, err := r.br.ReadSlice('\n')
		r.size += len(chunk)
		if r.limit > 0 && r.size > r.limit {
			return "", &ParseError{Line: r.n, Err: ErrHeaderTooLarge}
		}
		line = append(line, chunk...)
		switch {
		case err == nil:
			line = line[:len(line)-1]
			if len(line) > 0 && line[len(line)-1] == '\r' {
				line = line[:len(line)-1]
			}
			return string(line), nil
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF && r.size == 0:
			return "", &ParseError{Err: ErrNoResponse}
		case err == io.EOF:
			return "", &ParseError{Line: r.n, Err: ErrTruncated}
		default:
			return "", &ParseError{Line: r.n, Err: fmt.Errorf("handler: read cgi response: %w", err)}
		}
	}
}

// readResponse reads fields up to the empty line and classifies the result.
// nph says whether the status line was read already.
func (r *lineReader) readResponse(nph bool) (*Response, error) {
	h := new(Headers)
	var location string
	hasLocation := false
	for {
		line, err := r.next()
		if err != nil {
			return nil, err
		}
		if line == "" {
			break
		}
		f, err := parseField(line)
		if err != nil {
			if err := r.problem(&ParseError{Line: r.n, Err: err}, line); err != nil {
				return nil, err
			}
			continue
		}
		if f.Value == "" {
			continue // RFC 3875 §6.3: a NULL value is a field not sent
		}
		if r.lint {
			r.lines = append(r.lines, numbered{r.n, line})
		}
		switch {
		case equalFold(f.Name, "Status"):
			if r.hasStatus {
				if err := r.problem(&ParseError{Line: r.n, Err: fmt.Errorf("%w: %s", ErrDuplicate, f.Name)}, line); err != nil {
					return nil, err
				}
				continue
			}
			st, err := ParseStatus(f.Value)
			if err != nil {
				if err := r.problem(&ParseError{Line: r.n, Err: err}, line); err != nil {
					return nil, err
				}
				continue
			}
			r.status, r.hasStatus, r.reasonAdded = st, true, noReason(f.Value)
			continue
		case equalFold(f.Name, "Location"):
			if hasLocation {
				if err := r.problem(&ParseError{Line: r.n, Err: fmt.Errorf("%w: %s", ErrDuplicate, f.Name)}, line); err != nil {
					return nil, err
				}
				continue
			}
			location, hasLocation = f.Value, true
		}
		h.fields = append(h.fields, f)
	}
	if h.Len() == 0 && !r.hasStatus && !nph {
		return nil, &ParseError{Line: r.n, Err: ErrNoFields}
	}

	resp := &Response{Status: r.status, HasStatus: r.hasStatus, ReasonAdded: r.reasonAdded, Header: h}
	switch {
	case !hasLocation:
		resp.Kind = Document
	case strings.HasPrefix(location, "/") && h.Len() == 1 && !r.hasStatus:
		resp.Kind = LocalRedirect
	case h.Has("Content-Type"):
		resp.Kind = ClientRedirectDoc
	default:
		resp.Kind = ClientRedirect
	}
	if !resp.HasStatus {
		resp.Status = Status{200, "OK"}
		if resp.Kind != Document {
			resp.Status = Status{302, "Found"}
		}
	}
	return resp, nil
}

// parseField splits a header line into a field (RFC 3875 §6.3). The name must
// be a token; SP and HTAB around the value are trimmed.
func parseField(line string) (Field, error) {
	if line[0] == ' ' || line[0] == '\t' {
		return Field{}, ErrContinuation
	}
	name, value, ok := strings.Cut(line, ":")
	if !ok {
		return Field{}, ErrMalformedLine
	}
	if !IsToken(name) {
		return Field{}, fmt.Errorf("%w: %q", ErrBadFieldName, name)
	}
	value = strings.Trim(value, " \t")
	if badValue(value) {
		return Field{}, fmt.Errorf("%w: field %s", ErrControlChar, name)
	}
	return Field{Name: name, Value: value}, nil
}

// IsToken reports whether s is an RFC 9110 §5.6.2 token, as a field name
// must be: visible ASCII but the delimiters "(),/:;<=>?@[\]{}, no space.
func IsToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || isDigit(c) {
			continue
		}
		if !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}
