package fastcgi

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"gatewayd/handler"
)

// Records byte for byte, one of each kind gatewayd reads or writes (FastCGI §3.3, §5).
var recordVectors = []struct {
	name    string
	hex     string
	t       recType
	id      uint16
	content []byte
}{
	{"BEGIN_REQUEST responder keep-conn", "01 01 00 01 00 08 00 00  00 01 01 00 00 00 00 00", typeBeginRequest, 1, []byte{0, 1, 1, 0, 0, 0, 0, 0}},
	{"BEGIN_REQUEST authorizer", "01 01 00 01 00 08 00 00  00 02 00 00 00 00 00 00", typeBeginRequest, 1, []byte{0, 2, 0, 0, 0, 0, 0, 0}},
	{"BEGIN_REQUEST filter", "01 01 00 01 00 08 00 00  00 03 00 00 00 00 00 00", typeBeginRequest, 1, []byte{0, 3, 0, 0, 0, 0, 0, 0}},
	{"BEGIN_REQUEST role 9", "01 01 00 01 00 08 00 00  00 09 00 00 00 00 00 00", typeBeginRequest, 1, []byte{0, 9, 0, 0, 0, 0, 0, 0}},
	{"END_REQUEST complete", "01 03 00 01 00 08 00 00  00 00 00 00 00 00 00 00", typeEndRequest, 1, endRequestBody(0, StatusRequestComplete)},
	{"END_REQUEST app 938", "01 03 00 01 00 08 00 00  00 00 03 aa 00 00 00 00", typeEndRequest, 1, endRequestBody(938, StatusRequestComplete)},
	{"END_REQUEST unknown role", "01 03 00 01 00 08 00 00  00 00 00 00 03 00 00 00", typeEndRequest, 1, endRequestBody(0, StatusUnknownRole)},
	{"END_REQUEST cant mpx", "01 03 00 02 00 08 00 00  00 00 00 00 01 00 00 00", typeEndRequest, 2, endRequestBody(0, StatusCantMpxConn)},
	{"END_REQUEST overloaded", "01 03 00 01 00 08 00 00  00 00 00 00 02 00 00 00", typeEndRequest, 1, endRequestBody(0, StatusOverloaded)},
	{"ABORT_REQUEST", "01 02 00 01 00 00 00 00", typeAbortRequest, 1, nil},
	{"empty PARAMS", "01 04 00 01 00 00 00 00", typeParams, 1, nil},
	{"empty STDIN", "01 05 00 01 00 00 00 00", typeStdin, 1, nil},
	{"UNKNOWN_TYPE 0x0c", "01 0b 00 00 00 08 00 00  0c 00 00 00 00 00 00 00", typeUnknownType, 0, []byte{12, 0, 0, 0, 0, 0, 0, 0}},
	{"PARAMS as nginx pads it",
		"01 04 00 01 00 3f 01 00" + hexOf("\x0e\x03REQUEST_METHODGET\x0f\x08SERVER_PROTOCOLHTTP/1.1\x0b\x06SCRIPT_NAME/t.cgi") + "00",
		typeParams, 1, []byte("\x0e\x03REQUEST_METHODGET\x0f\x08SERVER_PROTOCOLHTTP/1.1\x0b\x06SCRIPT_NAME/t.cgi")},
}

func hexOf(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteString(" ")
		b.WriteString("0123456789abcdef"[s[i]>>4 : s[i]>>4+1])
		b.WriteString("0123456789abcdef"[s[i]&15 : s[i]&15+1])
	}
	return b.String() + " "
}

