package cgi

import (
	"maps"
	"strings"
	"testing"
	"unicode/utf8"

	"gatewayd/environ"
)

// transcodeVectors is wsgiref.handlers' _needs_transcode: every
// listed name, every example, and the recursion of the REDIRECT_ rule.
var transcodeVectors = []struct {
	name string
	want bool
}{
	{"SCRIPT_NAME", true},
	{"PATH_INFO", true},
	{"QUERY_STRING", true},
	{"REQUEST_METHOD", true},
	{"AUTH_TYPE", true},
	{"CONTENT_TYPE", true},
	{"CONTENT_LENGTH", true},
	{"HTTPS", true},
	{"REMOTE_USER", true},
	{"REMOTE_IDENT", true},
	{"HTTP_", true},
	{"HTTP_X", true},
	{"HTTP_USER_AGENT", true},
	{"SSL_", true},
	{"SSL_CLIENT_S_DN", true},
	{"REDIRECT_QUERY_STRING", true},
	{"REDIRECT_HTTP_X", true},
	{"REDIRECT_PATH_INFO", true},
	{"REDIRECT_REDIRECT_PATH_INFO", true},
	{"REDIRECT_REDIRECT_REDIRECT_SSL_X", true},
	{"REDIRECT_REMOTE_USER", true},
	{"REDIRECT_URL", false},
	{"REDIRECT_STATUS", false},
	{"REDIRECT_", false},
	{"REDIRECT_REDIRECT_", false},
	{"REDIRECT_REDIRECT_URL", false},
	{"HTTPX", false},
	{"HTTP", false},
	{"SSL", false},
	{"REQUEST_URI", false},
	{"PATH_TRANSLATED", false},
	{"SERVER_NAME", false},
	{"SERVER_PORT", false},
	{"SERVER_PROTOCOL", false},
	{"SERVER_SOFTWARE", false},
	{"REMOTE_ADDR", false},
	{"REMOTE_HOST", false},
	{"GATEWAY_INTERFACE", false},
	{"DOCUMENT_ROOT", false},
	{"SCRIPT_FILENAME", false},
	{"path_info", false}, // case-sensitive
	{"http_x", false},
	{"Redirect_PATH_INFO", false},
	{"", false},
}

func TestNeedsTranscode(t *testing.T) {
	for _, tt := range transcodeVectors {
		t.Run(tt.name, func(t *testing.T) {
			if got := needsTranscode(tt.name); got != tt.want {
				t.Errorf("needsTranscode(%q) = %v, want %v", tt.name, got, tt.want)
			}
		})
	}
}

// Values as Go gives them on Windows (UTF-8 of the UTF-16 environment).
const (
	eAcute    = "\u00e9"           // é, a latin-1 character
	cafeUTF8  = "/caf\u00c3\u00a9" // what Apache puts for the bytes of "/café" in UTF-8
	euro      = "\u20ac"           // €, above U+00FF
	surrogate = "\xed\xa0\x80"     // a lone U+D800, in WTF-8
)

// TestReadEnvironPOSIX: wsgiref's POSIX rule is identity on bytes; the
// cases give the bytes of the latin-1 strings wsgiref's read_environ returns.
func TestReadEnvironPOSIX(t *testing.T) {
	tests := []struct {
		name string
		env  []string
		want environ.Environ
	}{
		{"probe PATH_INFO", []string{"PATH_INFO=/caf\xc3\xa9/\xff"}, environ.Environ{"PATH_INFO": "/caf\xc3\xa9/\xff"}},
		{"probe HTTP_X", []string{"HTTP_X=\xe9"}, environ.Environ{"HTTP_X": "\xe9"}},
		{"probe QUERY_STRING", []string{"QUERY_STRING=a=\xc3\xa9"}, environ.Environ{"QUERY_STRING": "a=\xc3\xa9"}},
		{"probe SERVER_NAME (not transcoded)", []string{"SERVER_NAME=caf\xc3\xa9"}, environ.Environ{"SERVER_NAME": "caf\xc3\xa9"}},
		{"probe REQUEST_URI (not transcoded)", []string{"REQUEST_URI=/caf%C3%A9"}, environ.Environ{"REQUEST_URI": "/caf%C3%A9"}},
		{"invalid UTF-8 kept", []string{"SERVER_NAME=caf\xe9", "PATH_INFO=\xff\xfe"}, environ.Environ{"SERVER_NAME": "caf\xe9", "PATH_INFO": "\xff\xfe"}},
		{"Apache does not matter", []string{"SERVER_SOFTWARE=Apache/2.4", "PATH_INFO=" + cafeUTF8}, environ.Environ{"SERVER_SOFTWARE": "Apache/2.4", "PATH_INFO": cafeUTF8}},
		{"names keep their case", []string{"path_info=/x", "PATH_INFO=/y"}, environ.Environ{"path_info": "/x", "PATH_INFO": "/y"}},
		{"first of duplicates wins", []string{"A=1", "A=2"}, environ.Environ{"A": "1"}},
		{"value with =", []string{"QUERY_STRING=a=b=c"}, environ.Environ{"QUERY_STRING": "a=b=c"}},
		{"empty value", []string{"CONTENT_TYPE="}, environ.Environ{"CONTENT_TYPE": ""}},
		{"entry without =", []string{"JUNK", "A=1"}, environ.Environ{"A": "1"}},
		{"drive variable", []string{`=C:=C:\dir`}, environ.Environ{"=C:": `C:\dir`}},
		{"empty entry", []string{"", "="}, environ.Environ{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ReadEnviron(POSIX, tt.env); !maps.Equal(got, tt.want) {
				t.Errorf("ReadEnviron(POSIX, %q) = %q, want %q", tt.env, got, tt.want)
			}
		})
	}
}

