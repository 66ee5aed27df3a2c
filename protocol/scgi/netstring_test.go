package scgi_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"gatewayd/protocol/scgi"
)

// spec is SCGI protocol.txt's example request, byte for byte (§2).
const (
	specHeader = "70:" + "CONTENT_LENGTH\x0027\x00" + "SCGI\x001\x00" +
		"REQUEST_METHOD\x00POST\x00" + "REQUEST_URI\x00/deepthought\x00" + ","
	specBody = "What is the answer to life?"
	spec     = specHeader + specBody
)

var specParams = []scgi.Param{
	{"CONTENT_LENGTH", "27"}, {"SCGI", "1"}, {"REQUEST_METHOD", "POST"}, {"REQUEST_URI", "/deepthought"},
}

// ns wraps content in a netstring.
func ns(content string) string { return strconv.Itoa(len(content)) + ":" + content + "," }

// scgCase is a rule of the SCGI header as bytes on the wire.
type scgCase struct {
	id   string
	in   string
	want []scgi.Param // the params on success
	err  error        // the error wrapped on failure
	// tooLarge is the Size of the *TooLargeError expected, when not 0.
	tooLarge uint64
	// dup is the Name of the *DuplicateNameError expected, when not "".
	dup string
}

// scgCases are the codec's vectors: every rule of SCGI protocol.txt §2
// and of the netstring format that is about the header, and the limits
// lighttpd sets, byte-exact. They seed the fuzz targets.
var scgCases = []scgCase{
	{id: "spec example", in: spec, want: specParams},
	{id: "no CONTENT_LENGTH",
		in:  "52:SCGI\x001\x00REQUEST_METHOD\x00POST\x00REQUEST_URI\x00/deepthought\x00,What is the answer to life?",
		err: scgi.ErrNoContentLength},
	{id: "CONTENT_LENGTH second",
		in:  "70:SCGI\x001\x00CONTENT_LENGTH\x0027\x00REQUEST_METHOD\x00POST\x00REQUEST_URI\x00/deepthought\x00,What is the answer to life?",
		err: scgi.ErrNoContentLength},
	{id: "CONTENT_LENGTH empty", in: ns("CONTENT_LENGTH\x00\x00SCGI\x001\x00"), err: scgi.ErrContentLength},
	{id: "CONTENT_LENGTH -1", in: ns("CONTENT_LENGTH\x00-1\x00SCGI\x001\x00"), err: scgi.ErrContentLength},
	{id: "CONTENT_LENGTH 1a", in: ns("CONTENT_LENGTH\x001a\x00SCGI\x001\x00"), err: scgi.ErrContentLength},
	{id: "CONTENT_LENGTH space 5", in: ns("CONTENT_LENGTH\x00 5\x00SCGI\x001\x00"), err: scgi.ErrContentLength},
	{id: "CONTENT_LENGTH +5", in: ns("CONTENT_LENGTH\x00+5\x00SCGI\x001\x00"), err: scgi.ErrContentLength},
	{id: "CONTENT_LENGTH overflow", in: ns("CONTENT_LENGTH\x0099999999999999999999999\x00SCGI\x001\x00"), err: scgi.ErrContentLength},
	{id: "CONTENT_LENGTH 0", in: ns("CONTENT_LENGTH\x000\x00SCGI\x001\x00"),
		want: []scgi.Param{{"CONTENT_LENGTH", "0"}, {"SCGI", "1"}}},
	{id: "no SCGI",
		in:  "63:CONTENT_LENGTH\x0027\x00REQUEST_METHOD\x00POST\x00REQUEST_URI\x00/deepthought\x00,What is the answer to life?",
		err: scgi.ErrNoSCGI},
	{id: "SCGI 2",
		in:  "70:CONTENT_LENGTH\x0027\x00SCGI\x002\x00REQUEST_METHOD\x00POST\x00REQUEST_URI\x00/deepthought\x00,What is the answer to life?",
		err: scgi.ErrSCGIVersion},
	{id: "SCGI 1 then 2", in: ns("CONTENT_LENGTH\x000\x00SCGI\x001\x00SCGI\x002\x00"), err: scgi.ErrSCGIVersion},
	// SCGI protocol.txt §2: "Duplicate names are not allowed in the
	// headers", but for HTTP_* names, which nginx 1.22 repeats for a header
	// field on several lines; the server joins those (TestEnviron).
	{id: "REQUEST_METHOD twice", in: ns("CONTENT_LENGTH\x000\x00SCGI\x001\x00REQUEST_METHOD\x00GET\x00REQUEST_METHOD\x00POST\x00"),
		dup: "REQUEST_METHOD"},
	{id: "REQUEST_METHOD twice, same value", in: ns("CONTENT_LENGTH\x000\x00SCGI\x001\x00REQUEST_METHOD\x00GET\x00REQUEST_METHOD\x00GET\x00"),
		dup: "REQUEST_METHOD"},
	{id: "a web server variable twice, apart",
		in:  ns("CONTENT_LENGTH\x000\x00SCGI\x001\x00FOO\x00a\x00REQUEST_URI\x00/\x00FOO\x00b\x00"),
		dup: "FOO"},
	{id: "CONTENT_LENGTH twice, same", in: ns("CONTENT_LENGTH\x005\x00SCGI\x001\x00CONTENT_LENGTH\x005\x00"),
		dup: "CONTENT_LENGTH"},
	{id: "CONTENT_LENGTH twice, different", in: ns("CONTENT_LENGTH\x005\x00SCGI\x001\x00CONTENT_LENGTH\x006\x00"),
		dup: "CONTENT_LENGTH"},
	{id: "CONTENT_LENGTH twice, the second empty (nginx with scgi_param CONTENT_LENGTH $content_length)",
		in:  ns("CONTENT_LENGTH\x000\x00SCGI\x001\x00CONTENT_LENGTH\x00\x00"),
		dup: "CONTENT_LENGTH"},
	{id: "SCGI twice", in: ns("CONTENT_LENGTH\x000\x00SCGI\x001\x00SCGI\x001\x00"), dup: "SCGI"},
	{id: "names differing in case are two names", in: ns("CONTENT_LENGTH\x000\x00SCGI\x001\x00Foo\x00a\x00FOO\x00b\x00"),
		want: []scgi.Param{{"CONTENT_LENGTH", "0"}, {"SCGI", "1"}, {"Foo", "a"}, {"FOO", "b"}}},
	{id: "HTTP_COOKIE twice, as nginx 1.22 sends two Cookie lines",
		in:   ns("CONTENT_LENGTH\x000\x00SCGI\x001\x00HTTP_COOKIE\x00a=1\x00HTTP_COOKIE\x00b=2\x00"),
		want: []scgi.Param{{"CONTENT_LENGTH", "0"}, {"SCGI", "1"}, {"HTTP_COOKIE", "a=1"}, {"HTTP_COOKIE", "b=2"}}},
	{id: "HTTP_X_FOO twice, apart, as nginx 1.22 sends X-Foo, X-Other, X-Foo",
		in:   ns("CONTENT_LENGTH\x000\x00SCGI\x001\x00HTTP_X_FOO\x00a\x00HTTP_X_OTHER\x00o\x00HTTP_X_FOO\x00b\x00"),
		want: []scgi.Param{{"CONTENT_LENGTH", "0"}, {"SCGI", "1"}, {"HTTP_X_FOO", "a"}, {"HTTP_X_OTHER", "o"}, {"HTTP_X_FOO", "b"}}},
	{id: "empty name", in: ns("CONTENT_LENGTH\x000\x00SCGI\x001\x00\x00value\x00"), err: scgi.ErrEmptyName},
	{id: "empty value", in: ns("CONTENT_LENGTH\x000\x00SCGI\x001\x00QUERY_STRING\x00\x00"),
		want: []scgi.Param{{"CONTENT_LENGTH", "0"}, {"SCGI", "1"}, {"QUERY_STRING", ""}}},
	{id: "last value not NUL-terminated",
		in:  "69:CONTENT_LENGTH\x0027\x00SCGI\x001\x00REQUEST_METHOD\x00POST\x00REQUEST_URI\x00/deepthought,What is the answer to life?",
		err: scgi.ErrUnterminated},
	{id: "last name not NUL-terminated", in: ns("CONTENT_LENGTH\x000\x00SCGI\x001\x00NAME"), err: scgi.ErrUnterminated},
	{id: "odd string count",
		in:  "65:CONTENT_LENGTH\x0027\x00SCGI\x001\x00REQUEST_METHOD\x00REQUEST_URI\x00/deepthought\x00,What is the answer to life?",
		err: scgi.ErrOddStrings},
	{id: "terminator @ for ,", in: strings.Replace(spec, ",", "@", 1), err: scgi.ErrTerminator},
	{id: "length a space", in: " :", err: scgi.ErrLength},
	{id: "length a letter", in: "A:", err: scgi.ErrLength},
	{id: "length negative", in: "-5:", err: scgi.ErrLength},
	{id: "length empty, colon first", in: ":", err: scgi.ErrLength},
	{id: "length with a leading zero", in: "070:" + spec[3:], err: scgi.ErrLength},
	{id: "length of zeros", in: "00:,", err: scgi.ErrLength},
	{id: "no colon in 20 bytes", in: "12345678901234567890:", err: scgi.ErrLength},
	{id: "19 digits is a length", in: "9999999999999999999:", tooLarge: 9999999999999999999},
	{id: "oversized block", in: "999999999:" + strings.Repeat("x", 100), tooLarge: 999999999},
	{id: "one over the limit", in: "65537:", tooLarge: 65537},
	{id: "EOF in length", in: "70", err: io.ErrUnexpectedEOF},
	{id: "EOF in header block", in: spec[:40], err: io.ErrUnexpectedEOF},
	{id: "EOF before the comma", in: spec[:len(specHeader)-1], err: io.ErrUnexpectedEOF},
	{id: "empty block", in: "0:,", err: scgi.ErrNoContentLength},
	{id: "latin-1 value", in: ns("CONTENT_LENGTH\x000\x00SCGI\x001\x00HTTP_X_L1\x00caf\xe9\x00"),
		want: []scgi.Param{{"CONTENT_LENGTH", "0"}, {"SCGI", "1"}, {"HTTP_X_L1", "caf\xe9"}}},
	{id: "no input", in: "", err: io.EOF},
}

