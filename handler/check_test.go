package handler

import (
	"bufio"
	"slices"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	tests := []struct {
		name   string
		in     string // a CGI response header block
		fields []Field
		want   []Violation
	}{
		{"clean", "Content-Type: text/plain\r\nX-A: 1\r\n\r\n",
			[]Field{textCT, {"X-A", "1"}}, nil},
		{"hop-by-hop",
			"Connection: close\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\nKeep-Alive: 5\r\n\r\n",
			[]Field{textCT},
			[]Violation{
				{Rule: RuleHopByHop, Field: "Connection", Problem: "hop-by-hop field dropped"},
				{Rule: RuleHopByHop, Field: "Transfer-Encoding", Problem: "hop-by-hop field dropped"},
				{Rule: RuleHopByHop, Field: "Keep-Alive", Problem: "hop-by-hop field dropped"},
			}},
		{"every hop-by-hop field, any case",
			"Content-Type: text/plain\r\nconnection: a\r\nKEEP-ALIVE: a\r\nProxy-Authenticate: a\r\n" +
				"Proxy-Authorization: a\r\nTE: a\r\nTrailers: a\r\nTransfer-Encoding: a\r\nUpgrade: a\r\n\r\n",
			[]Field{textCT},
			[]Violation{
				{Rule: RuleHopByHop, Field: "connection", Problem: "hop-by-hop field dropped"},
				{Rule: RuleHopByHop, Field: "KEEP-ALIVE", Problem: "hop-by-hop field dropped"},
				{Rule: RuleHopByHop, Field: "Proxy-Authenticate", Problem: "hop-by-hop field dropped"},
				{Rule: RuleHopByHop, Field: "Proxy-Authorization", Problem: "hop-by-hop field dropped"},
				{Rule: RuleHopByHop, Field: "TE", Problem: "hop-by-hop field dropped"},
				{Rule: RuleHopByHop, Field: "Trailers", Problem: "hop-by-hop field dropped"},
				{Rule: RuleHopByHop, Field: "Transfer-Encoding", Problem: "hop-by-hop field dropped"},
				{Rule: RuleHopByHop, Field: "Upgrade", Problem: "hop-by-hop field dropped"},
			}},
		{"not hop-by-hop (wsgiref testHopByHop)",
			"Content-Type: text/plain\r\nTrailer: a\r\nProxy-Connection: a\r\nVia: a\r\nCache-Control: a\r\n\r\n",
			[]Field{textCT, {"Trailer", "a"}, {"Proxy-Connection", "a"}, {"Via", "a"}, {"Cache-Control", "a"}},
			nil},
		{"duplicates",
			"Date: 1\r\nServer: a\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n" +
				"date: 2\r\nSERVER: b\r\ncontent-type: text/html\r\nContent-Length: 5\r\nSet-Cookie: a\r\nSet-Cookie: b\r\n\r\n",
			[]Field{{"Date", "1"}, {"Server", "a"}, textCT, {"Content-Length", "4"}, {"Set-Cookie", "a"}, {"Set-Cookie", "b"}},
			[]Violation{
				{Rule: RuleFieldDuplicate, Field: "date", Problem: "duplicate field dropped"},
				{Rule: RuleFieldDuplicate, Field: "SERVER", Problem: "duplicate field dropped"},
				{Rule: RuleFieldDuplicate, Field: "content-type", Problem: "duplicate field dropped"},
				{Rule: RuleFieldDuplicate, Field: "Content-Length", Problem: "duplicate field dropped"},
			}},
		{"invalid Content-Length",
			"Content-Type: text/plain\r\nContent-Length: -1\r\n\r\n",
			[]Field{textCT},
			[]Violation{{Rule: RuleContentLengthFormat, Field: "Content-Length", Problem: "invalid value dropped"}}},
		{"Content-Length too large",
			"Content-Type: text/plain\r\nContent-Length: 99999999999999999999\r\n\r\n",
			[]Field{textCT},
			[]Violation{{Rule: RuleContentLengthFormat, Field: "Content-Length", Problem: "invalid value dropped"}}},
		{"invalid then valid Content-Length: both dropped",
			"Content-Type: text/plain\r\nContent-Length: 1, 1\r\nContent-Length: 1\r\n\r\n",
			[]Field{textCT},
			[]Violation{{Rule: RuleContentLengthFormat, Field: "Content-Length", Problem: "invalid value dropped"}, {Rule: RuleFieldDuplicate, Field: "Content-Length", Problem: "duplicate field dropped"}}},
		{"Content-Length 0", "Content-Type: text/plain\r\nContent-Length: 0\r\n\r\n",
			[]Field{textCT, {"Content-Length", "0"}}, nil},
		{"204 with Content-Type", "Status: 204 No Content\r\nContent-Type: text/plain\r\n\r\n",
			[]Field{},
			[]Violation{{Rule: RuleContentTypeNoBody, Field: "Content-Type", Problem: "dropped with status 204"}}},
		{"304 with Content-Type", "Status: 304 Not Modified\r\nContent-Type: text/plain\r\nETag: \"x\"\r\n\r\n",
			[]Field{{"ETag", `"x"`}},
			[]Violation{{Rule: RuleContentTypeNoBody, Field: "Content-Type", Problem: "dropped with status 304"}}},
		{"no Content-Type", "Status: 200 OK\r\nX-A: 1\r\n\r\n",
			[]Field{{"X-A", "1"}},
			[]Violation{{Rule: RuleContentTypeMissing, Field: "Content-Type", Problem: "no Content-Type"}}},
		{"no Content-Type on 204", "Status: 204 No Content\r\n\r\n", []Field{}, nil},
		{"Status without reason", "Status: 404\r\nContent-Type: text/plain\r\n\r\n",
			[]Field{textCT},
			[]Violation{{Rule: RuleStatusReason, Field: "Status", Problem: "no reason phrase; 404 Not Found sent"}}},
		{"no Content-Type on a client redirect", "Location: http://a/\r\n\r\n",
			[]Field{{"Location", "http://a/"}}, nil},
		{"no Content-Type on a local redirect", "Location: /a\r\n\r\n",
			[]Field{{"Location", "/a"}}, nil},
		{"all at once", "Connection: close\r\nX-A: 1\r\n\r\n",
			[]Field{{"X-A", "1"}},
			[]Violation{{Rule: RuleHopByHop, Field: "Connection", Problem: "hop-by-hop field dropped"}, {Rule: RuleContentTypeMissing, Field: "Content-Type", Problem: "no Content-Type"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ReadResponse(bufio.NewReader(strings.NewReader(tt.in)), 1<<16)
			if err != nil {
				t.Fatalf("ReadResponse(%q) error %v", tt.in, err)
			}
			kind := r.Kind
			got := Check(r)
			if !slices.Equal(got, tt.want) {
				t.Errorf("Check(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if fields := r.Header.Fields(); !slices.Equal(fields, tt.fields) {
				t.Errorf("Check(%q) left %q, want %q", tt.in, fields, tt.fields)
			}
			if r.Kind != kind {
				t.Errorf("Check(%q) changed Kind to %v, want %v", tt.in, r.Kind, kind)
			}
			if again := Check(r); slices.ContainsFunc(again, func(v Violation) bool { return v.Problem != "no Content-Type" }) {
				t.Errorf("Check(Check(%q)) = %q, want nothing left to repair", tt.in, again)
			}
		})
	}
}

func TestViolationString(t *testing.T) {
	v := Violation{Rule: RuleHopByHop, Field: "Connection", Problem: "hop-by-hop field dropped"}
	if got, want := v.String(), "Connection: hop-by-hop field dropped (CGI-HOP-BY-HOP)"; got != want {
		t.Errorf("%#v.String() = %q, want %q", v, got, want)
	}
}

func TestCheckNilHeader(t *testing.T) {
	r := &Response{Status: ok200}
	got := Check(r)
	want := []Violation{{Rule: RuleContentTypeMissing, Field: "Content-Type", Problem: "no Content-Type"}}
	if !slices.Equal(got, want) || r.Header == nil {
		t.Errorf("Check(Response with nil Header) = %q, Header %v, want %q and an empty Header", got, r.Header, want)
	}
}
