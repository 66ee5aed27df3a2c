package fastcgi

// This file is the other side of the protocol: the web server's, for
// gatewayd's own use as a front-end to FastCGI applications (php-fpm,
// php-cgi, Go net/http/fcgi programs). It runs one RESPONDER request at a
// time per connection and keeps the connection for the next one; pooling
// connections and reading the CGI response are its caller's.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
)

// clientID is the request id of every request: one request at a time on a
// connection needs no other, and applications that do not multiplex (most
// of them) expect 1.
const clientID = 1

// Records that never change, built once.
var (
	beginRecord = appendRecord(nil, typeBeginRequest, clientID,
		[]byte{0, roleResponder, flagKeepConn, 0, 0, 0, 0, 0})
	emptyParams = appendRecord(nil, typeParams, clientID, nil)
	emptyStdin  = appendRecord(nil, typeStdin, clientID, nil)
	abortRecord = appendRecord(nil, typeAbortRequest, clientID, nil)
)

// maxParamsContent is the most a PARAMS record carries. php-fpm decodes
// each PARAMS record on its own, so a name-value pair must not straddle two
// records (only a pair larger than a record does), and it rejects a record
// whose content and padding together exceed 65535 bytes; a multiple of 8
// needs no padding.
const maxParamsContent = maxContent &^ 7

// stdinChunk is the most body one STDIN record carries: a multiple of 8, so
// that a full chunk needs no padding.
const stdinChunk = 32 << 10

// stdinBufs hold one STDIN record being built: header, content, padding,
// and room for the empty record that ends the stream, so that the last
// chunk and the end go out in one write.
var stdinBufs = sync.Pool{New: func() any {
	b := make([]byte, headerLen+stdinChunk+8+headerLen)
	return &b
}}

// maxKeptParams bounds the request buffer a ClientConn keeps between
// requests: a request with unusually large parameters should not pin its
// buffer for the life of the connection.
const maxKeptParams = 128 << 10

var (
	errClientBusy     = errors.New("fastcgi: Do while the previous request has not ended")
	errClientUnusable = errors.New("fastcgi: the connection cannot carry another request")
	errEndTwice       = errors.New("fastcgi: End called twice")
	errReadAfterEnd   = errors.New("fastcgi: Read after End")
)

// ClientConn is the web-server side of one connection to a FastCGI
// application: it runs requests on it as a RESPONDER, one at a time, and
// asks the application to keep the connection open (FCGI_KEEP_CONN) so it
// carries the next one.
//
// Do, GetValues, and the Read and End of the request Do returns, are for one
// goroutine at a time; Close and ClientRequest.Abort may be called from any
// goroutine.
type ClientConn struct {
	conn net.Conn
	rd   connReader
	// br holds a whole record of any size, so that a record other than
	// STDOUT is consumed only once all of it has arrived: a read that
	// times out part way leaves the stream where it was.
	br   *bufio.Reader
	wbuf []byte // the records Do writes, kept for the next request

	// wmu makes each record one Write that no other record interleaves
	// with: Do's, GetValues', the STDIN copy's and Abort's.
	wmu sync.Mutex
	// werr is the first write error, guarded by wmu. A failed Write may
	// have sent part of a record, so nothing is written after it.
	werr error

	busy     bool // between Do and End
	unusable bool // cannot carry another request; the connection is closed
	closed   atomic.Bool
}

// connReader is the connection as br reads it. It remembers that a read
// failed for good, end of file included, which br hides until the next
// read: End must not offer a connection the application has closed.
type connReader struct {
	c   net.Conn
	err error
}

func (r *connReader) Read(p []byte) (int, error) {
	n, err := r.c.Read(p)
	if err != nil && r.err == nil && !isTimeout(err) {
		r.err = err
	}
	return n, err
}

// NewClientConn returns a ClientConn over c. The ClientConn does not set
// deadlines: the caller sets them on c (the pool knows its timeouts).
func NewClientConn(c net.Conn) *ClientConn {
	cc := &ClientConn{conn: c}
	cc.rd.c = c
	cc.br = bufio.NewReaderSize(&cc.rd, maxRecord)
	return cc
}

// Close closes the connection. A request running on it fails. Calls after
// the first, or after End closed the connection, do nothing.
func (c *ClientConn) Close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return nil
	}
	return c.conn.Close()
}

// kill makes c unusable and closes it, which also fails any write of the
// STDIN copy that is blocked on the application.
func (c *ClientConn) kill() {
	c.unusable = true
	c.Close()
}