// TestReadHeaderDuplicateName: of several repeated names, the first one
// repeated on the wire is the one reported.
func TestReadHeaderDuplicateName(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"adjacent", ns("CONTENT_LENGTH\x000\x00SCGI\x001\x00A\x00\x00A\x00\x00"), "A"},
		{"B repeated before A", ns("CONTENT_LENGTH\x000\x00SCGI\x001\x00A\x00\x00B\x00\x00C\x00\x00B\x00\x00A\x00\x00"), "B"},
		{"CONTENT_LENGTH last", ns("CONTENT_LENGTH\x000\x00SCGI\x001\x00HTTP_X\x00\x00HTTP_X\x00\x00CONTENT_LENGTH\x000\x00"), "CONTENT_LENGTH"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := scgi.ReadHeader(bufio.NewReader(strings.NewReader(tt.in)), 0)
			if de, ok := errors.AsType[*scgi.DuplicateNameError](err); !ok || de.Name != tt.want {
				t.Errorf("ReadHeader(%q) = %v, want a *DuplicateNameError for %q", tt.in, err, tt.want)
			}
		})
	}
}

func TestReadHeader(t *testing.T) {
	for _, tt := range scgCases {
		t.Run(tt.id, func(t *testing.T) {
			// The same result whatever the reads deliver.
			for _, mode := range []string{"whole", "byte at a time"} {
				var src io.Reader = strings.NewReader(tt.in)
				if mode != "whole" {
					src = iotest.OneByteReader(src)
				}
				br := bufio.NewReader(src)
				h, err := scgi.ReadHeader(br, 0)
				checkResult(t, mode, tt, h, err)
				if err == nil {
					rest, _ := io.ReadAll(br)
					if want := tt.in[strings.IndexByte(tt.in, ':')+1+headerLen(tt.in)+1:]; string(rest) != want {
						t.Errorf("%s: body after ReadHeader = %q, want %q", mode, rest, want)
					}
				}
			}
		})
	}
}

