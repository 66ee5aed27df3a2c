package environ

import (
	"errors"
	"maps"
	"strings"
	"testing"
)

// absent marks a variable that is missing from an environment in a table.
const absent = "(missing)"

// pathEnv returns an Environ holding SCRIPT_NAME and PATH_INFO, leaving out
// those given as absent.
func pathEnv(sn, pi string) Environ {
	e := Environ{}
	if sn != absent {
		e["SCRIPT_NAME"] = sn
	}
	if pi != absent {
		e["PATH_INFO"] = pi
	}
	return e
}

// get returns e[k], or absent if k is missing.
func get(e Environ, k string) string {
	if v, ok := e[k]; ok {
		return v
	}
	return absent
}

var guessSchemeTests = []struct {
	https string // absent: no HTTPS key
	want  string
}{
	// CPython's test_wsgiref testGuessScheme.
	{absent, "http"},
	{"foo", "http"},
	{"on", "https"},
	{"yes", "https"},
	{"1", "https"},
	// wsgiref.util.guess_scheme beyond those tests: case-sensitive, no
	// trimming.
	{"ON", "http"},
	{"On", "http"},
	{"YES", "http"},
	{"true", "http"},
	{"off", "http"},
	{"0", "http"},
	{"", "http"},
	{" on", "http"},
}

func TestGuessScheme(t *testing.T) {
	for _, tt := range guessSchemeTests {
		t.Run(tt.https, func(t *testing.T) {
			e := Environ{}
			if tt.https != absent {
				e["HTTPS"] = tt.https
			}
			if got := GuessScheme(e); got != tt.want {
				t.Errorf("GuessScheme(%v) = %q, want %q", e, got, tt.want)
			}
		})
	}
}

func TestScheme(t *testing.T) {
	tests := []struct {
		e    Environ
		want string
	}{
		{Environ{}, "http"},
		{Environ{"HTTPS": "on"}, "https"},
		{Environ{"REQUEST_SCHEME": "https"}, "https"},
		{Environ{"REQUEST_SCHEME": "ftp", "HTTPS": "on"}, "ftp"},
		{Environ{"REQUEST_SCHEME": "http", "HTTPS": "on"}, "http"},
		{Environ{"REQUEST_SCHEME": "", "HTTPS": "on"}, "https"},
		{Environ{"REQUEST_SCHEME": ""}, "http"},
	}
	for _, tt := range tests {
		if got := Scheme(tt.e); got != tt.want {
			t.Errorf("Scheme(%v) = %q, want %q", tt.e, got, tt.want)
		}
	}
}

// appURITests are wsgiref.util.application_uri vectors: each env is passed
// through SetupTestingDefaults, then the absent keys are deleted.
var appURITests = []struct {
	env    Environ
	absent []string
	want   string
}{
	// testAppURIs.
	{Environ{}, nil, "http://127.0.0.1/"},
	{Environ{"SCRIPT_NAME": "/spam"}, nil, "http://127.0.0.1/spam"},
	{Environ{"SCRIPT_NAME": "/sp\xe4m"}, nil, "http://127.0.0.1/sp%E4m"},
	{Environ{"HTTP_HOST": "spam.example.com:2071", "SERVER_PORT": "2071"}, nil, "http://spam.example.com:2071/"},
	{Environ{"SERVER_NAME": "spam.example.com"}, nil, "http://spam.example.com/"},
	{Environ{"HTTP_HOST": "127.0.0.1", "SERVER_NAME": "spam.example.com"}, nil, "http://127.0.0.1/"},
	{Environ{"HTTPS": "on"}, nil, "https://127.0.0.1/"},
	{Environ{"SERVER_PORT": "8000"}, []string{"HTTP_HOST"}, "http://127.0.0.1:8000/"}, // HTTP_HOST=None

	// Beyond CPython's tests: HTTP_HOST "" so that SERVER_NAME and
	// SERVER_PORT are used.
	{Environ{"HTTP_HOST": "", "SERVER_PORT": "8000"}, nil, "http://127.0.0.1:8000/"},
	{Environ{"HTTP_HOST": "", "HTTPS": "on", "SERVER_PORT": "443"}, nil, "https://127.0.0.1/"},
	{Environ{"HTTP_HOST": "", "HTTPS": "on", "SERVER_PORT": "80"}, nil, "https://127.0.0.1:80/"},
	{Environ{"HTTP_HOST": "", "SERVER_PORT": "80"}, nil, "http://127.0.0.1/"},
	{Environ{"HTTP_HOST": "", "SERVER_PORT": "443"}, nil, "http://127.0.0.1:443/"},
	{Environ{"HTTP_HOST": "", "REQUEST_SCHEME": "ftp", "SERVER_PORT": "80"}, nil, "ftp://127.0.0.1/"},
	{Environ{"HTTP_HOST": "", "REQUEST_SCHEME": "ftp", "SERVER_PORT": "21"}, nil, "ftp://127.0.0.1:21/"},
	{Environ{"HTTP_HOST": "", "HTTPS": "on", "SERVER_PORT": "0443"}, nil, "https://127.0.0.1:0443/"},

	// Beyond CPython's tests: SCRIPT_NAME quoting.
	{Environ{"SCRIPT_NAME": "/a b;c=d,e"}, nil, "http://127.0.0.1/a%20b%3Bc%3Dd%2Ce"},
	{Environ{"SCRIPT_NAME": "/a?b#c%d"}, nil, "http://127.0.0.1/a%3Fb%23c%25d"},
	{Environ{"SCRIPT_NAME": "/~user/_x-y.z"}, nil, "http://127.0.0.1/~user/_x-y.z"},
	{Environ{"SCRIPT_NAME": "/!$&'()*+:@"}, nil, "http://127.0.0.1/%21%24%26%27%28%29%2A%2B%3A%40"},
	// wsgiref raises UnicodeEncodeError for '€'; its UTF-8 bytes quote one by one.
	{Environ{"SCRIPT_NAME": "/\u20ac"}, nil, "http://127.0.0.1/%E2%82%AC"},
}