// TestReadEnvironWindows: each of wsgiref's Windows rules, chosen by
// SERVER_SOFTWARE, on a transcoded variable (PATH_INFO) and one that is not
// (SERVER_NAME).
func TestReadEnvironWindows(t *testing.T) {
	const (
		iisRule     = "microsoft-iis"
		apacheRule  = "apache"
		simpleRule  = "simplehttp python 3"
		defaultRule = "default"
	)
	software := []struct {
		value, rule string
	}{
		{"Microsoft-IIS/10.0", iisRule},
		{"microsoft-iis/7.5", iisRule},
		{"MICROSOFT-IIS/8.5", iisRule},
		{"Apache/2.4.62 (Win64)", apacheRule},
		{"APACHE/2.2", apacheRule},
		{"apache/", apacheRule},
		{"SimpleHTTP/0.6 Python/3.12.1", simpleRule},
		{"simplehttp/0.6 python/3", simpleRule},
		{"SimpleHTTP/0.6 Python/2.7.18", defaultRule},
		{"Apache", defaultRule}, // ServerTokens Prod: no "apache/"
		{"Microsoft-IIS", defaultRule},
		{"nginx/1.26.2", defaultRule},
		{"", defaultRule},
	}
	values := []struct {
		name, in                                 string
		iis, apache, simple, dflt, notTranscoded string
	}{
		{"ASCII", "/a b", "/a b", "/a b", "/a b", "/a b", "/a b"},
		{"latin-1 character", "/caf" + eAcute, "/caf\xc3\xa9", "/caf\xe9", "/caf\xc3\xa9", "/caf\xc3\xa9", "/caf\xc3\xa9"},
		{"UTF-8 bytes as Apache writes them", cafeUTF8, "/caf\xc3\x83\xc2\xa9", "/caf\xc3\xa9", "/caf\xc3\x83\xc2\xa9", "/caf\xc3\x83\xc2\xa9", "/caf\xc3\x83\xc2\xa9"},
		{"above U+00FF", "/" + euro + eAcute, "/\xe2\x82\xac\xc3\xa9", "/\xe2\x82\xac\xc3\xa9", "/\xe2\x82\xac\xc3\xa9", "/\xe2\x82\xac\xc3\xa9", "/\xe2\x82\xac\xc3\xa9"},
		{"lone surrogate", "/x" + surrogate + "y", "/x" + surrogate + "y", "/x" + surrogate + "y", "/x" + surrogate + "y", "/x?y", "/x" + surrogate + "y"},
		{"two lone surrogates", surrogate + surrogate, surrogate + surrogate, surrogate + surrogate, surrogate + surrogate, "??", surrogate + surrogate},
		{"latin-1 control", "\u0085\u00ff", "\xc2\x85\xc3\xbf", "\x85\xff", "\xc2\x85\xc3\xbf", "\xc2\x85\xc3\xbf", "\xc2\x85\xc3\xbf"},
	}
	for _, sw := range software {
		for _, v := range values {
			t.Run(sw.value+"/"+v.name, func(t *testing.T) {
				got := ReadEnviron(Windows, []string{"SERVER_SOFTWARE=" + sw.value, "PATH_INFO=" + v.in, "SERVER_NAME=" + v.in})
				want := map[string]string{iisRule: v.iis, apacheRule: v.apache, simpleRule: v.simple, defaultRule: v.dflt}[sw.rule]
				if got["PATH_INFO"] != want {
					t.Errorf("%s rule: PATH_INFO %q = %q, want %q", sw.rule, v.in, got["PATH_INFO"], want)
				}
				if got["SERVER_NAME"] != v.notTranscoded {
					t.Errorf("%s rule: SERVER_NAME %q = %q, want %q", sw.rule, v.in, got["SERVER_NAME"], v.notTranscoded)
				}
				if got["SERVER_SOFTWARE"] != sw.value {
					t.Errorf("SERVER_SOFTWARE = %q, want %q", got["SERVER_SOFTWARE"], sw.value)
				}
			})
		}
	}
}

