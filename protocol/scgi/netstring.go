package scgi

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// The wire format of an SCGI request (SCGI protocol.txt §2, Neil
// Schemenauer, 2008):
//
//	request  = netstring body
//	netstring = length ":" headers ","
//	length   = "0" | [1-9] [0-9]*          (no leading zeros)
//	headers  = "CONTENT_LENGTH" NUL digits NUL (name NUL value NUL)*
//	name     = notnull+
//	value    = notnull*
//
// An "SCGI" header with the value "1" is required, and no name may occur
// twice ("Duplicate names are not allowed in the headers"), except for the
// HTTP_* names of request header fields (see ReadHeader). The body is
// exactly CONTENT_LENGTH bytes.

// DefaultMaxHeaderBytes is the default bound of a header block, the content
// of the netstring: 64 KiB, about what lighttpd allows.
const DefaultMaxHeaderBytes = 64 << 10

// maxLengthBytes is how far ReadHeader looks for the ':' that ends the
// netstring's length: 20 bytes, as lighttpd.
const maxLengthBytes = 20

// Names the protocol gives a meaning to.
const (
	nameContentLength = "CONTENT_LENGTH"
	nameSCGI          = "SCGI"
)

// Errors wrapped by the error ReadHeader returns for bytes that break the
// protocol (SCGI protocol.txt §2 and the netstring format). Each names the
// rule it enforces.
var (
	// ErrLength: the netstring's length is not digits without leading
	// zeros ending in ':' within 20 bytes.
	ErrLength = errors.New("scgi: bad netstring length")
	// ErrTerminator: the netstring does not end with ','.
	ErrTerminator = errors.New("scgi: netstring not terminated by ','")
	// ErrUnterminated: a name or value is not terminated by NUL.
	ErrUnterminated = errors.New("scgi: header not NUL-terminated")
	// ErrOddStrings: the header block holds a name without a value.
	ErrOddStrings = errors.New("scgi: odd number of header strings")
	// ErrEmptyName: a header name is empty.
	ErrEmptyName = errors.New("scgi: empty header name")
	// ErrNoContentLength: the first header is not CONTENT_LENGTH, or there
	// is none.
	ErrNoContentLength = errors.New("scgi: first header is not CONTENT_LENGTH")
	// ErrContentLength: CONTENT_LENGTH is not a non-empty run of ASCII
	// digits that fits in 63 bits.
	ErrContentLength = errors.New("scgi: bad CONTENT_LENGTH")
	// ErrNoSCGI: there is no SCGI header.
	ErrNoSCGI = errors.New("scgi: no SCGI header")
	// ErrSCGIVersion: an SCGI header has a value other than "1".
	ErrSCGIVersion = errors.New("scgi: SCGI header is not 1")
)

// TooLargeError is the error for a header block longer than the limit.
// It is returned as soon as the netstring's length is read: nothing of the
// block is read or allocated.
type TooLargeError struct {
	// Size is the length the netstring announced.
	Size uint64
	// Max is the limit it broke.
	Max int
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("scgi: header block of %d bytes over the limit of %d", e.Size, e.Max)
}

// DuplicateNameError is the error for a header that holds a name other
// than HTTP_* twice (SCGI protocol.txt §2): scgi: duplicate header name "REQUEST_METHOD".
type DuplicateNameError struct {
	// Name is the name sent twice.
	Name string
}

func (e *DuplicateNameError) Error() string {
	return fmt.Sprintf("scgi: duplicate header name %.60q", e.Name)
}

// Param is one name/value pair of a header block. Both are raw bytes.
type Param struct {
	Name, Value string
}

// Header is a decoded SCGI request header.
type Header struct {
	// Params are the pairs in the order they were sent, CONTENT_LENGTH and
	// SCGI included. Only an HTTP_* name may occur more than once.
	Params []Param
	// ContentLength is the value of CONTENT_LENGTH: the body is exactly
	// this many bytes.
	ContentLength int64
}

// ReadHeader reads an SCGI request header, the netstring before the body,
// from r and checks it against the protocol. The netstring's content may
// be at most max bytes (DefaultMaxHeaderBytes when max <= 0); a longer one
// is refused with a *TooLargeError before any of it is read.
//
// Names must be unique (SCGI protocol.txt §2), with one exception: an HTTP_* name may
// repeat, as nginx before 1.23 sends a request header field that occurs
// on several lines as one parameter per line (nginx 1.22.1 sends two
// X-Foo lines as HTTP_X_FOO twice, two Cookie lines as HTTP_COOKIE
// twice). Any other name sent twice, CONTENT_LENGTH and SCGI included, is
// refused with a *DuplicateNameError (but a second SCGI whose value is
// not 1 with ErrSCGIVersion).
//
// On success r is positioned at the first byte of the body. Errors: io.EOF
// when r ends before the first byte; an error wrapping
// io.ErrUnexpectedEOF when it ends inside the header; an error wrapping
// one of the Err variables of this package, a *TooLargeError or a
// *DuplicateNameError when the bytes break the protocol; else the error
// of r.
func ReadHeader(r *bufio.Reader, max int) (Header, error) {
	if max <= 0 {
		max = DefaultMaxHeaderBytes
	}
	n, err := readLength(r, max)
	if err != nil {
		return Header{}, err
	}
	block := make([]byte, n+1) // the content and its ','
	if _, err := io.ReadFull(r, block); err != nil {
		return Header{}, unexpected(err)
	}
	if block[n] != ',' {
		return Header{}, fmt.Errorf("%w: found %q", ErrTerminator, block[n])
	}
	return parseHeader(block[:n])
}