// defaults returns a copy of env with SetupTestingDefaults applied and the
// keys in del removed.
func defaults(env Environ, del []string) Environ {
	e := env.Clone()
	SetupTestingDefaults(e)
	for _, k := range del {
		delete(e, k)
	}
	return e
}

func TestApplicationURI(t *testing.T) {
	for _, tt := range appURITests {
		t.Run(tt.want, func(t *testing.T) {
			e := defaults(tt.env, tt.absent)
			got, err := ApplicationURI(e)
			if err != nil || got != tt.want {
				t.Errorf("ApplicationURI(%v) = %q, %v, want %q, nil", e, got, err, tt.want)
			}
		})
	}
}

func TestApplicationURIMissing(t *testing.T) {
	tests := []struct {
		e    Environ
		want string // the missing variable
	}{
		{Environ{"SERVER_PORT": "80"}, "SERVER_NAME"},
		{Environ{"HTTP_HOST": "", "SERVER_PORT": "80"}, "SERVER_NAME"},
		{Environ{"SERVER_NAME": "h"}, "SERVER_PORT"},
		{Environ{"SERVER_NAME": "h", "HTTPS": "on"}, "SERVER_PORT"},
	}
	for _, tt := range tests {
		got, err := ApplicationURI(tt.e)
		if !errors.Is(err, ErrMissing) || !strings.HasSuffix(err.Error(), " "+tt.want) {
			t.Errorf("ApplicationURI(%v) = %q, %v, want error wrapping ErrMissing naming %s", tt.e, got, err, tt.want)
		}
		got, err = RequestURI(tt.e, true)
		if !errors.Is(err, ErrMissing) {
			t.Errorf("RequestURI(%v, true) = %q, %v, want error wrapping ErrMissing", tt.e, got, err)
		}
	}
	// HTTP_HOST makes SERVER_NAME and SERVER_PORT unnecessary.
	e := Environ{"HTTP_HOST": "h"}
	if got, err := ApplicationURI(e); err != nil || got != "http://h/" {
		t.Errorf("ApplicationURI(%v) = %q, %v, want %q, nil", e, got, err, "http://h/")
	}
}

