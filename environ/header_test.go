package environ

import (
	"bufio"
	"maps"
	"net/http"
	"strings"
	"testing"
)

var headerVarTests = []struct {
	name string
	want string // "" when ok is false
}{
	// RFC 3875 §4.1.18: the name upper-cased, '-' becoming '_'; among them
	// lighttpd's mapping vectors.
	{"xx-yy123", "HTTP_XX_YY123"},
	{"forwarded", "HTTP_FORWARDED"},
	{"x-forwarded-for", "HTTP_X_FORWARDED_FOR"},
	{"User-Agent", "HTTP_USER_AGENT"},
	{"Http-X", "HTTP_HTTP_X"},
	{"Proxy-Authorization", "HTTP_PROXY_AUTHORIZATION"}, // AddHeaders decides
	{"Authorization", "HTTP_AUTHORIZATION"},
	{"-", "HTTP__"},
	{"9", "HTTP_9"},

	// Names that could shadow another once mapped (RFC 3875 §4.1.18): lighttpd
	// maps these to HTTP_SOMETHING_ELSE; gatewayd drops them, as nginx and
	// Apache do.
	{"something+else", ""},
	{"something.else", ""},
	{"something:else", ""},
	{"something_else", ""},
	{"X-Forwarded_For", ""},
	{"Content_Type", ""},
	{"User_Agent", ""},
	{"X-Foo_Bar", ""},
	{"X Foo", ""},
	{"X-F\xf6o", ""},
	{"X-\x00", ""},
	{"", ""},

	// RFC 3875 §4.1.18 and §9.2: fields available in other variables are
	// dropped, and Proxy is never exported (httpoxy).
	{"Content-Type", ""},
	{"content-length", ""},
	{"CONTENT-LENGTH", ""},
	{"Proxy", ""},
	{"proxy", ""},
	{"Proxy-Connection", "HTTP_PROXY_CONNECTION"},
}

func TestHeaderVar(t *testing.T) {
	for _, tt := range headerVarTests {
		t.Run(tt.name, func(t *testing.T) {
			v, ok := HeaderVar(tt.name)
			if v != tt.want || ok != (tt.want != "") {
				t.Errorf("HeaderVar(%q) = %q, %v, want %q, %v", tt.name, v, ok, tt.want, tt.want != "")
			}
		})
	}
}

var addHeadersTests = []struct {
	name     string
	h        http.Header // as net/http builds it, unless the name says otherwise
	passAuth bool
	want     Environ
}{
	{
		name: "digits in names",
		h:    http.Header{"Xx-Yy123": {"foo"}},
		want: Environ{"HTTP_XX_YY123": "foo"},
	},
	{
		name: "cookies joined",
		h:    http.Header{"Cookie": {"nom=NOM", "yum=YUM"}},
		want: Environ{"HTTP_COOKIE": "nom=NOM; yum=YUM"},
	},
	{
		name: "list joined",
		h:    http.Header{"X-List": {"val1", "val2"}},
		want: Environ{"HTTP_X_LIST": "val1, val2"},
	},
	{
		name: "authorization dropped",
		h: http.Header{
			"Authorization":       {"Basic c2hhOnNoYQ=="},
			"Proxy-Authorization": {"Basic eDp5"},
			"Content-Length":      {"15"},
			"Content-Type":        {"text/plain"},
			"Accept":              {"*/*"},
		},
		want: Environ{"HTTP_ACCEPT": "*/*"},
	},
	{
		name: "authorization with passAuth",
		h: http.Header{
			"Authorization":       {"Basic c2hhOnNoYQ=="},
			"Proxy-Authorization": {"Basic eDp5"},
			"Content-Length":      {"15"},
			"Content-Type":        {"text/plain"},
		},
		passAuth: true,
		want: Environ{
			"HTTP_AUTHORIZATION":       "Basic c2hhOnNoYQ==",
			"HTTP_PROXY_AUTHORIZATION": "Basic eDp5",
		},
	},
	{
		name:     "httpoxy",
		h:        http.Header{"Proxy": {"http://evil.example:3128"}},
		passAuth: true,
		want:     Environ{},
	},
	{
		name: "Content_Type dropped",
		h:    http.Header{"Content_type": {"evil"}},
		want: Environ{},
	},
	{
		name: "underscore does not override dash",
		h:    http.Header{"X-Foo_bar": {"b"}, "X-Foo-Bar": {"a"}},
		want: Environ{"HTTP_X_FOO_BAR": "a"},
	},
	{
		name: "trim",
		h:    http.Header{"X-A": {" \t a  b \t "}, "X-B": {""}, "X-C": {" "}},
		want: Environ{"HTTP_X_A": "a  b", "HTTP_X_B": "", "HTTP_X_C": ""},
	},
	{
		name: "control characters",
		h: http.Header{
			"X-Nul":  {"a\x00b"},
			"X-Cr":   {"a\rb"},
			"X-Lf":   {"a\nX-Injected: 1"},
			"X-Some": {"bad\r\n", "good"},
			"X-Tab":  {"a\tb\x01\x7f\xff"},
		},
		want: Environ{"HTTP_X_SOME": "good", "HTTP_X_TAB": "a\tb\x01\x7f\xff"},
	},
	{
		name: "hand-built names differing in case",
		h:    http.Header{"cookie": {"c=3"}, "Cookie": {"b=2"}, "COOKIE": {"a=1"}, "x-y": {"2"}, "X-Y": {"1"}},
		want: Environ{"HTTP_COOKIE": "a=1; b=2; c=3", "HTTP_X_Y": "1, 2"},
	},
	{
		name: "empty",
		h:    http.Header{},
		want: Environ{},
	},
}

