package handler

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

// responseTest is a CGI output and what ReadResponse makes of it: either
// a response and the body left in the reader, or an error and its line.
type responseTest struct {
	name string
	in   string

	status    Status
	hasStatus bool
	kind      Kind
	fields    []Field
	body      string

	err  error // an Err variable; nil for success
	line int   // ParseError.Line when err is not nil
}

var (
	ok200   = Status{200, "OK"}
	found   = Status{302, "Found"}
	textCT  = Field{"Content-Type", "text/plain"}
	htmlCT  = Field{"Content-Type", "text/html"}
	tooMany = "Status: 200\r\nStatus: 404\r\n\r\n"
)

var responseTests = []responseTest{
	{name: "no output", in: "", err: ErrNoResponse},
	{name: "LF only", in: "Content-Type: text/plain\n\nhello",
		status: ok200, fields: []Field{textCT}, body: "hello"},
	{name: "CRLF", in: "Content-Type: text/plain\r\n\r\nhello",
		status: ok200, fields: []Field{textCT}, body: "hello"},
	{name: "local redirect", in: "Location: /other?x=1\r\n\r\n",
		status: found, kind: LocalRedirect, fields: []Field{{"Location", "/other?x=1"}}},
	{name: "local Location with another field", in: "Location: /x\r\nX-Other: 1\r\n\r\n",
		status: found, kind: ClientRedirect, fields: []Field{{"Location", "/x"}, {"X-Other", "1"}}},
	{name: "local Location with Status", in: "Location: /x\r\nStatus: 303 See Other\r\n\r\n",
		status: Status{303, "See Other"}, hasStatus: true, kind: ClientRedirect, fields: []Field{{"Location", "/x"}}},
	{name: "local Location with Content-Type", in: "Location: /x\r\nContent-Type: text/html\r\n\r\n<a>",
		status: found, kind: ClientRedirectDoc, fields: []Field{{"Location", "/x"}, htmlCT}, body: "<a>"},
	{name: "client redirect", in: "Location: http://foo.com/\r\n\r\n",
		status: found, kind: ClientRedirect, fields: []Field{{"Location", "http://foo.com/"}}},
	{name: "client redirect with document",
		in:     "Location: http://x/\r\nStatus: 301 Moved\r\nContent-Type: text/html\r\n\r\n<body>",
		status: Status{301, "Moved"}, hasStatus: true, kind: ClientRedirectDoc,
		fields: []Field{{"Location", "http://x/"}, htmlCT}, body: "<body>"},
	{name: "client redirect with document, no Status",
		in:     "Location: http://x/\r\nContent-Type: text/html\r\n\r\nSEE-THIS",
		status: found, kind: ClientRedirectDoc,
		fields: []Field{{"Location", "http://x/"}, htmlCT}, body: "SEE-THIS"},
	{name: "two Status", in: tooMany, err: ErrDuplicate, line: 2},
	{name: "two Location", in: "Location: /a\r\nlocation: /b\r\n\r\n", err: ErrDuplicate, line: 2},
	{name: "lower-case Content-Type", in: "content-type: text/plain\r\n\r\n",
		status: ok200, fields: []Field{{"content-type", "text/plain"}}},
	{name: "upper-case Status", in: "STATUS: 404 x\r\nContent-Type: text/plain\r\n\r\n",
		status: Status{404, "x"}, hasStatus: true, fields: []Field{textCT}},
	{name: "lower-case Location", in: "location: http://a/\r\n\r\n",
		status: found, kind: ClientRedirect, fields: []Field{{"location", "http://a/"}}},
	{name: "no space after colon", in: "Content-Type:text/plain\r\n\r\n",
		status: ok200, fields: []Field{textCT}},
	{name: "whitespace trimmed", in: "Content-Type: \t text/plain \t \r\nX-A:\t1\r\n\r\n",
		status: ok200, fields: []Field{textCT, {"X-A", "1"}}},
	{name: "empty value not sent", in: "Content-Type: text/plain\r\nX-Empty:\r\nX-Blank:  \r\n\r\n",
		status: ok200, fields: []Field{textCT}},
	{name: "empty Location not sent", in: "Location:\r\nContent-Type: text/plain\r\n\r\n",
		status: ok200, fields: []Field{textCT}},
	{name: "empty Status not sent", in: "Status:\r\nContent-Type: text/plain\r\n\r\n",
		status: ok200, fields: []Field{textCT}},
	{name: "only empty fields", in: "X-Empty:\r\n\r\n", err: ErrNoFields, line: 2},
	{name: "continuation", in: "Content-Type: text/plain\r\n continued\r\n\r\n", err: ErrContinuation, line: 2},
	{name: "continuation with tab", in: "X-A: 1\n\tcontinued\n\n", err: ErrContinuation, line: 2},
	{name: "leading space on line 1", in: " Content-Type: text/plain\r\n\r\n", err: ErrContinuation, line: 1},
	{name: "Status 404 Not Found", in: "Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\n",
		status: Status{404, "Not Found"}, hasStatus: true, fields: []Field{textCT}},
	{name: "Status without reason", in: "Status: 404\r\nContent-Type: text/plain\r\n\r\nsend404\n",
		status: Status{404, "Not Found"}, hasStatus: true, fields: []Field{textCT}, body: "send404\n"},
	{name: "Status 30", in: "Status: 30 FooBar\r\nContent-Type: text/plain\r\n\r\n", err: ErrBadStatus, line: 1},
	{name: "Status 304 FooBar", in: "Status: 304 FooBar\r\n\r\n",
		status: Status{304, "FooBar"}, hasStatus: true},
	{name: "Status 200 FooBar", in: "Content-Type: text/plain\r\nStatus: 200 FooBar\r\n\r\n",
		status: Status{200, "FooBar"}, hasStatus: true, fields: []Field{textCT}},
	{name: "Status 2000", in: "Content-Type: text/plain\r\nStatus: 2000 OK\r\n\r\n", err: ErrBadStatus, line: 2},
	{name: "Status with tab", in: "Status: 200\tOK\r\n\r\n", err: ErrBadStatus, line: 1},
	{name: "no Content-Type", in: "Status: 200 OK\r\n\r\nbody",
		status: ok200, hasStatus: true, body: "body"},
	{name: "LF line ends", in: "Content-Type: text/plain\nX-A: 1\n\nbody",
		status: ok200, fields: []Field{textCT, {"X-A", "1"}}, body: "body"},
	{name: "hop-by-hop kept by the parser",
		in:     "Connection: close\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\nbody",
		status: ok200, fields: []Field{{"Connection", "close"}, {"Transfer-Encoding", "chunked"}, textCT}, body: "body"},
	{name: "X-CGI field kept", in: "X-CGI-Foo: 1\r\nContent-Type: text/plain\r\n\r\n",
		status: ok200, fields: []Field{{"X-CGI-Foo", "1"}, textCT}},
	{name: "binary body", in: "Content-Type: application/octet-stream\r\n\r\n\x00\xff\r\n\r\n\x00",
		status: ok200, fields: []Field{{"Content-Type", "application/octet-stream"}}, body: "\x00\xff\r\n\r\n\x00"},
	{name: "CRLF then LF LF", in: "Location: http://www.example.org/\r\n\n\n",
		status: found, kind: ClientRedirect, fields: []Field{{"Location", "http://www.example.org/"}}, body: "\n"},
	{name: "duplicates of other fields kept", in: "Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Type: text/plain\r\n\r\n",
		status: ok200, fields: []Field{{"Set-Cookie", "a=1"}, {"Set-Cookie", "b=2"}, textCT}},
	{name: "value with colon and tab", in: "X-A: a: b\tc\r\n\r\n",
		status: ok200, fields: []Field{{"X-A", "a: b\tc"}}},
	{name: "value with high bytes", in: "X-A: caf\xe9 \x85\r\n\r\n",
		status: ok200, fields: []Field{{"X-A", "caf\xe9 \x85"}}},

	{name: "truncated after a field", in: "Content-Type: text/plain\r\n", err: ErrTruncated, line: 2},
	{name: "truncated mid-line", in: "Content-Type: text/pl", err: ErrTruncated, line: 1},
	{name: "truncated after CR", in: "Content-Type: text/plain\r\n\r", err: ErrTruncated, line: 2},
	{name: "blank line first CRLF", in: "\r\nbody", err: ErrNoFields, line: 1},
	{name: "blank line first LF", in: "\nbody", err: ErrNoFields, line: 1},
	{name: "no colon", in: "Content-Type text/plain\r\n\r\n", err: ErrMalformedLine, line: 1},
	{name: "HTTP status line", in: "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n", err: ErrMalformedLine, line: 1},
	{name: "space in name", in: "X-A: 1\r\nContent Type: text/plain\r\n\r\n", err: ErrBadFieldName, line: 2},
	{name: "space before colon", in: "Content-Type : text/plain\r\n\r\n", err: ErrBadFieldName, line: 1},
	{name: "empty name", in: ": text/plain\r\n\r\n", err: ErrBadFieldName, line: 1},
	{name: "NUL in name", in: "X\x00A: 1\r\n\r\n", err: ErrBadFieldName, line: 1},
	{name: "bare CR in value", in: "X-A: 1\rX-B: 2\r\n\r\n", err: ErrControlChar, line: 1},
	{name: "CR CR LF", in: "X-A: 1\r\r\n\r\n", err: ErrControlChar, line: 1},
	{name: "NUL in value", in: "Content-Type: text/plain\r\nX-A: 1\x002\r\n\r\n", err: ErrControlChar, line: 2},
	{name: "DEL in value", in: "X-A: 1\x7f\r\n\r\n", err: ErrControlChar, line: 1},
}