// reqURITests are wsgiref.util.request_uri vectors, after
// SetupTestingDefaults.
var reqURITests = []struct {
	env   Environ
	query bool
	want  string
}{
	// testReqURIs.
	{Environ{}, true, "http://127.0.0.1/"},
	{Environ{"SCRIPT_NAME": "/spam"}, true, "http://127.0.0.1/spam"},
	{Environ{"SCRIPT_NAME": "/sp\xe4m"}, true, "http://127.0.0.1/sp%E4m"},
	{Environ{"SCRIPT_NAME": "/spammity", "PATH_INFO": "/spam"}, true, "http://127.0.0.1/spammity/spam"},
	{Environ{"SCRIPT_NAME": "/spammity", "PATH_INFO": "/sp\xe4m"}, true, "http://127.0.0.1/spammity/sp%E4m"},
	{Environ{"SCRIPT_NAME": "/spammity", "PATH_INFO": "/spam;ham"}, true, "http://127.0.0.1/spammity/spam;ham"},
	{Environ{"SCRIPT_NAME": "/spammity", "PATH_INFO": "/spam;cookie=1234,5678"}, true, "http://127.0.0.1/spammity/spam;cookie=1234,5678"},
	{Environ{"SCRIPT_NAME": "/spammity", "PATH_INFO": "/spam", "QUERY_STRING": "say=ni"}, true, "http://127.0.0.1/spammity/spam?say=ni"},
	{Environ{"SCRIPT_NAME": "/spammity", "PATH_INFO": "/spam", "QUERY_STRING": "s%E4y=ni"}, true, "http://127.0.0.1/spammity/spam?s%E4y=ni"},
	{Environ{"SCRIPT_NAME": "/spammity", "PATH_INFO": "/spam", "QUERY_STRING": "say=ni"}, false, "http://127.0.0.1/spammity/spam"},

	// Beyond CPython's tests.
	{Environ{"SCRIPT_NAME": "", "PATH_INFO": "/x/y"}, true, "http://127.0.0.1/x/y"},
	{Environ{"SCRIPT_NAME": "", "PATH_INFO": ""}, true, "http://127.0.0.1/"},
	{Environ{"SCRIPT_NAME": "", "PATH_INFO": "x"}, true, "http://127.0.0.1/"},
	{Environ{"SCRIPT_NAME": "", "PATH_INFO": "/"}, true, "http://127.0.0.1/"},
	{Environ{"SCRIPT_NAME": "/s", "PATH_INFO": ""}, true, "http://127.0.0.1/s"},
	{Environ{"SCRIPT_NAME": "/s", "PATH_INFO": "/a b?c#d%e"}, true, "http://127.0.0.1/s/a%20b%3Fc%23d%25e"},
	{Environ{"SCRIPT_NAME": "/s", "PATH_INFO": "/!$&'()*+:@~_.-"}, true, "http://127.0.0.1/s/%21%24%26%27%28%29%2A%2B%3A%40~_.-"},
	{Environ{"SCRIPT_NAME": "/s", "PATH_INFO": "/\x80\xff"}, true, "http://127.0.0.1/s/%80%FF"},
	{Environ{"SCRIPT_NAME": "/s", "PATH_INFO": "/x", "QUERY_STRING": "a b=\xe4"}, true, "http://127.0.0.1/s/x?a b=\xe4"},
	{Environ{"SCRIPT_NAME": "/s", "PATH_INFO": "/x", "QUERY_STRING": ""}, true, "http://127.0.0.1/s/x"},

	// The first byte of the quoted PATH_INFO is dropped, even of an escape
	// (urllib's quote, then [1:]).
	{Environ{"SCRIPT_NAME": "", "PATH_INFO": "\xe4x"}, true, "http://127.0.0.1/E4x"},
}

func TestRequestURI(t *testing.T) {
	for _, tt := range reqURITests {
		t.Run(tt.want, func(t *testing.T) {
			e := defaults(tt.env, nil)
			got, err := RequestURI(e, tt.query)
			if err != nil || got != tt.want {
				t.Errorf("RequestURI(%v, %v) = %q, %v, want %q, nil", e, tt.query, got, err, tt.want)
			}
		})
	}
}

type shiftTest struct {
	snIn, piIn   string
	name         string
	ok           bool
	err          error
	snOut, piOut string
}