// write writes b, whole records, with one Write call.
func (c *ClientConn) write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.werr != nil {
		return c.werr
	}
	if _, err := c.conn.Write(b); err != nil {
		c.werr = err
		return err
	}
	return nil
}

// Do begins a request with request id 1: BEGIN_REQUEST (RESPONDER,
// FCGI_KEEP_CONN), the PARAMS stream from params, then the STDIN stream
// from body.
//
// PARAMS records carry at most 65528 bytes each, and a name-value pair is
// split between records only when it is larger than that: php-fpm cannot
// read a pair that straddles two records. The empty PARAMS record ends the
// stream.
//
// When body is nil the empty STDIN record goes out in the same write as
// BEGIN_REQUEST and PARAMS: one write call for the whole request, and no
// goroutine. Otherwise body is copied into STDIN records by one goroutine
// while the caller reads the output, so that an application that writes
// before it has read all its body cannot deadlock; the copy ends at body's
// io.EOF with the empty STDIN record. If body fails, the copy stops there
// and the request cannot complete: the application waits for the rest of
// its body, so the caller should Abort (End reports body's error).
//
// A CONTENT_LENGTH in params is the length of the body, which a CGI
// program reads no further (RFC 3875 §4.2): the copy ends after that many
// bytes, with the empty record in the same write as the last of them, and
// does not read body again; a CONTENT_LENGTH of 0 is a nil body. An
// application such as php-fpm may then answer as soon as it has the
// bytes, and the connection is still reusable.
//
// stderr receives the content of STDERR records as they are read; it may
// be nil, and then they are dropped. Its errors are ignored: the response
// must still be read.
//
// Do returns once BEGIN_REQUEST and PARAMS are written, or their write
// failed; then the connection is closed. Only one request may run at a
// time: Do before the previous request's End is an error, as is Do on a
// connection that End did not report Reusable.
func (c *ClientConn) Do(params map[string]string, body io.Reader, stderr io.Writer) (*ClientRequest, error) {
	if c.busy {
		return nil, errClientBusy
	}
	if c.unusable {
		return nil, errClientUnusable
	}
	length := int64(-1) // unknown
	if v, ok := params["CONTENT_LENGTH"]; ok {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n >= 0 {
			length = n
		}
	}
	if length == 0 {
		body = nil
	}
	b := append(c.wbuf[:0], beginRecord...)
	b = appendParams(b, params)
	if body == nil {
		b = append(b, emptyStdin...)
	}
	if cap(b) <= maxKeptParams {
		c.wbuf = b
	} else {
		c.wbuf = nil
	}
	if err := c.write(b); err != nil {
		c.kill()
		return nil, err
	}
	c.busy = true
	r := &ClientRequest{c: c, stderr: stderr}
	if body != nil {
		r.hasCopy = true
		r.copying.Add(1)
		go r.copyBody(body, length)
	}
	return r, nil
}

// GetValues asks the application for the values of the variables named
// (FCGI_GET_VALUES, FastCGI §4.1), such as FCGI_MAX_CONNS, FCGI_MAX_REQS
// and FCGI_MPXS_CONNS, and returns those it answered: an application
// leaves out the names it does not know. It is for a connection with no
// request running. It waits for the answer as long as the read deadline
// allows; an error, that one included, leaves the connection unusable.
//
// net/http/fcgi follows its answer with an empty GET_VALUES_RESULT
// record, which the next request's Read skips; it would be the answer to
// a second GetValues.
func (c *ClientConn) GetValues(names ...string) (map[string]string, error) {
	if c.busy {
		return nil, errClientBusy
	}
	if c.unusable {
		return nil, errClientUnusable
	}
	var nv []byte
	for _, name := range names {
		nv = appendNameValue(nv, name, "")
	}
	if len(nv) > maxContent {
		return nil, errors.New("fastcgi: GET_VALUES names do not fit in one record")
	}
	err := c.write(appendRecord(nil, typeGetValues, 0, nv))
	var values map[string]string
	if err == nil {
		values, err = c.readValues()
	}
	if err != nil {
		c.kill()
		return nil, err
	}
	return values, nil
}