// readers gives the ways a test reads its input: all at once, and split.
var readers = []struct {
	name string
	wrap func(io.Reader) *bufio.Reader
}{
	{"whole", func(r io.Reader) *bufio.Reader { return bufio.NewReader(r) }},
	{"OneByteReader", func(r io.Reader) *bufio.Reader { return bufio.NewReaderSize(iotest.OneByteReader(r), 16) }},
	{"HalfReader", func(r io.Reader) *bufio.Reader { return bufio.NewReaderSize(iotest.HalfReader(r), 16) }},
	{"DataErrReader", func(r io.Reader) *bufio.Reader { return bufio.NewReader(iotest.DataErrReader(r)) }},
}

func TestReadResponse(t *testing.T) {
	for _, tt := range responseTests {
		for _, rd := range readers {
			t.Run(tt.name+"/"+rd.name, func(t *testing.T) {
				br := rd.wrap(strings.NewReader(tt.in))
				got, err := ReadResponse(br, 1<<16)
				checkResponse(t, "ReadResponse", tt, br, got, err)
			})
		}
	}
}

func checkResponse(t *testing.T, fn string, tt responseTest, br *bufio.Reader, got *Response, err error) {
	t.Helper()
	if tt.err != nil {
		var pe *ParseError
		if !errors.Is(err, tt.err) || !errors.As(err, &pe) || pe.Line != tt.line {
			t.Fatalf("%s(%q) = %+v, %v, want a *ParseError on line %d wrapping %v", fn, tt.in, got, err, tt.line, tt.err)
		}
		return
	}
	if err != nil {
		t.Fatalf("%s(%q) error %v", fn, tt.in, err)
	}
	want := &Response{Status: tt.status, HasStatus: tt.hasStatus, Kind: tt.kind}
	if !sameResponse(got, want, tt.fields) {
		t.Errorf("%s(%q) = %v, want %v", fn, tt.in, format(got, got.Header.Fields()), format(want, tt.fields))
	}
	if body, err := io.ReadAll(br); string(body) != tt.body || err != nil {
		t.Errorf("%s(%q) left body %q, %v, want %q, nil", fn, tt.in, body, err, tt.body)
	}
}

