package fastcgi

// This file is the FastCGI 1.0 wire format only: record header, records
// with padding, name-value pairs and stream splitting. No goroutines, no
// logging, nothing about requests.

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// version1 is the only protocol version (FastCGI §8).
const version1 = 1

// recType is a record's type (FastCGI §8).
type recType uint8

const (
	typeBeginRequest    recType = 1
	typeAbortRequest    recType = 2
	typeEndRequest      recType = 3
	typeParams          recType = 4
	typeStdin           recType = 5
	typeStdout          recType = 6
	typeStderr          recType = 7
	typeData            recType = 8
	typeGetValues       recType = 9
	typeGetValuesResult recType = 10
	typeUnknownType     recType = 11
)

func (t recType) String() string {
	names := [...]string{"", "BEGIN_REQUEST", "ABORT_REQUEST", "END_REQUEST", "PARAMS", "STDIN", "STDOUT",
		"STDERR", "DATA", "GET_VALUES", "GET_VALUES_RESULT", "UNKNOWN_TYPE"}
	if int(t) < len(names) && t != 0 {
		return names[t]
	}
	return fmt.Sprintf("type %d", uint8(t))
}

// Roles (FastCGI §5.1).
const (
	roleResponder  = 1
	roleAuthorizer = 2
	roleFilter     = 3
)

// Protocol statuses of END_REQUEST, its protocolStatus field (FastCGI
// §5.5): why the application ended a request, as opposed to its appStatus,
// the exit status of the program.
const (
	// StatusRequestComplete: the request ran to its end.
	StatusRequestComplete = 0
	// StatusCantMpxConn: the application rejected a second request on a
	// connection that already carries one.
	StatusCantMpxConn = 1
	// StatusOverloaded: the application rejected the request because it
	// ran out of a resource, such as database connections or workers.
	StatusOverloaded = 2
	// StatusUnknownRole: the application does not play the role asked for.
	StatusUnknownRole = 3
)

// flagKeepConn in BEGIN_REQUEST's flags keeps the connection open after
// the request (FastCGI §5.1).
const flagKeepConn = 1

const (
	headerLen  = 8
	maxContent = 65535
	maxPadding = 255
	// maxRecord is the largest record on the wire.
	maxRecord = headerLen + maxContent + maxPadding
)

// header is a record header (FastCGI §3.3).
type header struct {
	Version       uint8
	Type          recType
	ID            uint16
	ContentLength uint16
	PaddingLength uint8
}

// errVersion is returned for a header whose version is not 1 (FastCGI §8):
// nothing after it can be framed, so the connection must close.
var errVersion = errors.New("fastcgi: unsupported protocol version")

// readRecord reads one record from r into buf, which must hold maxRecord
// bytes, and returns its header and content; the padding is read and
// dropped (FastCGI §3.3). The content aliases buf.
func readRecord(r io.Reader, buf []byte) (header, []byte, error) {
	var h header
	if _, err := io.ReadFull(r, buf[:headerLen]); err != nil {
		return h, nil, err
	}
	h = parseHeader(buf)
	if h.Version != version1 {
		return h, nil, fmt.Errorf("%w %d", errVersion, h.Version)
	}
	n := int(h.ContentLength) + int(h.PaddingLength)
	if _, err := io.ReadFull(r, buf[:n]); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return h, nil, err
	}
	return h, buf[:h.ContentLength], nil
}

// nextRecord reads the next record as readRecord does, except that when
// br already holds all of it, content is br's own bytes rather than a copy
// in buf: they are valid until br is next used, and consumed is how many
// bytes the caller must then Discard. Otherwise consumed is 0.
func nextRecord(br *bufio.Reader, buf []byte) (h header, content []byte, consumed int, err error) {
	b, _ := br.Peek(br.Buffered())
	if h, content, n := wholeRecord(b); n > 0 {
		return h, content, n, nil
	}
	h, content, err = readRecord(br, buf)
	return h, content, 0, err
}

// wholeRecord decodes the record at the front of b when b holds all of it
// and its version is one this package reads: its header, its content (b's
// own bytes) and the bytes it spans, padding included. n is 0 otherwise.
func wholeRecord(b []byte) (h header, content []byte, n int) {
	if len(b) < headerLen {
		return h, nil, 0
	}
	h = parseHeader(b)
	n = headerLen + int(h.ContentLength) + int(h.PaddingLength)
	if h.Version != version1 || len(b) < n {
		return h, nil, 0
	}
	return h, b[headerLen : headerLen+int(h.ContentLength)], n
}

// maxStreamRecords bounds the records appendStream gathers, and so the
// slices of one write into a program's stdin.
const maxStreamRecords = 32

// appendStream appends to v the contents of the records that follow,
// whole, in br's buffer after its first skip bytes and continue h's stream:
// non-empty records of h's type for h's request, up to maxStreamRecords in
// all. It returns v and the bytes those records span, for the caller to
// Discard; like nextRecord's, the contents are br's own bytes. It stops at
// anything else, which the caller then reads as the next record.
func appendStream(v [][]byte, br *bufio.Reader, skip int, h header) ([][]byte, int) {
	b, _ := br.Peek(br.Buffered())
	b = b[skip:]
	span := 0
	for len(v) < maxStreamRecords {
		g, content, n := wholeRecord(b)
		if n == 0 || g.Type != h.Type || g.ID != h.ID || len(content) == 0 {
			break
		}
		v = append(v, content)
		b, span = b[n:], span+n
	}
	return v, span
}

