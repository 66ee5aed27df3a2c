package iis

import (
	"maps"
	"strings"
	"testing"

	"gatewayd/environ"
)

const missing = "\x00missing" // a table value meaning "no such variable"

// env builds an Environ from name, value pairs, leaving out the missing.
func env(kv ...string) environ.Environ {
	e := environ.Environ{}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != missing {
			e[kv[i]] = kv[i+1]
		}
	}
	return e
}

func get(e environ.Environ, k string) string {
	if v, ok := e[k]; ok {
		return v
	}
	return missing
}

// pathInfoVectors are the PATH_INFO fix-up of wsgiref.handlers.IISCGIHandler,
// case by case.
var pathInfoVectors = []struct {
	script, in, want string
}{
	{"/app", "/app/x", "/x"},
	{"/app", "/app", ""},
	{"/app", "/app/", "/"},
	{"/app", "/apple", "/apple"},                     // segment boundary respected
	{"/app", "/x", "/x"},                             // no prefix
	{"/app", "/APP/x", "/APP/x"},                     // case-sensitive
	{"/app", "/app/app/x", "/app/x"},                 // one strip only
	{"/a/b", "/a/b/c/d", "/c/d"},                     // several segments
	{"", "/x", "/x"},                                 // strip of nothing
	{"", "", ""},                                     // empty both
	{"/app", "", ""},                                 // "/" does not start with "/app/"
	{"/", "/x", "/x"},                                // "/x/" does not start with "//"
	{"/", "//x", "/x"},                               // "//x/" does
	{"/app/", "/app/x", "/app/x"},                    // "/app/x/" does not start with "/app//"
	{"/app/", "/app//x", "/x"},                       // "/app//x/" does
	{"/app", missing, missing},                       // "/" does not start with "/app/"
	{missing, "/app/x", "/app/x"},                    // strip of nothing
	{missing, missing, ""},                           // the strip of 0 creates the key
	{"/caf\xc3\xa9", "/caf\xc3\xa9/\xe9", "/\xe9"},   // bytes, not characters
	{"/caf\xe9", "/caf\xc3\xa9/x", "/caf\xc3\xa9/x"}, // code page vs UTF-8 differ
}

func TestFixPathInfo(t *testing.T) {
	for _, tt := range pathInfoVectors {
		t.Run(tt.script+"|"+tt.in, func(t *testing.T) {
			e := env("SCRIPT_NAME", tt.script, "PATH_INFO", tt.in)
			Fix(e)
			if got := get(e, "PATH_INFO"); got != tt.want {
				t.Errorf("Fix(SCRIPT_NAME %q, PATH_INFO %q): PATH_INFO = %q, want %q", tt.script, tt.in, got, tt.want)
			}
			if got := get(e, "SCRIPT_NAME"); got != tt.script {
				t.Errorf("Fix changed SCRIPT_NAME %q to %q", tt.script, got)
			}
		})
	}
}