// headerLen returns the length a netstring announces.
func headerLen(in string) int {
	n, _ := strconv.Atoi(in[:strings.IndexByte(in, ':')])
	return n
}

func checkResult(t *testing.T, mode string, tt scgCase, h scgi.Header, err error) {
	t.Helper()
	switch {
	case tt.tooLarge != 0:
		var tl *scgi.TooLargeError
		if !errors.As(err, &tl) || tl.Size != tt.tooLarge || tl.Max != scgi.DefaultMaxHeaderBytes {
			t.Errorf("%s: ReadHeader(%.40q) = %v, want a *TooLargeError of %d bytes", mode, tt.in, err, tt.tooLarge)
		}
	case tt.dup != "":
		var de *scgi.DuplicateNameError
		if !errors.As(err, &de) || de.Name != tt.dup {
			t.Errorf("%s: ReadHeader(%.40q) = %v, want a *DuplicateNameError for %q", mode, tt.in, err, tt.dup)
		}
	case tt.err != nil:
		if !errors.Is(err, tt.err) {
			t.Errorf("%s: ReadHeader(%.40q) = %v, want %v", mode, tt.in, err, tt.err)
		}
	case err != nil:
		t.Errorf("%s: ReadHeader(%.40q) = %v, want %q", mode, tt.in, err, tt.want)
	case !reflect.DeepEqual(h.Params, tt.want):
		t.Errorf("%s: ReadHeader(%.40q) = %q, want %q", mode, tt.in, h.Params, tt.want)
	default:
		if cl, _ := strconv.ParseInt(tt.want[0].Value, 10, 64); h.ContentLength != cl {
			t.Errorf("%s: ContentLength = %d, want %d", mode, h.ContentLength, cl)
		}
	}
}