// simpleShifts are CPython's test_wsgiref testSimpleShifts and
// testNormalizedShifts, run after SetupTestingDefaults as checkShift does.
var simpleShifts = []shiftTest{
	{"", "/", "", true, nil, "/", ""},
	{"", "/x", "x", true, nil, "/x", ""},
	{"/", "", "", false, nil, "/", ""},
	{"/a", "/x/y", "x", true, nil, "/a/x", "/y"},
	{"/a", "/x/", "x", true, nil, "/a/x", "/"},
	{"/a/b", "/../y", "..", true, nil, "/a", "/y"},
	{"", "/../y", "..", true, nil, "", "/y"},
	{"/a/b", "//y", "y", true, nil, "/a/b/y", ""},
	{"/a/b", "//y/", "y", true, nil, "/a/b/y", "/"},
	{"/a/b", "/./y", "y", true, nil, "/a/b/y", ""},
	{"/a/b", "/./y/", "y", true, nil, "/a/b/y", "/"},
	{"/a/b", "///./..//y/.//", "..", true, nil, "/a", "/y/"},
	{"/a/b", "///", "", true, nil, "/a/b/", ""},
	{"/a/b", "/.//", "", true, nil, "/a/b/", ""},
	{"/a/b", "/x//", "x", true, nil, "/a/b/x", "/"},
	{"/a/b", "/.", "", false, nil, "/a/b", ""},
}

// probeShifts are what wsgiref.util.shift_path_info does beyond CPython's
// tests, run on the environment as given.
var probeShifts = []shiftTest{
	{"", "", "", false, nil, "", ""},
	{"/a", "", "", false, nil, "/a", ""},
	{absent, "/x", "x", true, nil, "/x", ""},
	{absent, absent, "", false, nil, absent, absent},
	{"", "//", "", true, nil, "/", ""},
	{"", "/x/", "x", true, nil, "/x", "/"},
	{"/a", "/", "", true, nil, "/a/", ""},
	{"/a/", "", "", false, nil, "/a/", ""},
	{"/a", "/..", "..", true, nil, "", ""},
	{"/a", "/../", "..", true, nil, "", "/"},
	{"", "/..", "..", true, nil, "", ""},
	{"/a/b", "/../../y", "..", true, nil, "/a", "/../y"},
	{"/a/b/c", "/../../../../y", "..", true, nil, "/a/b", "/../../../y"},
	{"/", "/x", "x", true, nil, "//x", ""}, // normpath keeps "//"
	{"//a", "/x", "x", true, nil, "//a/x", ""},
	{"/a/", "/x", "x", true, nil, "/a/x", ""},
	{"/a/b", "/./", "", true, nil, "/a/b/", ""},
	{"/a", "/./", "", true, nil, "/a/", ""},
	{"/a", "//", "", true, nil, "/a/", ""},
	{"x", "/y", "y", true, nil, "x/y", ""},
	{"", "x", "", false, ErrPathInfo, "", "x"}, // IndexError: e unchanged
	{"", "x/y", "y", true, nil, "/y", "x"},
	{"/a", "x/", "", true, nil, "/a/", "x"},
	{"/a", "/x/./y", "x", true, nil, "/a/x", "/y"},
	{"/a", "/x/../y", "x", true, nil, "/a/x", "/../y"},
	{"/a", "/%2e%2e/y", "%2e%2e", true, nil, "/a/%2e%2e", "/y"},
	{"", "/...", "...", true, nil, "/...", ""},

	// More: posixpath.normpath on a relative or "///" SCRIPT_NAME, and a
	// missing SCRIPT_NAME with an error (still missing).
	{"a", "/..", "..", true, nil, ".", ""},
	{"a/../..", "/..", "..", true, nil, "../..", ""},
	{"///a", "/x", "x", true, nil, "/a/x", ""},
	{"//", "/", "", true, nil, "/", ""},
	{absent, "x", "", false, ErrPathInfo, absent, "x"},
}

func testShift(t *testing.T, tt shiftTest, setup bool) {
	t.Helper()
	e := pathEnv(tt.snIn, tt.piIn)
	if setup {
		SetupTestingDefaults(e)
	}
	before := e.Clone()
	in := pathEnv(tt.snIn, tt.piIn)
	name, ok, err := ShiftPathInfo(e)
	if name != tt.name || ok != tt.ok || !errors.Is(err, tt.err) {
		t.Errorf("ShiftPathInfo(%v) = %q, %v, %v, want %q, %v, %v", in, name, ok, err, tt.name, tt.ok, tt.err)
	}
	if sn := get(e, "SCRIPT_NAME"); sn != tt.snOut {
		t.Errorf("ShiftPathInfo(%v): SCRIPT_NAME = %q, want %q", in, sn, tt.snOut)
	}
	if pi := get(e, "PATH_INFO"); pi != tt.piOut {
		t.Errorf("ShiftPathInfo(%v): PATH_INFO = %q, want %q", in, pi, tt.piOut)
	}
	if err != nil && !maps.Equal(e, before) {
		t.Errorf("ShiftPathInfo(%v) = %v and changed e to %v", in, err, e)
	}
}