// parseHeader decodes the record header at the front of b, which must hold
// headerLen bytes.
func parseHeader(b []byte) header {
	return header{
		Version:       b[0],
		Type:          recType(b[1]),
		ID:            binary.BigEndian.Uint16(b[2:]),
		ContentLength: binary.BigEndian.Uint16(b[4:]),
		PaddingLength: b[6],
	}
}

// encodeHeader is the only encoder of record headers: the header of a
// record of type t for request id with n content bytes, padded to a multiple
// of 8 bytes as the specification recommends (FastCGI §3.3), and the
// padding's length. The length field has 16 bits, so n over maxContent
// cannot be framed; callers split content (writeStream) or hold less by
// construction, and a larger n is a bug that panics rather than corrupt
// the stream.
func encodeHeader(t recType, id uint16, n int) (h [headerLen]byte, pad int) {
	if n < 0 || n > maxContent {
		panic(fmt.Sprintf("fastcgi: record content of %d bytes, over the limit of %d", n, maxContent))
	}
	pad = -n & 7
	return [headerLen]byte{version1, byte(t), byte(id >> 8), byte(id), byte(n >> 8), byte(n), byte(pad), 0}, pad
}

var padding [8]byte

// appendRecord appends one record of type t for request id holding content,
// which must be at most maxContent bytes.
func appendRecord(dst []byte, t recType, id uint16, content []byte) []byte {
	h, pad := encodeHeader(t, id, len(content))
	dst = append(dst, h[:]...)
	dst = append(dst, content...)
	return append(dst, padding[:pad]...)
}

// writeStream writes content as records of type t, split into pieces of
// at most maxContent bytes, and returns how many content bytes it wrote.
// Empty content writes nothing: the empty record that ends a stream is the
// caller's to write.
func writeStream(w io.Writer, t recType, id uint16, content []byte) (int, error) {
	n := 0
	for n < len(content) {
		chunk := content[n:min(len(content), n+maxContent)]
		if err := writeRecord(w, t, id, chunk); err != nil {
			return n, err
		}
		n += len(chunk)
	}
	return n, nil
}

// writeRecord writes the record appendRecord would append, without copying
// content, which must be at most maxContent bytes.
func writeRecord(w io.Writer, t recType, id uint16, content []byte) error {
	h, pad := encodeHeader(t, id, len(content))
	if _, err := w.Write(h[:]); err != nil {
		return err
	}
	if _, err := w.Write(content); err != nil {
		return err
	}
	_, err := w.Write(padding[:pad])
	return err
}

// beginRequest is BEGIN_REQUEST's body (FastCGI §5.1).
type beginRequest struct {
	Role  uint16
	Flags uint8
}

var errBeginLength = errors.New("fastcgi: BEGIN_REQUEST body is not 8 bytes")

func parseBeginRequest(content []byte) (beginRequest, error) {
	if len(content) != 8 {
		return beginRequest{}, errBeginLength
	}
	return beginRequest{Role: binary.BigEndian.Uint16(content), Flags: content[2]}, nil
}

// endRequestBody is END_REQUEST's body (FastCGI §5.5).
func endRequestBody(appStatus uint32, protocolStatus uint8) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint32(b, appStatus)
	b[4] = protocolStatus
	return b
}

var errEndLength = errors.New("fastcgi: END_REQUEST body is not 8 bytes")

// parseEndRequest decodes END_REQUEST's body, as endRequestBody encodes it.
func parseEndRequest(content []byte) (appStatus uint32, protocolStatus uint8, err error) {
	if len(content) != 8 {
		return 0, 0, errEndLength
	}
	return binary.BigEndian.Uint32(content), content[4], nil
}

// errNameValue is returned for a name-value pair whose lengths run past the
// data holding it.
var errNameValue = errors.New("fastcgi: malformed name-value pair")

// readNameValue reads one name-value pair from the front of b (FastCGI
// §3.4): each length is one byte, or four with the top bit set. It returns
// the pair and the rest of b; a pair cut short returns errNameValue and is
// the caller's to complete with more data (FastCGI §3.3).
func readNameValue(b []byte) (name, value string, rest []byte, err error) {
	nlen, b, ok := readLength(b)
	if !ok {
		return "", "", nil, errNameValue
	}
	vlen, b, ok := readLength(b)
	if !ok || uint64(len(b)) < uint64(nlen)+uint64(vlen) {
		return "", "", nil, errNameValue
	}
	return string(b[:nlen]), string(b[nlen : nlen+vlen]), b[nlen+vlen:], nil
}

func readLength(b []byte) (uint32, []byte, bool) {
	if len(b) == 0 {
		return 0, nil, false
	}
	if b[0]>>7 == 0 {
		return uint32(b[0]), b[1:], true
	}
	if len(b) < 4 {
		return 0, nil, false
	}
	return binary.BigEndian.Uint32(b) &^ (1 << 31), b[4:], true
}

// appendNameValue appends a name-value pair with the shortest length
// encodings.
func appendNameValue(dst []byte, name, value string) []byte {
	dst = appendLength(dst, len(name))
	dst = appendLength(dst, len(value))
	dst = append(dst, name...)
	return append(dst, value...)
}

func appendLength(dst []byte, n int) []byte {
	if n <= 127 {
		return append(dst, byte(n))
	}
	return binary.BigEndian.AppendUint32(dst, uint32(n)|1<<31)
}