// readLength reads the netstring's length and its ':'.
func readLength(r *bufio.Reader, max int) (int, error) {
	var n uint64
	for i := 0; ; i++ {
		c, err := r.ReadByte()
		if err != nil {
			if i > 0 {
				err = unexpected(err)
			}
			return 0, err
		}
		switch {
		case c == ':' && i > 0:
			if n > uint64(max) {
				return 0, &TooLargeError{Size: n, Max: max}
			}
			return int(n), nil
		case c < '0' || c > '9':
			return 0, fmt.Errorf("%w: byte %d is %q", ErrLength, i, c)
		case i > 0 && n == 0:
			return 0, fmt.Errorf("%w: leading zero", ErrLength)
		case i == maxLengthBytes-1:
			return 0, fmt.Errorf("%w: no ':' in the first %d bytes", ErrLength, maxLengthBytes)
		}
		n = n*10 + uint64(c-'0') // 19 digits at most: no overflow
	}
}

// unexpected turns an end of input inside a header into
// io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return fmt.Errorf("scgi: header block: %w", io.ErrUnexpectedEOF)
	}
	return err
}

// parseHeader parses the content of the netstring.
func parseHeader(block []byte) (Header, error) {
	// One string for the whole block: names and values are slices of it.
	s := string(block)
	h := Header{Params: make([]Param, 0, bytes.Count(block, []byte{0})/2)}
	for len(s) > 0 {
		name, rest, ok := cutNUL(s)
		if !ok {
			return Header{}, fmt.Errorf("%w: %.40q", ErrUnterminated, name)
		}
		if rest == "" {
			return Header{}, fmt.Errorf("%w: %.40q has no value", ErrOddStrings, name)
		}
		value, rest, ok := cutNUL(rest)
		if !ok {
			return Header{}, fmt.Errorf("%w: value of %.40q", ErrUnterminated, name)
		}
		if name == "" {
			return Header{}, ErrEmptyName
		}
		h.Params = append(h.Params, Param{name, value})
		s = rest
	}
	if len(h.Params) == 0 || h.Params[0].Name != nameContentLength {
		return Header{}, ErrNoContentLength
	}
	cl := h.Params[0].Value
	n, err := strconv.ParseInt(cl, 10, 64)
	if err != nil || !allDigits(cl) {
		return Header{}, fmt.Errorf("%w: %.40q", ErrContentLength, cl)
	}
	h.ContentLength = n
	scgi := false
	seen := make(map[string]struct{}, len(h.Params))
	for _, p := range h.Params {
		if p.Name == nameSCGI {
			if p.Value != "1" {
				return Header{}, fmt.Errorf("%w: %.40q", ErrSCGIVersion, p.Value)
			}
			scgi = true
		}
		if repeatable(p.Name) {
			continue
		}
		if _, dup := seen[p.Name]; dup {
			return Header{}, &DuplicateNameError{Name: p.Name}
		}
		seen[p.Name] = struct{}{}
	}
	if !scgi {
		return Header{}, ErrNoSCGI
	}
	return h, nil
}

// repeatable reports whether name may occur more than once in a header:
// the HTTP_* names of request header fields (see ReadHeader).
func repeatable(name string) bool { return strings.HasPrefix(name, "HTTP_") }

// cutNUL cuts s at its first NUL; ok is false when there is none.
func cutNUL(s string) (before, after string, ok bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// AppendHeader appends to dst the header of an SCGI request whose body is
// contentLength bytes: a netstring holding CONTENT_LENGTH, then SCGI=1,
// then params in order. A CONTENT_LENGTH or SCGI among params is left out;
// a name that is empty or holds NUL, or a value that holds NUL, cannot be
// encoded and is left out too, and so is a name other than HTTP_* after
// its first occurrence. ReadHeader accepts what AppendHeader writes.
func AppendHeader(dst []byte, contentLength int64, params []Param) []byte {
	cl := strconv.FormatInt(contentLength, 10)
	size := len(nameContentLength) + len(cl) + len(nameSCGI) + len("1") + 4
	keep := make([]bool, len(params))
	seen := make(map[string]struct{}, len(params))
	for i, p := range params {
		if !encodable(p) {
			continue
		}
		if !repeatable(p.Name) {
			if _, dup := seen[p.Name]; dup {
				continue
			}
			seen[p.Name] = struct{}{}
		}
		keep[i] = true
		size += len(p.Name) + len(p.Value) + 2
	}
	dst = strconv.AppendInt(dst, int64(size), 10)
	dst = append(dst, ':')
	dst = appendPair(dst, nameContentLength, cl)
	dst = appendPair(dst, nameSCGI, "1")
	for i, p := range params {
		if keep[i] {
			dst = appendPair(dst, p.Name, p.Value)
		}
	}
	return append(dst, ',')
}

func encodable(p Param) bool {
	return p.Name != "" && p.Name != nameContentLength && p.Name != nameSCGI &&
		!containsNUL(p.Name) && !containsNUL(p.Value)
}

func containsNUL(s string) bool {
	_, _, ok := cutNUL(s)
	return ok
}

func appendPair(dst []byte, name, value string) []byte {
	dst = append(dst, name...)
	dst = append(dst, 0)
	dst = append(dst, value...)
	return append(dst, 0)
}