func TestAddHeaders(t *testing.T) {
	for _, tt := range addHeadersTests {
		t.Run(tt.name, func(t *testing.T) {
			e := Environ{}
			e.AddHeaders(tt.h, tt.passAuth)
			if !maps.Equal(e, tt.want) {
				t.Errorf("AddHeaders(%v, %v) = %v, want %v", tt.h, tt.passAuth, e, tt.want)
			}
		})
	}
}

// TestAddHeadersJoinsExisting shows that AddHeaders adds to what e holds.
func TestAddHeadersJoinsExisting(t *testing.T) {
	e := Environ{"HTTP_X_A": "1", "SERVER_NAME": "h"}
	e.AddHeaders(http.Header{"X-A": {"2"}}, false)
	want := Environ{"HTTP_X_A": "1, 2", "SERVER_NAME": "h"}
	if !maps.Equal(e, want) {
		t.Errorf("AddHeaders = %v, want %v", e, want)
	}
}

// TestAddHeadersFolded checks RFC 3875 §4.1.18 (a folded field is merged
// onto one line) through net/http: the obsolete line folding of the Apache
// headers.t vectors reaches AddHeaders as one line.
func TestAddHeadersFolded(t *testing.T) {
	tests := []struct{ field, want string }{
		{"Hello: Foo\r\n Bar\r\n", "Foo Bar"},
		{"Hello: Foo\r\n\tBar\r\n", "Foo Bar"},
		{"Hello: Foo \t \r\n Bar\r\n", "Foo Bar"},
		{"Hello:  World \t \r\n", "World"},
	}
	for _, tt := range tests {
		raw := "GET / HTTP/1.1\r\nHost: h\r\n" + tt.field + "\r\n"
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			t.Fatalf("ReadRequest(%q): %v", raw, err)
		}
		e := Environ{}
		e.AddHeaders(r.Header, false)
		if got := e["HTTP_HELLO"]; got != tt.want {
			t.Errorf("AddHeaders(%q): HTTP_HELLO = %q, want %q", tt.field, got, tt.want)
		}
	}
}

type param struct{ name, value string }

var addTests = []struct {
	name   string
	params []param
	want   Environ
}{
	{
		name:   "cookie",
		params: []param{{"HTTP_COOKIE", "nom=NOM"}, {"HTTP_COOKIE", "yum=YUM"}},
		want:   Environ{"HTTP_COOKIE": "nom=NOM; yum=YUM"},
	},
	{
		name:   "accept",
		params: []param{{"HTTP_ACCEPT", "text/html"}, {"HTTP_ACCEPT", "*/*"}, {"HTTP_ACCEPT", ""}},
		want:   Environ{"HTTP_ACCEPT": "text/html, */*, "},
	},
	{
		name:   "last wins",
		params: []param{{"SCRIPT_NAME", "/a"}, {"SCRIPT_NAME", "/b"}, {"CONTENT_TYPE", "x"}, {"CONTENT_TYPE", ""}},
		want:   Environ{"SCRIPT_NAME": "/b", "CONTENT_TYPE": ""},
	},
	{
		name:   "httpoxy",
		params: []param{{"HTTP_PROXY", "http://evil.example"}, {"HTTP_CONTENT_TYPE", "x"}, {"HTTP_CONTENT_LENGTH", "1"}},
		want:   Environ{},
	},
	{
		name:   "not HTTP_",
		params: []param{{"HTTPS", "on"}, {"HTTPS", "off"}, {"http_x", "1"}, {"http_x", "2"}},
		want:   Environ{"HTTPS": "off", "http_x": "2"},
	},
}

func TestAdd(t *testing.T) {
	for _, tt := range addTests {
		t.Run(tt.name, func(t *testing.T) {
			e := Environ{}
			for _, p := range tt.params {
				e.Add(p.name, p.value)
			}
			if !maps.Equal(e, tt.want) {
				t.Errorf("Add(%v) = %v, want %v", tt.params, e, tt.want)
			}
		})
	}
}