// readValues reads up to GET_VALUES_RESULT and returns its pairs.
func (c *ClientConn) readValues() (map[string]string, error) {
	for {
		b, err := c.br.Peek(headerLen)
		if err != nil {
			return nil, unexpectedEOF(err)
		}
		h := parseHeader(b)
		if h.Version != version1 {
			return nil, fmt.Errorf("%w %d", errVersion, h.Version)
		}
		if b, err = c.br.Peek(headerLen + int(h.ContentLength) + int(h.PaddingLength)); err != nil {
			return nil, unexpectedEOF(err)
		}
		c.br.Discard(len(b)) // peeked: cannot fail
		content := b[headerLen : headerLen+int(h.ContentLength)]
		switch {
		case h.ID == 0 && h.Type == typeGetValuesResult:
			values := map[string]string{}
			for len(content) > 0 {
				name, value, rest, err := readNameValue(content)
				if err != nil {
					return nil, err
				}
				values[name] = value
				content = rest
			}
			return values, nil
		case h.ID == 0 && h.Type == typeUnknownType && len(content) > 0 && recType(content[0]) == typeGetValues:
			return nil, errors.New("fastcgi: the application does not know FCGI_GET_VALUES")
		case h.ID == 0 && h.Type == typeUnknownType:
			// About another record: harmless.
		default:
			return nil, fmt.Errorf("fastcgi: unexpected %v record for request id %d, awaiting GET_VALUES_RESULT", h.Type, h.ID)
		}
	}
}

// unexpectedEOF is err, a read error before the record awaited, with an
// end of file made unexpected.
func unexpectedEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// appendParams appends params as a PARAMS stream for clientID, the empty
// record included. It builds each record in place: a header is reserved,
// pairs follow while they fit, and the header is filled in last.
func appendParams(dst []byte, params map[string]string) []byte {
	start := len(dst)
	dst = append(dst, padding[:]...) // the header, filled in by closeParams
	for name, value := range params {
		n := nameValueLen(name, value)
		if used := len(dst) - start - headerLen; used > 0 && used+n > maxParamsContent {
			dst = closeParams(dst, start)
			start = len(dst)
			dst = append(dst, padding[:]...)
		}
		if n <= maxParamsContent {
			dst = appendNameValue(dst, name, value)
			continue
		}
		// A pair that no record holds, which only a multiplexing
		// application such as net/http/fcgi reads back: it takes the
		// stream whole. The record reserved for it is empty.
		dst = dst[:start]
		pair := appendNameValue(nil, name, value)
		for len(pair) > 0 {
			k := min(len(pair), maxParamsContent)
			dst = appendRecord(dst, typeParams, clientID, pair[:k])
			pair = pair[k:]
		}
		start = len(dst)
		dst = append(dst, padding[:]...)
	}
	if len(dst)-start == headerLen {
		// Nothing in the last record: it becomes the end of the stream.
		return append(dst[:start], emptyParams...)
	}
	return append(closeParams(dst, start), emptyParams...)
}

// closeParams fills in the header of the PARAMS record that starts at
// dst[start] and pads it.
func closeParams(dst []byte, start int) []byte {
	h, pad := encodeHeader(typeParams, clientID, len(dst)-start-headerLen)
	copy(dst[start:], h[:])
	return append(dst, padding[:pad]...)
}

// nameValueLen is the length appendNameValue gives a pair.
func nameValueLen(name, value string) int {
	n := len(name) + len(value) + 2
	if len(name) > 127 {
		n += 3
	}
	if len(value) > 127 {
		n += 3
	}
	return n
}

// States of the STDIN copy.
const (
	copyRunning   = iota // reading body or writing its records
	copyFinishing        // body is at its end; the last record is being written
	copyDone             // nothing more to write
)

// copyBody copies body into STDIN records, each written whole with one
// Write, until body's end or length bytes, if length is not negative (then
// the empty record), an error, a failed write, or stop. It touches only the
// request's copy fields, which End reads after waiting for it, and the
// connection's write side, under its mutex: End does not wait for a copy
// still running, and the copy may outlive the request.
func (r *ClientRequest) copyBody(body io.Reader, length int64) {
	defer r.copying.Done()
	bp := stdinBufs.Get().(*[]byte)
	defer stdinBufs.Put(bp)
	buf := *bp
	defer r.copyState.Store(copyDone)
	for !r.stop.Load() {
		chunk := stdinChunk
		if length >= 0 {
			chunk = int(min(length, stdinChunk))
		}
		n, err := body.Read(buf[headerLen : headerLen+chunk])
		if err != nil && err != io.EOF {
			r.bodyErr = err
			return
		}
		if length >= 0 {
			if length -= int64(n); length == 0 {
				err = io.EOF
			}
		}
		rec := buf[:0]
		if n > 0 {
			h, pad := encodeHeader(typeStdin, clientID, n)
			copy(buf, h[:])
			rec = append(buf[:headerLen+n], padding[:pad]...)
		}
		if err == io.EOF {
			// Set before the write, so that End waits for this last
			// record rather than take the connection for one whose
			// body is unfinished.
			r.copyState.Store(copyFinishing)
			rec = append(rec, emptyStdin...)
		}
		if len(rec) > 0 && (r.stop.Load() || r.c.write(rec) != nil) {
			return
		}
		if err == io.EOF {
			r.stdinOK = true
			return
		}
	}
}