// TestReadHeaderSplit: the spec request split in two at every byte.
func TestReadHeaderSplit(t *testing.T) {
	for i := range len(spec) {
		br := bufio.NewReader(io.MultiReader(strings.NewReader(spec[:i]), strings.NewReader(spec[i:])))
		h, err := scgi.ReadHeader(br, 0)
		if err != nil || !reflect.DeepEqual(h.Params, specParams) || h.ContentLength != 27 {
			t.Errorf("split at %d: ReadHeader = %q, %d, %v; want %q, 27", i, h.Params, h.ContentLength, err, specParams)
		}
	}
}

// TestReadHeaderTruncated: every proper prefix of a header ends in
// io.ErrUnexpectedEOF (io.EOF for the empty one), never in a hang or a
// header.
func TestReadHeaderTruncated(t *testing.T) {
	for i := range len(specHeader) {
		_, err := scgi.ReadHeader(bufio.NewReader(strings.NewReader(spec[:i])), 0)
		want := io.ErrUnexpectedEOF
		if i == 0 {
			want = io.EOF
		}
		if !errors.Is(err, want) {
			t.Errorf("ReadHeader(%q) = %v, want %v", spec[:i], err, want)
		}
	}
}

// countingReader is an endless source of 'x' that counts what is read.
type countingReader struct{ n int }

func (r *countingReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	r.n += len(p)
	return len(p), nil
}