func TestShiftPathInfo(t *testing.T) {
	for _, tt := range simpleShifts {
		t.Run(tt.snIn+"|"+tt.piIn, func(t *testing.T) { testShift(t, tt, true) })
	}
	for _, tt := range probeShifts {
		t.Run(tt.snIn+"|"+tt.piIn, func(t *testing.T) { testShift(t, tt, false) })
	}
}

// TestShiftPathInfoRepeated shifts until PATH_INFO is used up, as a
// dispatcher does.
func TestShiftPathInfoRepeated(t *testing.T) {
	e := Environ{"SCRIPT_NAME": "/app", "PATH_INFO": "/a//./b/../c/"}
	want := []struct{ name, sn, pi string }{
		{"a", "/app/a", "/b/../c/"},
		{"b", "/app/a/b", "/../c/"},
		{"..", "/app/a", "/c/"},
		{"c", "/app/a/c", "/"},
		{"", "/app/a/c/", ""},
	}
	for _, w := range want {
		name, ok, err := ShiftPathInfo(e)
		if name != w.name || !ok || err != nil || e["SCRIPT_NAME"] != w.sn || e["PATH_INFO"] != w.pi {
			t.Fatalf("ShiftPathInfo = %q, %v, %v with SCRIPT_NAME %q, PATH_INFO %q, want %q, true, nil with %q, %q",
				name, ok, err, e["SCRIPT_NAME"], e["PATH_INFO"], w.name, w.sn, w.pi)
		}
	}
	if name, ok, err := ShiftPathInfo(e); name != "" || ok || err != nil {
		t.Errorf("ShiftPathInfo(%v) = %q, %v, %v, want \"\", false, nil", e, name, ok, err)
	}
}