func sameResponse(got, want *Response, fields []Field) bool {
	return got.Status == want.Status && got.HasStatus == want.HasStatus &&
		got.Kind == want.Kind && slices.Equal(got.Header.Fields(), fields)
}

func format(r *Response, fields []Field) string {
	var b strings.Builder
	b.WriteString(r.Kind.String())
	b.WriteString(" ")
	b.WriteString(r.Status.String())
	if !r.HasStatus {
		b.WriteString(" (default)")
	}
	for _, f := range fields {
		b.WriteString(" [" + f.Name + ": " + f.Value + "]")
	}
	return b.String()
}

// A line longer than bufio's buffer is read whole: there is no limit per line.
func TestReadResponseLongLine(t *testing.T) {
	cookie := "id=" + strings.Repeat("x", 10<<10)
	in := "Set-Cookie: " + cookie + "\r\nContent-Type: text/plain\r\n\r\nbody"
	for _, rd := range readers {
		t.Run(rd.name, func(t *testing.T) {
			br := rd.wrap(strings.NewReader(in))
			r, err := ReadResponse(br, 1<<16)
			if err != nil {
				t.Fatalf("ReadResponse(10 KiB Set-Cookie) error %v", err)
			}
			if got, _ := r.Header.Get("Set-Cookie"); got != cookie {
				t.Errorf("ReadResponse(10 KiB Set-Cookie) Set-Cookie has %d bytes, want %d", len(got), len(cookie))
			}
			if body, _ := io.ReadAll(br); string(body) != "body" {
				t.Errorf("ReadResponse(10 KiB Set-Cookie) left body %q, want %q", body, "body")
			}
		})
	}
}