func TestRecordVectors(t *testing.T) {
	for _, v := range recordVectors {
		t.Run(v.name, func(t *testing.T) {
			wire := unhex(v.hex)
			if got := appendRecord(nil, v.t, v.id, v.content); !bytes.Equal(got, wire) {
				t.Errorf("appendRecord = % x, want % x", got, wire)
			}
			var w bytes.Buffer
			if err := writeRecord(&w, v.t, v.id, v.content); err != nil || !bytes.Equal(w.Bytes(), wire) {
				t.Errorf("writeRecord = % x (%v), want % x", w.Bytes(), err, wire)
			}
			// Read back whole, one byte at a time, and split at every byte.
			readers := map[string]func() io.Reader{
				"whole":    func() io.Reader { return bytes.NewReader(wire) },
				"one byte": func() io.Reader { return iotest.OneByteReader(bytes.NewReader(wire)) },
				"half":     func() io.Reader { return iotest.HalfReader(bytes.NewReader(wire)) },
			}
			for i := 1; i < len(wire); i++ {
				readers["split at "+strconv.Itoa(i)] = func() io.Reader {
					return io.MultiReader(bytes.NewReader(wire[:i]), bytes.NewReader(wire[i:]))
				}
			}
			for name, r := range readers {
				h, content, err := readRecord(r(), make([]byte, maxRecord))
				if err != nil || h.Type != v.t || h.ID != v.id || !bytes.Equal(content, v.content) {
					t.Errorf("%s: readRecord = %+v % x %v, want %v id %d % x", name, h, content, err, v.t, v.id, v.content)
				}
			}
			// Cut short anywhere, the read fails rather than inventing data.
			for i := 1; i < len(wire); i++ {
				if _, _, err := readRecord(bytes.NewReader(wire[:i]), make([]byte, maxRecord)); !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Errorf("readRecord(first %d bytes) = %v, want ErrUnexpectedEOF", i, err)
				}
			}
		})
	}
}

func TestReadRecordErrors(t *testing.T) {
	buf := make([]byte, maxRecord)
	if _, _, err := readRecord(bytes.NewReader(nil), buf); err != io.EOF {
		t.Errorf("readRecord(empty) = %v, want io.EOF", err)
	}
	if _, _, err := readRecord(bytes.NewReader(unhex("02 01 00 01 00 08 00 00")), buf); !errors.Is(err, errVersion) {
		t.Errorf("readRecord(version 2) = %v, want errVersion (FastCGI §8)", err)
	}
}

// Name-value pairs with 1- and 4-byte lengths (FastCGI §3.4).
func TestNameValue(t *testing.T) {
	tests := []struct {
		name, value string
		wireHead    string // the length bytes
	}{
		{"A", strings.Repeat("v", 200), "01 80 00 00 c8"},
		{strings.Repeat("N", 300), "1", "80 00 01 2c 01"},
		{strings.Repeat("N", 128), strings.Repeat("v", 65536), "80 00 00 80 80 01 00 00"},
		{"SERVER_PORT", "80", "0b 02"},
		{"", "", "00 00"},
		{strings.Repeat("N", 127), strings.Repeat("v", 127), "7f 7f"},
	}
	for _, tt := range tests {
		wire := append(unhex(tt.wireHead), tt.name+tt.value...)
		if got := appendNameValue(nil, tt.name, tt.value); !bytes.Equal(got, wire) {
			t.Errorf("appendNameValue(%d, %d bytes) = % x…, want % x…", len(tt.name), len(tt.value), got[:8], wire[:8])
		}
		n, v, rest, err := readNameValue(append(wire, "next"...))
		if err != nil || n != tt.name || v != tt.value || string(rest) != "next" {
			t.Errorf("readNameValue(%d, %d bytes) = %d, %d, %q, %v", len(tt.name), len(tt.value), len(n), len(v), rest, err)
		}
		for i := range len(wire) {
			if _, _, _, err := readNameValue(wire[:i]); !errors.Is(err, errNameValue) {
				t.Errorf("readNameValue(first %d of %d bytes) = %v, want errNameValue", i, len(wire), err)
			}
		}
	}
	if got := appendNameValue(nil, "SERVER_PORT", "80"); !bytes.Equal(got, []byte("\x0b\x02SERVER_PORT80")) {
		t.Errorf("the specification's example: % x", got)
	}
}