func TestNormpath(t *testing.T) {
	// Results of Python's posixpath.normpath.
	tests := []struct{ in, want string }{
		{"", "."},
		{"/", "/"},
		{"//", "//"},
		{"///", "/"},
		{"//a//b/", "//a/b"},
		{"///a//b/", "/a/b"},
		{"/..", "/"},
		{"//..", "//"},
		{"/a/./b/../c", "/a/c"},
		{"a/..", "."},
		{"../a", "../a"},
		{"a/../../b", "../b"},
	}
	for _, tt := range tests {
		if got := normpath(tt.in); got != tt.want {
			t.Errorf("normpath(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// defaultTests are CPython's test_wsgiref testDefaults: the value each key
// gets in an empty environ. wsgi.version, wsgi.run_once, wsgi.multithread,
// wsgi.multiprocess, wsgi.input and wsgi.errors are Python objects with no
// CGI counterpart; wsgi.url_scheme is REQUEST_SCHEME.
var defaultTests = []struct{ key, value string }{
	{"SERVER_NAME", "127.0.0.1"},
	{"SERVER_PORT", "80"},
	{"SERVER_PROTOCOL", "HTTP/1.0"},
	{"HTTP_HOST", "127.0.0.1"},
	{"REQUEST_METHOD", "GET"},
	{"SCRIPT_NAME", ""},
	{"PATH_INFO", "/"},
	{"REQUEST_SCHEME", "http"},
}

func TestSetupTestingDefaults(t *testing.T) {
	e := Environ{}
	SetupTestingDefaults(e)
	if len(e) != len(defaultTests) {
		t.Errorf("SetupTestingDefaults(Environ{}) = %v, want %d variables", e, len(defaultTests))
	}
	for _, tt := range defaultTests {
		t.Run(tt.key, func(t *testing.T) {
			if got := get(e, tt.key); got != tt.value {
				t.Errorf("SetupTestingDefaults(Environ{}): %s = %q, want %q", tt.key, got, tt.value)
			}
			// An existing value is kept.
			e := Environ{tt.key: "alt"}
			SetupTestingDefaults(e)
			if got := e[tt.key]; got != "alt" {
				t.Errorf("SetupTestingDefaults(Environ{%s: alt}): %s = %q, want %q", tt.key, tt.key, got, "alt")
			}
		})
	}
}

func TestSetupTestingDefaultsCross(t *testing.T) {
	tests := []struct {
		in         Environ
		key, value string
	}{
		// CPython's test_wsgiref testCrossDefaults (wsgi.url_scheme is
		// REQUEST_SCHEME).
		{Environ{"SERVER_NAME": "foo.bar"}, "HTTP_HOST", "foo.bar"},
		{Environ{"HTTPS": "on"}, "REQUEST_SCHEME", "https"},
		{Environ{"HTTPS": "1"}, "REQUEST_SCHEME", "https"},
		{Environ{"HTTPS": "yes"}, "REQUEST_SCHEME", "https"},
		{Environ{"HTTPS": "foo"}, "REQUEST_SCHEME", "http"},
		{Environ{"HTTPS": "foo"}, "SERVER_PORT", "80"},
		{Environ{"HTTPS": "on"}, "SERVER_PORT", "443"},

		// wsgiref.util.setup_testing_defaults beyond those tests: SCRIPT_NAME
		// and PATH_INFO are defaulted only together.
		{Environ{"PATH_INFO": "/x"}, "SCRIPT_NAME", absent},
		{Environ{"SCRIPT_NAME": "/x"}, "PATH_INFO", absent},
		{Environ{"PATH_INFO": ""}, "SCRIPT_NAME", absent},

		// SERVER_PORT follows the scheme, and only for http and https.
		{Environ{"REQUEST_SCHEME": "ftp"}, "SERVER_PORT", absent},
		{Environ{"REQUEST_SCHEME": "https"}, "SERVER_PORT", "443"},
		{Environ{"REQUEST_SCHEME": "http", "HTTPS": "on"}, "SERVER_PORT", "80"},
		{Environ{"REQUEST_SCHEME": "", "HTTPS": "on"}, "SERVER_PORT", "443"},
		{Environ{"REQUEST_SCHEME": "", "HTTPS": "on"}, "REQUEST_SCHEME", ""},

		// Not defaulted.
		{Environ{}, "QUERY_STRING", absent},
		{Environ{}, "CONTENT_TYPE", absent},
		{Environ{}, "CONTENT_LENGTH", absent},
		{Environ{}, "HTTPS", absent},
	}
	for _, tt := range tests {
		e := tt.in.Clone()
		SetupTestingDefaults(e)
		if got := get(e, tt.key); got != tt.value {
			t.Errorf("SetupTestingDefaults(%v): %s = %q, want %q", tt.in, tt.key, got, tt.value)
		}
	}
}

var hopByHopTests = []struct {
	name string
	want bool
}{
	// CPython's test_wsgiref testHopByHop; each is also tried in Title, UPPER
	// and lower case.
	{"Connection", true},
	{"Keep-Alive", true},
	{"Proxy-Authenticate", true},
	{"Proxy-Authorization", true},
	{"TE", true},
	{"Trailers", true},
	{"Transfer-Encoding", true},
	{"Upgrade", true},
	{"Accept", false},
	{"Cache-Control", false},
	{"Date", false},
	{"Pragma", false},
	{"Trailer", false},
	{"Via", false},
	{"Warning", false},

	// wsgiref.util.is_hop_by_hop beyond those tests: no trimming, no
	// Proxy-Connection.
	{"Keep-Alive ", false},
	{" TE", false},
	{"Proxy-Connection", false},
	{"", false},
}

// title is Python's str.title for ASCII.
func title(s string) string {
	b := []byte(s)
	prev := false // previous byte is a letter
	for i, c := range b {
		letter := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		if letter && prev {
			b[i] = c | 0x20
		} else if letter {
			b[i] = c &^ 0x20
		}
		prev = letter
	}
	return string(b)
}

func TestIsHopByHop(t *testing.T) {
	for _, tt := range hopByHopTests {
		for _, name := range []string{tt.name, title(tt.name), strings.ToUpper(tt.name), strings.ToLower(tt.name)} {
			if got := IsHopByHop(name); got != tt.want {
				t.Errorf("IsHopByHop(%q) = %v, want %v", name, got, tt.want)
			}
		}
	}
	// Python's str.lower maps KELVIN SIGN to 'k', but no latin-1 byte can
	// form it: bytes above 0x7F never fold to ASCII.
	if name := "\u212aeep-Alive"; IsHopByHop(name) {
		t.Errorf("IsHopByHop(%q) = true, want false", name)
	}
}