// The limit counts every byte of the block, line endings and the empty line
// included, and nothing of the body.
func TestReadResponseLimit(t *testing.T) {
	block := "Content-Type: text/plain\r\nX-Pad: " + strings.Repeat("p", 5000) + "\r\n\r\n"
	tests := []struct {
		name  string
		limit int
		in    string
		err   error
		line  int
	}{
		{"at the limit", len(block), block + "body", nil, 0},
		{"one over, on the empty line", len(block) - 1, block + "body", ErrHeaderTooLarge, 3},
		{"over on a field", len(block) - 3, block + "body", ErrHeaderTooLarge, 2},
		{"no limit 0", 0, block + "body", nil, 0},
		{"no limit -1", -1, block + "body", nil, 0},
		{"first line over", 10, "Content-Type: text/plain\r\n\r\n", ErrHeaderTooLarge, 1},
		{"small at the limit", 8, "X-A: 1\n\nbody", nil, 0},
		{"small one over", 7, "X-A: 1\n\nbody", ErrHeaderTooLarge, 2},
		{"at the limit, then EOF", 10, "X-Abcdefgh", ErrTruncated, 1},
		{"over before EOF", 10, "X-Abcdefghi", ErrHeaderTooLarge, 1},
	}
	for _, tt := range tests {
		for _, rd := range readers {
			t.Run(tt.name+"/"+rd.name, func(t *testing.T) {
				br := rd.wrap(strings.NewReader(tt.in))
				_, err := ReadResponse(br, tt.limit)
				var pe *ParseError
				switch {
				case tt.err == nil && err != nil:
					t.Fatalf("ReadResponse(%d-byte input, %d) error %v", len(tt.in), tt.limit, err)
				case tt.err != nil && (!errors.Is(err, tt.err) || !errors.As(err, &pe) || pe.Line != tt.line):
					t.Fatalf("ReadResponse(%d-byte input, %d) = %v, want %v on line %d", len(tt.in), tt.limit, err, tt.err, tt.line)
				}
				if tt.err == nil && strings.HasSuffix(tt.in, "body") {
					if body, _ := io.ReadAll(br); string(body) != "body" {
						t.Errorf("ReadResponse(%d-byte input, %d) left body %q, want %q", len(tt.in), tt.limit, body, "body")
					}
				}
			})
		}
	}
}

var errBroken = errors.New("broken pipe")

// Read errors other than io.EOF are returned wrapped.
func TestReadResponseReadError(t *testing.T) {
	r := io.MultiReader(strings.NewReader("Content-Type: text/plain\r\n"), iotest.ErrReader(errBroken))
	_, err := ReadResponse(bufio.NewReader(r), 1<<16)
	var pe *ParseError
	if !errors.Is(err, errBroken) || !errors.As(err, &pe) || pe.Line != 2 {
		t.Errorf("ReadResponse(read error on line 2) = %v, want a *ParseError on line 2 wrapping %v", err, errBroken)
	}
}