// ClientRequest is a request running on a ClientConn.
type ClientRequest struct {
	c      *ClientConn
	stderr io.Writer

	// The reading of the response, by the caller's goroutine.
	content  int // STDOUT content of the current record still to read
	pad      int // padding of the current record still to skip
	end      EndRequest
	ended    bool  // END_REQUEST has been read
	err      error // why the response cannot be read further
	timedOut bool  // a read timed out: the stream is intact, but not to be reused
	finished bool  // End has been called

	// The STDIN copy, if body is not nil. stdinOK and bodyErr are the
	// copy's until it is waited for.
	hasCopy   bool
	copying   sync.WaitGroup
	copyState atomic.Int32
	stop      atomic.Bool
	stdinOK   bool  // the whole STDIN stream went out
	bodyErr   error // body's read error

	mu      sync.Mutex
	aborted bool // guarded by mu: ABORT_REQUEST went out, or is going
	over    bool // guarded by mu: the response ended; Abort is too late
}

// Read reads the STDOUT stream. It reads records from the connection as
// needed, in the caller's goroutine: STDERR content goes to the stderr
// writer, STDOUT content is returned, END_REQUEST ends the stream with
// io.EOF. The empty STDOUT record (end of stream) is just noted.
//
// A connection that ends before END_REQUEST gives io.ErrUnexpectedEOF; a
// record for another request id, a malformed record, or a management
// record type the client did not ask for (other than UNKNOWN_TYPE and
// GET_VALUES_RESULT, which are ignored) gives an error that says what was
// wrong, and makes the connection unusable.
//
// A read that times out (a deadline set on the connection) returns the
// timeout error and leaves the stream where it was: Read or End may carry
// on after a new deadline, typically after Abort. The connection is not
// reused after it.
func (r *ClientRequest) Read(p []byte) (int, error) {
	for {
		switch {
		case r.err != nil:
			return 0, r.err
		case r.ended:
			return 0, io.EOF
		case r.finished:
			return 0, errReadAfterEnd
		case len(p) == 0:
			return 0, nil
		case r.content > 0:
			n, err := r.c.br.Read(p[:min(len(p), r.content)])
			r.content -= n
			if n > 0 {
				return n, nil
			}
			return 0, r.readFailed(err)
		}
		if err := r.next(); err != nil {
			return 0, err
		}
	}
}

// next reads the next record, or the header of the next STDOUT record:
// STDOUT content is left for Read to copy or End to discard. A read error
// leaves the stream unchanged, a record is consumed once it is whole.
func (r *ClientRequest) next() error {
	br := r.c.br
	if r.pad > 0 {
		n, err := br.Discard(r.pad)
		r.pad -= n
		if err != nil {
			return r.readFailed(err)
		}
	}
	b, err := br.Peek(headerLen)
	if err != nil {
		return r.readFailed(err)
	}
	h := parseHeader(b)
	if h.Version != version1 {
		return r.fail(fmt.Errorf("%w %d", errVersion, h.Version))
	}
	n, pad := int(h.ContentLength), int(h.PaddingLength)
	if h.ID == clientID && h.Type == typeStdout && n > 0 {
		br.Discard(headerLen) // peeked: cannot fail
		r.content, r.pad = n, pad
		return nil
	}
	b, err = br.Peek(headerLen + n + pad)
	if err != nil {
		return r.readFailed(err)
	}
	content := b[headerLen : headerLen+n]
	switch {
	case h.ID == 0 && (h.Type == typeUnknownType || h.Type == typeGetValuesResult):
		// Answers to questions the client did not ask: harmless.
	case h.ID == 0:
		return r.fail(fmt.Errorf("fastcgi: unexpected management record %v", h.Type))
	case h.ID != clientID:
		return r.fail(fmt.Errorf("fastcgi: %v record for request id %d, not %d", h.Type, h.ID, clientID))
	case h.Type == typeStdout:
		// The end of STDOUT; END_REQUEST ends the response.
	case h.Type == typeStderr:
		if r.stderr != nil && n > 0 {
			r.stderr.Write(content)
		}
	case h.Type == typeEndRequest:
		app, status, err := parseEndRequest(content)
		if err != nil {
			return r.fail(err)
		}
		r.end = EndRequest{AppStatus: app, ProtocolStatus: status}
		r.ended = true
		r.mu.Lock()
		r.over = true
		r.mu.Unlock()
	default:
		return r.fail(fmt.Errorf("fastcgi: unexpected %v record from the application", h.Type))
	}
	br.Discard(headerLen + n + pad) // peeked: cannot fail
	return nil
}