// TestReadHeaderTooLarge: an oversized length is refused before the block
// is read or allocated.
func TestReadHeaderTooLarge(t *testing.T) {
	tests := []struct {
		name string
		max  int
		in   string
		ok   bool
	}{
		{"999999999 against the default", 0, "999999999:", false},
		{"at the limit", 100, ns("CONTENT_LENGTH\x000\x00SCGI\x001\x00X\x00" + strings.Repeat("v", 100-len("CONTENT_LENGTH\x000\x00SCGI\x001\x00X\x00\x00")) + "\x00"), true},
		{"one over the limit", 100, "101:", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &countingReader{}
			br := bufio.NewReaderSize(io.MultiReader(strings.NewReader(tt.in), src), 16)
			_, err := scgi.ReadHeader(br, tt.max)
			if tt.ok {
				if err != nil {
					t.Errorf("ReadHeader(%d-byte block, max %d) = %v, want success", headerLen(tt.in), tt.max, err)
				}
				return
			}
			var tl *scgi.TooLargeError
			if !errors.As(err, &tl) {
				t.Fatalf("ReadHeader(%q) = %v, want a *TooLargeError", tt.in, err)
			}
			if src.n > 16 {
				t.Errorf("ReadHeader read %d bytes of the oversized block, want none beyond one buffer", src.n)
			}
		})
	}
}

// TestReadHeaderAllocs: refusing an oversized block allocates only the
// error, never the block.
func TestReadHeaderAllocs(t *testing.T) {
	in := []byte("999999999:")
	var r bytes.Reader
	br := bufio.NewReaderSize(&r, 16)
	allocs := testing.AllocsPerRun(100, func() {
		r.Reset(in)
		br.Reset(&r)
		scgi.ReadHeader(br, 0)
	})
	if allocs > 1 {
		t.Errorf("ReadHeader(%q) makes %v allocations, want at most 1 (the error)", in, allocs)
	}
}

func TestAppendHeader(t *testing.T) {
	tests := []struct {
		name   string
		cl     int64
		params []scgi.Param
		want   string
	}{
		{"spec example", 27, specParams[2:], specHeader},
		{"CONTENT_LENGTH and SCGI among params are left out", 27, specParams, specHeader},
		{"nothing but the required pair", 0, nil, "24:CONTENT_LENGTH\x000\x00SCGI\x001\x00,"},
		{"empty value kept, empty name left out", 0,
			[]scgi.Param{{"QUERY_STRING", ""}, {"", "v"}, {"A\x00B", "v"}, {"C", "x\x00y"}},
			ns("CONTENT_LENGTH\x000\x00SCGI\x001\x00QUERY_STRING\x00\x00")},
		{"bytes kept", 0, []scgi.Param{{"HTTP_X_L1", "caf\xe9"}},
			ns("CONTENT_LENGTH\x000\x00SCGI\x001\x00HTTP_X_L1\x00caf\xe9\x00")},
		{"a repeated name after its first left out, HTTP_* kept", 0,
			[]scgi.Param{{"FOO", "a"}, {"HTTP_X", "1"}, {"FOO", "b"}, {"HTTP_X", "2"}},
			ns("CONTENT_LENGTH\x000\x00SCGI\x001\x00FOO\x00a\x00HTTP_X\x001\x00HTTP_X\x002\x00")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := scgi.AppendHeader([]byte("prefix"), tt.cl, tt.params)
			if string(got) != "prefix"+tt.want {
				t.Errorf("AppendHeader(%d, %q) = %q, want %q", tt.cl, tt.params, got[6:], tt.want)
			}
			h, err := scgi.ReadHeader(bufio.NewReader(bytes.NewReader(got[6:])), 0)
			if err != nil || h.ContentLength != tt.cl {
				t.Errorf("ReadHeader(AppendHeader(…)) = %d, %v; want %d", h.ContentLength, err, tt.cl)
			}
		})
	}
}