func TestWriteStream(t *testing.T) {
	content := bytes.Repeat([]byte("x"), 2*maxContent+10)
	var w bytes.Buffer
	if n, err := writeStream(&w, typeStdout, 3, content); n != len(content) || err != nil {
		t.Fatalf("writeStream = %d, %v", n, err)
	}
	b := w.Bytes()
	var got []byte
	r := bytes.NewReader(b)
	var sizes []int
	for {
		h, c, err := readRecord(r, make([]byte, maxRecord))
		if err == io.EOF {
			break
		}
		if err != nil || h.Type != typeStdout || h.ID != 3 {
			t.Fatalf("record %+v %v", h, err)
		}
		sizes = append(sizes, len(c))
		got = append(got, c...)
	}
	if !bytes.Equal(got, content) || len(sizes) != 3 || sizes[0] != maxContent {
		t.Errorf("writeStream split %d bytes into %v", len(content), sizes)
	}
	if b := records(typeStdout, 1, nil); len(b) != 0 {
		t.Errorf("writeStream(empty) wrote % x, want nothing", b)
	}
}

func FuzzReadRecord(f *testing.F) {
	for _, v := range recordVectors {
		f.Add(unhex(v.hex))
	}
	f.Add(unhex("01 06 00 01 ff ff ff 00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		buf := make([]byte, maxRecord)
		h, content, err := readRecord(bytes.NewReader(data), buf)
		if err != nil {
			return
		}
		if len(content) != int(h.ContentLength) || h.Version != version1 {
			t.Fatalf("readRecord = %+v with %d content bytes", h, len(content))
		}
		// The read loop's nextRecord reads the same record, whether br
		// holds all of it or not.
		for _, size := range []int{16, len(data) + 16} {
			h3, c3, _, err := nextRecord(bufio.NewReaderSize(bytes.NewReader(data), size), make([]byte, maxRecord))
			if err != nil || h3 != h || !bytes.Equal(c3, content) {
				t.Fatalf("nextRecord with a %d-byte buffer = %+v % x %v, want %+v % x", size, h3, c3, err, h, content)
			}
		}
		// What was read writes back as the same header and content.
		again := appendRecord(nil, h.Type, h.ID, content)
		h2, c2, err := readRecord(bytes.NewReader(again), buf)
		if err != nil || h2.Type != h.Type || h2.ID != h.ID || !bytes.Equal(c2, content) {
			t.Fatalf("round trip: %+v % x %v", h2, c2, err)
		}
	})
}

func FuzzParams(f *testing.F) {
	f.Add(appendNameValue(appendNameValue(nil, "SERVER_PORT", "80"), "A", "b"))
	f.Add(unhex("80 00 01 2c 01"))
	f.Add(unhex("ff ff ff ff ff ff ff ff"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var names, values []string
		for p := data; len(p) > 0; {
			n, v, rest, err := readNameValue(p)
			if err != nil {
				return
			}
			if len(rest) >= len(p) {
				t.Fatalf("readNameValue consumed nothing of % x", p)
			}
			names, values = append(names, n), append(values, v)
			p = rest
		}
		var again []byte
		for i := range names {
			again = appendNameValue(again, names[i], values[i])
		}
		for p, i := again, 0; len(p) > 0; i++ {
			n, v, rest, err := readNameValue(p)
			if err != nil || n != names[i] || v != values[i] {
				t.Fatalf("round trip of pair %d: %q %q %v", i, n, v, err)
			}
			p = rest
		}
	})
}

// FuzzConnection writes arbitrary bytes to a live server and checks that a
// well-formed request on another connection is still served.
func FuzzConnection(f *testing.F) {
	for _, v := range recordVectors {
		f.Add(unhex(v.hex))
	}
	f.Add(get(1, flagKeepConn))
	f.Add(append(begin(1, roleResponder, 0), params(1, "REQUEST_METHOD", "GET")...))
	f.Add(unhex("01 09 00 00 00 30 00 00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		addr, _ := serve(t, handler.Config{App: output("Content-Type: text/plain\r\n\r\nok"), Timeout: 2 * time.Second},
			Config{ParamsTimeout: 500 * time.Millisecond})
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write(data)
		c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		io.Copy(io.Discard, c)
		c.Close()

		good := dial(t, addr)
		good.send(get(1, 0))
		if r := good.response(1); !bytes.HasSuffix(r.stdout, []byte("ok")) {
			t.Fatalf("after % x a good request got %q", data, r.stdout)
		}
	})
}

// records returns content as writeStream writes it, for building requests.
func records(t recType, id uint16, content []byte) []byte {
	var w bytes.Buffer
	writeStream(&w, t, id, content)
	return w.Bytes()
}