var nphTests = []responseTest{
	{name: "LF fields after the status line",
		in: "HTTP/1.0 200 OK\r\nContent-type: text/html\nPragma: no-cache\n" +
			"Cache-control: must-revalidate, no-cache, no-store\nExpires: -1\n\nok\n",
		status: ok200, hasStatus: true, fields: []Field{
			{"Content-type", "text/html"},
			{"Pragma", "no-cache"},
			{"Cache-control", "must-revalidate, no-cache, no-store"},
			{"Expires", "-1"},
		}, body: "ok\n"},
	{name: "CRLF fields after the status line", in: "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nthis is nph-stdout",
		status: ok200, hasStatus: true, fields: []Field{textCT}, body: "this is nph-stdout"},
	{name: "no fields", in: "HTTP/1.1 204 No Content\r\n\r\n",
		status: Status{204, "No Content"}, hasStatus: true},
	{name: "no reason", in: "HTTP/1.1 404\r\n\r\n",
		status: Status{404, "Not Found"}, hasStatus: true},
	{name: "redirect is never local", in: "HTTP/1.1 302 Found\r\nLocation: /x\r\n\r\n",
		status: found, hasStatus: true, kind: ClientRedirect, fields: []Field{{"Location", "/x"}}},
	{name: "no output", in: "", err: ErrNoResponse},
	{name: "CGI headers", in: "Content-Type: text/plain\r\n\r\n", err: ErrBadStatus, line: 1},
	{name: "HTTP/2", in: "HTTP/2 200 OK\r\n\r\n", err: ErrBadStatus, line: 1},
	{name: "HTTP/1.10", in: "HTTP/1.10 200 OK\r\n\r\n", err: ErrBadStatus, line: 1},
	{name: "lower-case version", in: "http/1.1 200 OK\r\n\r\n", err: ErrBadStatus, line: 1},
	{name: "bad code", in: "HTTP/1.1 20 OK\r\n\r\n", err: ErrBadStatus, line: 1},
	{name: "Status field", in: "HTTP/1.1 200 OK\r\nStatus: 404\r\n\r\n", err: ErrDuplicate, line: 2},
	{name: "truncated", in: "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n", err: ErrTruncated, line: 3},
	{name: "truncated status line", in: "HTTP/1.1 200 OK", err: ErrTruncated, line: 1},
}

func TestReadNPHResponse(t *testing.T) {
	for _, tt := range nphTests {
		for _, rd := range readers {
			t.Run(tt.name+"/"+rd.name, func(t *testing.T) {
				br := rd.wrap(strings.NewReader(tt.in))
				got, err := ReadNPHResponse(br, 1<<16)
				checkResponse(t, "ReadNPHResponse", tt, br, got, err)
			})
		}
	}
}

func TestKindString(t *testing.T) {
	tests := []struct {
		in   Kind
		want string
	}{
		{Document, "document"},
		{LocalRedirect, "local redirect"},
		{ClientRedirect, "client redirect"},
		{ClientRedirectDoc, "client redirect with document"},
		{Kind(9), "Kind(9)"},
		{Kind(-1), "Kind(-1)"},
	}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("Kind(%d).String() = %q, want %q", int(tt.in), got, tt.want)
		}
	}
}

func FuzzReadResponse(f *testing.F) {
	for _, tt := range responseTests {
		f.Add([]byte(tt.in))
	}
	for _, tt := range nphTests {
		f.Add([]byte(tt.in))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		const limit = 1 << 12
		for _, nph := range []bool{false, true} {
			read, prefix := ReadResponse, ""
			if nph {
				read = ReadNPHResponse
			}
			br := bufio.NewReaderSize(bytes.NewReader(in), 16)
			r, err := read(br, limit)
			if err != nil {
				if _, ok := errors.AsType[*ParseError](err); !ok {
					t.Fatalf("read(%q, nph %v) error %v, want a *ParseError", in, nph, err)
				}
				continue
			}
			rest, _ := io.ReadAll(br)
			block := in[:len(in)-len(rest)]
			if !bytes.HasSuffix(block, []byte("\n")) || !bytes.Equal(in[len(block):], rest) || len(block) > limit {
				t.Fatalf("read(%q, nph %v) left %q, want the body after the empty line", in, nph, rest)
			}

			// Serialise the response again and read it back.
			var b strings.Builder
			if nph {
				prefix = "HTTP/1.1 "
			} else if r.HasStatus {
				prefix = "Status: "
			}
			if prefix != "" {
				b.WriteString(prefix + r.Status.String() + "\r\n")
			}
			b.WriteString(r.Header.String())
			again, err := read(bufio.NewReader(strings.NewReader(b.String())), 1<<20)
			if err != nil {
				t.Fatalf("read(%q, nph %v) error %v, from %q", b.String(), nph, err, in)
			}
			if !sameResponse(again, r, r.Header.Fields()) {
				t.Fatalf("read(%q, nph %v) = %v, want %v, from %q", b.String(), nph,
					format(again, again.Header.Fields()), format(r, r.Header.Fields()), in)
			}
		}
	})
}