// TestReadEnvironWindowsNames: under Apache's rule, where transcoding is
// visible, exactly the variables of _needs_transcode change, and names are
// upper-cased first as Python's os.environ does on Windows.
func TestReadEnvironWindowsNames(t *testing.T) {
	for _, tt := range transcodeVectors {
		if tt.name == "" || tt.name == "SERVER_SOFTWARE" || strings.ToUpper(tt.name) != tt.name {
			continue
		}
		t.Run(tt.name, func(t *testing.T) {
			got := ReadEnviron(Windows, []string{"SERVER_SOFTWARE=Apache/2.4", tt.name + "=" + eAcute})
			want := "\xc3\xa9"
			if tt.want {
				want = "\xe9"
			}
			if got[tt.name] != want {
				t.Errorf("%s=é under Apache on Windows = %q, want %q", tt.name, got[tt.name], want)
			}
		})
	}
	t.Run("lower-case names are upper-cased", func(t *testing.T) {
		got := ReadEnviron(Windows, []string{"server_software=Apache/2.4", "path_info=" + eAcute, "Redirect_Url=" + eAcute, "SystemRoot=C:\\Windows"})
		want := environ.Environ{"SERVER_SOFTWARE": "Apache/2.4", "PATH_INFO": "\xe9", "REDIRECT_URL": "\xc3\xa9", "SYSTEMROOT": `C:\Windows`}
		if !maps.Equal(got, want) {
			t.Errorf("ReadEnviron = %q, want %q", got, want)
		}
	})
	t.Run("of case variants the last wins", func(t *testing.T) {
		got := ReadEnviron(Windows, []string{"PATH=a", "Path=b", "PATH=c"})
		if want := (environ.Environ{"PATH": "b"}); !maps.Equal(got, want) {
			t.Errorf("ReadEnviron = %q, want %q", got, want)
		}
	})
}

func TestPlatformString(t *testing.T) {
	if POSIX.String() != "posix" || Windows.String() != "windows" {
		t.Errorf("Platform strings = %q, %q", POSIX, Windows)
	}
}

func FuzzReadEnviron(f *testing.F) {
	for _, tt := range transcodeVectors {
		f.Add(true, "Apache/2.4", tt.name, "/caf"+eAcute)
	}
	for _, v := range []string{"/caf\xc3\xa9/\xff", "\xe9", "a=\xc3\xa9", cafeUTF8, euro, surrogate, "x" + surrogate + "\xed\xa0"} {
		for _, sw := range []string{"Microsoft-IIS/10.0", "Apache/2.4", "SimpleHTTP/0.6 Python/3.12", ""} {
			f.Add(true, sw, "PATH_INFO", v)
			f.Add(false, sw, "PATH_INFO", v)
		}
	}
	f.Fuzz(func(t *testing.T, windows bool, software, name, value string) {
		if name == "" || strings.Contains(name, "=") {
			return
		}
		p := POSIX
		if windows {
			p = Windows
		}
		env := []string{"SERVER_SOFTWARE=" + software, name + "=" + value}
		got := ReadEnviron(p, env)
		key := name
		if windows {
			key = strings.ToUpper(name)
		}
		if strings.ToUpper(name) == "SERVER_SOFTWARE" {
			return // the entries collide
		}
		v, ok := got[key]
		if !ok || len(got) != 2 {
			t.Fatalf("ReadEnviron(%v, %q) = %q: entry lost", p, env, got)
		}
		if !windows || !needsTranscode(key) {
			if v != value {
				t.Fatalf("ReadEnviron(%v, %q)[%q] = %q, want it unchanged", p, env, key, v)
			}
			return
		}
		switch windowsRule(software) {
		case utf8Rule:
			if v != value {
				t.Fatalf("UTF-8 rule: %q → %q, want it unchanged", value, v)
			}
		case latin1Rule:
			if v == value {
				return // ASCII, or kept whole for a character above U+00FF
			}
			var back []byte
			for i := 0; i < len(v); i++ {
				back = utf8.AppendRune(back, rune(v[i]))
			}
			if string(back) != value {
				t.Fatalf("Apache rule: %q → %q, which is not its characters as bytes", value, v)
			}
		case replaceRule:
			for i := range len(v) {
				if isSurrogate(v[i:]) {
					t.Fatalf("default rule: %q → %q keeps a surrogate", value, v)
				}
			}
			added := strings.Count(v, "?") - strings.Count(value, "?")
			if len(value)-len(v) != 2*added {
				t.Fatalf("default rule: %q → %q: %d bytes lost for %d '?'", value, v, len(value)-len(v), added)
			}
		}
	})
}