// countingWriter counts the writes that reach it, as syscalls would.
type countingWriter struct{ writes, bytes int }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.writes++
	w.bytes += len(p)
	return len(p), nil
}

// TestRecordOneWrite: a connection's writer holds a whole record, so that
// a chunk of output goes to the socket in one write, not split with its
// header across two.
func TestRecordOneWrite(t *testing.T) {
	for _, n := range []int{32 << 10, maxContent} {
		bw := connWriters.Get().(*bufio.Writer)
		var w countingWriter
		bw.Reset(&w)
		if _, err := writeStream(bw, typeStdout, 1, make([]byte, n)); err != nil {
			t.Fatal(err)
		}
		bw.Flush()
		if w.writes != 1 || w.bytes < n+headerLen {
			t.Errorf("a record of %d bytes went out in %d writes (%d bytes), want 1", n, w.writes, w.bytes)
		}
		bw.Reset(nil)
		connWriters.Put(bw)
	}
}

// TestAppendStream: the read loop passes on at once only the records that
// continue the stream it read, whole and in order, and leaves anything
// else, down to a record not all here yet, for the next read.
func TestAppendStream(t *testing.T) {
	rec := func(tp recType, id uint16, s string) []byte { return appendRecord(nil, tp, id, []byte(s)) }
	many := bytes.Repeat(rec(typeStdin, 1, "x"), maxStreamRecords+5)
	tests := []struct {
		name string
		in   []byte // after the record read, STDIN "first" of request 1
		want []string
		rest int  // records after them that are still whole in the buffer
		bad  bool // and then a record of another version
	}{
		{"nothing more", nil, nil, 0, false},
		{"more of the stream", bytes.Join([][]byte{rec(typeStdin, 1, "ab"), rec(typeStdin, 1, "cdefghijk")}, nil), []string{"ab", "cdefghijk"}, 0, false},
		{"another request's", bytes.Join([][]byte{rec(typeStdin, 1, "ab"), rec(typeStdin, 2, "zz"), rec(typeStdin, 1, "cd")}, nil), []string{"ab"}, 2, false},
		{"another type", bytes.Join([][]byte{rec(typeData, 1, "dd"), rec(typeStdin, 1, "cd")}, nil), []string{}, 2, false},
		{"the stream's end", bytes.Join([][]byte{rec(typeStdin, 1, "ab"), rec(typeStdin, 1, ""), rec(typeStdin, 1, "cd")}, nil), []string{"ab"}, 2, false},
		{"a record cut short", append(rec(typeStdin, 1, "ab"), rec(typeStdin, 1, "cdefghijk")[:12]...), []string{"ab"}, 0, false},
		{"a header cut short", append(rec(typeStdin, 1, "ab"), 1, 5, 0), []string{"ab"}, 0, false},
		{"another version", append(rec(typeStdin, 1, "ab"), unhex("02 05 00 01 00 02 00 00 63 64")...), []string{"ab"}, 0, true},
		{"past the bound", many, slices.Repeat([]string{"x"}, maxStreamRecords-1), 6, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wire := append(rec(typeStdin, 1, "first"), tt.in...)
			br := bufio.NewReaderSize(bytes.NewReader(wire), 64<<10)
			h, content, n, err := nextRecord(br, make([]byte, maxRecord))
			if err != nil || string(content) != "first" {
				t.Fatalf("nextRecord = %q, %v", content, err)
			}
			v, span := appendStream([][]byte{content}, br, n, h)
			var got []string
			for _, p := range v[1:] {
				got = append(got, string(p))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("passed on %q with the first record, want %q", got, tt.want)
			}
			// What the loop reads next is the first record not passed on.
			br.Discard(n + span)
			left := 0
			for {
				_, _, m, err := nextRecord(br, make([]byte, maxRecord))
				if err != nil || m == 0 {
					if tt.bad != errors.Is(err, errVersion) {
						t.Errorf("after the whole records, %v", err)
					}
					break
				}
				br.Discard(m)
				left++
			}
			if left != tt.rest {
				t.Errorf("%d whole records left for the next reads, want %d", left, tt.rest)
			}
		})
	}
}