// translatedVectors: the PATH_TRANSLATED correction and the SCRIPT_FILENAME
// it records, for each shape of PATH_TRANSLATED the package doc names.
var translatedVectors = []struct {
	name                                 string
	script, pathInfo, translated, sfIn   string
	wantPathInfo, wantTranslated, wantSF string
}{
	{
		name:   "file plus path info",
		script: "/cgi-bin/app.exe", pathInfo: "/cgi-bin/app.exe/x/y", translated: `C:\inetpub\wwwroot\cgi-bin\app.exe\x\y`, sfIn: missing,
		wantPathInfo: "/x/y", wantTranslated: `C:\inetpub\wwwroot\x\y`, wantSF: `C:\inetpub\wwwroot\cgi-bin\app.exe`,
	},
	{
		name:   "file alone",
		script: "/cgi-bin/app.exe", pathInfo: "/cgi-bin/app.exe/x", translated: `C:\inetpub\wwwroot\cgi-bin\app.exe`, sfIn: missing,
		wantPathInfo: "/x", wantTranslated: `C:\inetpub\wwwroot\x`, wantSF: `C:\inetpub\wwwroot\cgi-bin\app.exe`,
	},
	{
		name:   "no path info",
		script: "/app.exe", pathInfo: "/app.exe", translated: `C:\site\app.exe`, sfIn: missing,
		wantPathInfo: "", wantTranslated: missing, wantSF: `C:\site\app.exe`,
	},
	{
		name:   "path info is a slash",
		script: "/app.exe", pathInfo: "/app.exe/", translated: `C:\site\app.exe\`, sfIn: missing,
		wantPathInfo: "/", wantTranslated: `C:\site\`, wantSF: `C:\site\app.exe`,
	},
	{
		name:   "case differs in the file path",
		script: "/Cgi-Bin/App.exe", pathInfo: "/Cgi-Bin/App.exe/X", translated: `C:\SITE\CGI-BIN\APP.EXE\X`, sfIn: missing,
		wantPathInfo: "/X", wantTranslated: `C:\SITE\X`, wantSF: `C:\SITE\CGI-BIN\APP.EXE`,
	},
	{
		name:   "virtual directory elsewhere",
		script: "/tools/app.exe", pathInfo: "/tools/app.exe/x", translated: `D:\apps\app.exe\x`, sfIn: missing,
		wantPathInfo: "/x", wantTranslated: missing, wantSF: `D:\apps\app.exe`,
	},
	{
		name:   "virtual directory, file alone",
		script: "/tools/app.exe", pathInfo: "/tools/app.exe/x", translated: `D:\apps\app.exe`, sfIn: missing,
		wantPathInfo: "/x", wantTranslated: missing, wantSF: missing,
	},
	{
		name:   "forward slashes (a simulated IIS on POSIX)",
		script: "/app.cgi", pathInfo: "/app.cgi/x", translated: "/srv/www/app.cgi/x", sfIn: missing,
		wantPathInfo: "/x", wantTranslated: "/srv/www/x", wantSF: "/srv/www/app.cgi",
	},
	{
		name:   "SCRIPT_FILENAME already set is kept",
		script: "/app.exe", pathInfo: "/app.exe/x", translated: `C:\site\app.exe\x`, sfIn: `C:\real\app.exe`,
		wantPathInfo: "/x", wantTranslated: `C:\site\x`, wantSF: `C:\real\app.exe`,
	},
	{
		name:   "no PATH_TRANSLATED",
		script: "/app.exe", pathInfo: "/app.exe/x", translated: missing, sfIn: missing,
		wantPathInfo: "/x", wantTranslated: missing, wantSF: missing,
	},
	{
		name:   "allowPathInfo=true: nothing to fix",
		script: "/app.exe", pathInfo: "/x", translated: `C:\site\x`, sfIn: missing,
		wantPathInfo: "/x", wantTranslated: `C:\site\x`, wantSF: missing,
	},
	{
		name:   "non-ASCII bytes",
		script: "/caf\xc3\xa9.exe", pathInfo: "/caf\xc3\xa9.exe/\xe9", translated: "C:\\site\\caf\xc3\xa9.exe\\\xe9", sfIn: missing,
		wantPathInfo: "/\xe9", wantTranslated: "C:\\site\\\xe9", wantSF: "C:\\site\\caf\xc3\xa9.exe",
	},
}

func TestFixPathTranslated(t *testing.T) {
	for _, tt := range translatedVectors {
		t.Run(tt.name, func(t *testing.T) {
			e := env("SCRIPT_NAME", tt.script, "PATH_INFO", tt.pathInfo,
				"PATH_TRANSLATED", tt.translated, "SCRIPT_FILENAME", tt.sfIn)
			Fix(e)
			for _, c := range []struct{ k, want string }{
				{"PATH_INFO", tt.wantPathInfo},
				{"PATH_TRANSLATED", tt.wantTranslated},
				{"SCRIPT_FILENAME", tt.wantSF},
				{"SCRIPT_NAME", tt.script},
			} {
				if got := get(e, c.k); got != c.want {
					t.Errorf("Fix: %s = %q, want %q", c.k, got, c.want)
				}
			}
		})
	}
}

// TestFixLeavesTheRest: an IIS environment (the variables IIS sends) keeps
// every variable Fix does not own, HTTPS=off included, and its scheme stays
// http.
func TestFixLeavesTheRest(t *testing.T) {
	e := iisEnviron()
	before := e.Clone()
	Fix(e)
	for _, k := range []string{"PATH_INFO", "PATH_TRANSLATED", "SCRIPT_FILENAME"} {
		delete(before, k)
	}
	rest := e.Clone()
	for _, k := range []string{"PATH_INFO", "PATH_TRANSLATED", "SCRIPT_FILENAME"} {
		delete(rest, k)
	}
	if !maps.Equal(rest, before) {
		t.Errorf("Fix changed other variables:\n got %v\nwant %v", rest, before)
	}
	if e["HTTPS"] != "off" {
		t.Errorf("HTTPS = %q, want it kept as \"off\"", e["HTTPS"])
	}
	if s := environ.Scheme(e); s != "http" {
		t.Errorf("environ.Scheme(IIS with HTTPS=off) = %q, want http", s)
	}
	if s := environ.GuessScheme(e); s != "http" {
		t.Errorf("environ.GuessScheme(IIS with HTTPS=off) = %q, want http", s)
	}
	if e["PATH_INFO"] != "/extra/path" || e["PATH_TRANSLATED"] != `C:\inetpub\wwwroot\extra\path` {
		t.Errorf("PATH_INFO, PATH_TRANSLATED = %q, %q", e["PATH_INFO"], e["PATH_TRANSLATED"])
	}
}

// iisEnviron is what IIS 10 gives a CGI program for
// GET /cgi-bin/app.exe/extra/path?q=1 with allowPathInfo="false" (the
// server variables Microsoft documents for IIS).
func iisEnviron() environ.Environ {
	return environ.Environ{
		"SERVER_SOFTWARE":    "Microsoft-IIS/10.0",
		"GATEWAY_INTERFACE":  "CGI/1.1",
		"INSTANCE_ID":        "1",
		"INSTANCE_META_PATH": "/LM/W3SVC/1",
		"APPL_MD_PATH":       "/LM/W3SVC/1/ROOT",
		"APPL_PHYSICAL_PATH": `C:\inetpub\wwwroot\`,
		"APP_POOL_ID":        "DefaultAppPool",
		"HTTPS":              "off",
		"HTTPS_KEYSIZE":      "",
		"SERVER_PORT_SECURE": "0",
		"LOCAL_ADDR":         "127.0.0.1",
		"REMOTE_ADDR":        "127.0.0.1",
		"REMOTE_PORT":        "50123",
		"REMOTE_HOST":        "127.0.0.1",
		"AUTH_TYPE":          "",
		"AUTH_USER":          "",
		"LOGON_USER":         "",
		"REMOTE_USER":        "",
		"URL":                "/cgi-bin/app.exe/extra/path",
		"SCRIPT_NAME":        "/cgi-bin/app.exe",
		"PATH_INFO":          "/cgi-bin/app.exe/extra/path",
		"PATH_TRANSLATED":    `C:\inetpub\wwwroot\cgi-bin\app.exe\extra\path`,
		"QUERY_STRING":       "q=1",
		"REQUEST_METHOD":     "GET",
		"CONTENT_LENGTH":     "0",
		"SERVER_NAME":        "localhost",
		"SERVER_PORT":        "80",
		"SERVER_PROTOCOL":    "HTTP/1.1",
		"HTTP_HOST":          "localhost",
		"ALL_HTTP":           "HTTP_HOST:localhost\n",
		"ALL_RAW":            "Host: localhost\r\n",
	}
}

func TestDetect(t *testing.T) {
	tests := []struct {
		software string
		want     bool
	}{
		{"Microsoft-IIS/10.0", true},
		{"Microsoft-IIS/7.5", true},
		{"microsoft-iis/8.0", true},
		{"MICROSOFT-IIS/6.0", true},
		{"Microsoft-IIS", false}, // wsgiref wants the slash
		{"Microsoft-HTTPAPI/2.0", false},
		{"Apache/2.4.62 (Win64)", false},
		{" Microsoft-IIS/10.0", false},
		{"", false},
		{missing, false},
	}
	for _, tt := range tests {
		t.Run(tt.software, func(t *testing.T) {
			if got := Detect(env("SERVER_SOFTWARE", tt.software)); got != tt.want {
				t.Errorf("Detect(SERVER_SOFTWARE %q) = %v, want %v", tt.software, got, tt.want)
			}
		})
	}
}

func TestCutPathSuffix(t *testing.T) {
	tests := []struct {
		file, p, prefix string
		ok              bool
	}{
		{`C:\a\b`, "/b", `C:\a`, true},
		{`C:\a\b`, "/a/b", `C:`, true},
		{`C:/a/b`, "/A/B", `C:`, true},
		{`C:\a\b`, "", `C:\a\b`, true},
		{`C:\a\b`, "/c", "", false},
		{`b`, "/b", "", false},
		{`C:\a\b`, `\b`, `C:\a`, true},
		{"C:\\\xc3\xa9", "/\xc3\x89", "", false}, // no case folding beyond ASCII
	}
	for _, tt := range tests {
		t.Run(tt.file+"|"+tt.p, func(t *testing.T) {
			prefix, ok := cutPathSuffix(tt.file, tt.p)
			if prefix != tt.prefix || ok != tt.ok {
				t.Errorf("cutPathSuffix(%q, %q) = %q, %v, want %q, %v", tt.file, tt.p, prefix, ok, tt.prefix, tt.ok)
			}
		})
	}
}

func FuzzFix(f *testing.F) {
	for _, tt := range pathInfoVectors {
		f.Add(tt.script, tt.in, "", "")
	}
	for _, tt := range translatedVectors {
		f.Add(tt.script, tt.pathInfo, tt.translated, tt.sfIn)
	}
	f.Fuzz(func(t *testing.T, script, path, translated, sf string) {
		in := env("SCRIPT_NAME", script, "PATH_INFO", path, "PATH_TRANSLATED", translated, "SCRIPT_FILENAME", sf, "HTTPS", "off")
		e := in.Clone()
		Fix(e)
		if get(e, "SCRIPT_NAME") != get(in, "SCRIPT_NAME") || e["HTTPS"] != "off" {
			t.Fatalf("Fix(%v) changed SCRIPT_NAME or HTTPS: %v", in, e)
		}
		pi, ok := e["PATH_INFO"]
		if !ok {
			if _, had := in["PATH_INFO"]; had || in["SCRIPT_NAME"] == "" {
				t.Fatalf("Fix(%v) lost PATH_INFO", in)
			}
			if !maps.Equal(e, in) {
				t.Fatalf("Fix(%v) = %v, want no change", in, e)
			}
			return
		}
		if !strings.HasSuffix(in["PATH_INFO"], pi) {
			t.Fatalf("Fix(%v): PATH_INFO %q is not a tail of the old one", in, pi)
		}
		stripped := len(in["PATH_INFO"]) - len(pi)
		if stripped != 0 && (stripped != len(in["SCRIPT_NAME"]) || !strings.HasPrefix(in["PATH_INFO"]+"/", in["SCRIPT_NAME"]+"/")) {
			t.Fatalf("Fix(%v): stripped %d bytes off PATH_INFO", in, stripped)
		}
		if stripped == 0 {
			if get(e, "PATH_TRANSLATED") != get(in, "PATH_TRANSLATED") || get(e, "SCRIPT_FILENAME") != get(in, "SCRIPT_FILENAME") {
				t.Fatalf("Fix(%v) = %v: PATH_TRANSLATED or SCRIPT_FILENAME changed with PATH_INFO unchanged", in, e)
			}
			return
		}
		if pt, ok := e["PATH_TRANSLATED"]; ok {
			if pi == "" {
				t.Fatalf("Fix(%v): PATH_TRANSLATED %q with an empty PATH_INFO", in, pt)
			}
			if _, ok := cutPathSuffix(pt, pi); !ok {
				t.Fatalf("Fix(%v): PATH_TRANSLATED %q does not end with PATH_INFO %q", in, pt, pi)
			}
		}
		if _, had := in["SCRIPT_FILENAME"]; had && e["SCRIPT_FILENAME"] != in["SCRIPT_FILENAME"] {
			t.Fatalf("Fix(%v) replaced SCRIPT_FILENAME with %q", in, e["SCRIPT_FILENAME"])
		}
	})
}