// readFailed returns err, a read error: a timeout leaves the stream
// intact, anything else ends it.
func (r *ClientRequest) readFailed(err error) error {
	if isTimeout(err) {
		r.timedOut = true
		return err
	}
	return r.fail(unexpectedEOF(err)) // there was no END_REQUEST
}

// fail ends the response with err.
func (r *ClientRequest) fail(err error) error {
	r.err = err
	return err
}

// Abort sends FCGI_ABORT_REQUEST, once: later calls, and calls after the
// response ended, do nothing. It also stops the STDIN copy. It may be
// called from another goroutine while Read runs and while the STDIN copy
// runs; records never interleave on the connection.
//
// Abort does not wait for the write, which an application that reads
// nothing would block, behind a STDIN record or on its own: one goroutine
// writes the record, and fails when End closes the connection. Its error
// is the connection's, already closed; a failed write shows in Read or End.
//
// A connection whose request was aborted is not reused: an application
// may answer an abort with an END_REQUEST and still send the request's
// output and another END_REQUEST (net/http/fcgi does).
func (r *ClientRequest) Abort() error {
	r.mu.Lock()
	if r.aborted || r.over {
		r.mu.Unlock()
		return nil
	}
	r.aborted = true
	r.mu.Unlock()
	r.stop.Store(true)
	if r.c.closed.Load() {
		return net.ErrClosed
	}
	go r.c.write(abortRecord)
	return nil
}

// End reads and discards the rest of the response up to END_REQUEST
// (STDERR content still goes to the stderr writer), and returns how the
// request ended. Call it exactly once per request, when done with Read;
// after Read returned io.EOF it returns at once. A read error, a timeout
// included, ends End with it: set a new deadline first after a timeout.
//
// The connection is Reusable when END_REQUEST arrived, no read failed or
// timed out, the request was not aborted, nothing followed END_REQUEST,
// and the STDIN copy had written the whole stream. Otherwise End closes the
// connection. When END_REQUEST arrives while the copy is still running —
// the application ended the request without reading all its body — End
// does not wait for the copy, which may be blocked reading body: the
// closed connection fails the copy's next write, and it ends on its own
// once body's Read returns. A copy writing its last record is waited for,
// as long as the write deadline allows.
//
// The error is the read error or a malformed response if any; else body's
// read error, when the copy failed on one.
func (r *ClientRequest) End() (EndRequest, error) {
	if r.finished {
		return EndRequest{}, errEndTwice
	}
	r.finished = true
	c := r.c
	for !r.ended && r.err == nil {
		var err error
		if r.content > 0 {
			var n int
			n, err = c.br.Discard(r.content)
			r.content -= n
			if err != nil {
				err = r.readFailed(err)
			}
		} else {
			err = r.next()
		}
		if err != nil {
			r.fail(err)
		}
	}
	r.mu.Lock()
	r.over = true
	aborted := r.aborted
	r.mu.Unlock()

	err := r.err
	reusable := r.ended && err == nil && !r.timedOut && !aborted &&
		c.rd.err == nil && c.br.Buffered() == 0
	if r.hasCopy {
		if r.ended && r.copyState.Load() != copyRunning {
			r.copying.Wait()
			reusable = reusable && r.stdinOK
			if err == nil {
				err = r.bodyErr
			}
		} else {
			r.stop.Store(true)
			reusable = false
		}
	}
	if !reusable {
		c.kill()
	}
	c.busy = false
	e := r.end
	e.Reusable = reusable
	return e, err
}

// EndRequest is END_REQUEST's body (FastCGI §5.5) and what it means for
// the connection.
type EndRequest struct {
	AppStatus      uint32 // the application's exit status
	ProtocolStatus uint8  // StatusRequestComplete, StatusCantMpxConn, StatusOverloaded or StatusUnknownRole
	// Reusable is true when the connection may carry another request:
	// END_REQUEST arrived, the STDIN copy had finished, and nothing went
	// wrong on the connection.
	Reusable bool
}
