package environ

import (
	"errors"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func FuzzShiftPathInfo(f *testing.F) {
	for _, tt := range append(simpleShifts, probeShifts...) {
		f.Add(tt.snIn, tt.piIn)
	}
	f.Fuzz(func(t *testing.T, sn, pi string) {
		e := Environ{"SCRIPT_NAME": sn, "PATH_INFO": pi}
		// Each shift that does not fail removes a segment and a '/' from
		// PATH_INFO, so it is used up within len(pi) steps, plus one that
		// reports it empty or fails.
		for steps := 0; ; steps++ {
			if steps > len(pi)+2 {
				t.Fatalf("ShiftPathInfo(%q, %q): PATH_INFO %q left after %d shifts", sn, pi, e["PATH_INFO"], steps)
			}
			before := e.Clone()
			name, ok, err := ShiftPathInfo(e)
			if err != nil {
				if !errors.Is(err, ErrPathInfo) || !maps.Equal(e, before) || strings.Contains(before["PATH_INFO"], "/") {
					t.Fatalf("ShiftPathInfo(%v) = %v, %v; e = %v", before, err, ok, e)
				}
				return
			}
			if !ok && name != "" {
				t.Fatalf("ShiftPathInfo(%v) = %q, false", before, name)
			}
			if len(e["PATH_INFO"]) >= len(before["PATH_INFO"]) && before["PATH_INFO"] != "" {
				t.Fatalf("ShiftPathInfo(%v): PATH_INFO %q did not shrink", before, e["PATH_INFO"])
			}
			// normpath resolves every ".." in an absolute path. An empty
			// PATH_INFO shifts nothing, and SCRIPT_NAME is left as it was.
			if s := before["SCRIPT_NAME"]; before["PATH_INFO"] != "" && (s == "" || s[0] == '/') {
				if sn := e["SCRIPT_NAME"]; sn == ".." || strings.HasPrefix(sn, "../") ||
					strings.Contains(sn, "/../") || strings.HasSuffix(sn, "/..") {
					t.Fatalf("ShiftPathInfo(%v): SCRIPT_NAME %q climbs", before, sn)
				}
			}
			if e["PATH_INFO"] == "" {
				return
			}
		}
	})
}

var varName = regexp.MustCompile(`^HTTP_[A-Z0-9_]+$`)

// checkVar reports a variable that a header field must never produce.
func checkVar(t *testing.T, name, value string) {
	t.Helper()
	if !varName.MatchString(name) || forbidden(name) {
		t.Errorf("variable name %q", name)
	}
	if strings.ContainsAny(value, "\x00\r\n") {
		t.Errorf("%s = %q holds NUL, CR or LF", name, value)
	}
}

func FuzzHeaderVar(f *testing.F) {
	for _, tt := range headerVarTests {
		f.Add(tt.name)
	}
	f.Fuzz(func(t *testing.T, name string) {
		v, ok := HeaderVar(name)
		if !ok {
			if v != "" {
				t.Errorf("HeaderVar(%q) = %q, false", name, v)
			}
			return
		}
		checkVar(t, v, "")
		if len(v) != len("HTTP_")+len(name) || strings.ContainsAny(name, "_.") {
			t.Errorf("HeaderVar(%q) = %q, true", name, v)
		}
	})
}

func FuzzAddHeaders(f *testing.F) {
	for _, tt := range addHeadersTests {
		var kv []string
		for _, k := range slices.Sorted(maps.Keys(tt.h)) {
			for _, v := range tt.h[k] {
				kv = append(kv, k, v)
			}
		}
		kv = append(kv, "", "", "", "")
		f.Add(kv[0], kv[1], kv[2], kv[3], tt.passAuth)
	}
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string, passAuth bool) {
		h := http.Header{}
		h[k1] = append(h[k1], v1)
		h[k2] = append(h[k2], v2)
		h.Add(k1, v2)
		e := Environ{}
		e.AddHeaders(h, passAuth)
		for name, value := range e {
			checkVar(t, name, value)
			if !passAuth && (name == "HTTP_AUTHORIZATION" || name == "HTTP_PROXY_AUTHORIZATION") {
				t.Errorf("AddHeaders(%v, false) set %s", h, name)
			}
		}
	})
}

func FuzzAdd(f *testing.F) {
	for _, tt := range addTests {
		f.Add(tt.params[0].name, tt.params[0].value, tt.params[1].name, tt.params[1].value)
	}
	f.Fuzz(func(t *testing.T, n1, v1, n2, v2 string) {
		e := Environ{}
		e.Add(n1, v1)
		e.Add(n2, v2)
		for name := range e {
			if forbidden(name) {
				t.Errorf("Add(%q, %q), Add(%q, %q) set %s", n1, v1, n2, v2, name)
			}
		}
	})
}

func FuzzRequestURI(f *testing.F) {
	for _, tt := range reqURITests {
		e := tt.env
		f.Add("127.0.0.1", get(e, "SCRIPT_NAME"), get(e, "PATH_INFO"), e["QUERY_STRING"], tt.query)
	}
	for _, tt := range appURITests {
		f.Add(tt.env["HTTP_HOST"], get(tt.env, "SCRIPT_NAME"), absent, "", true)
	}
	f.Fuzz(func(t *testing.T, host, sn, pi, qs string, query bool) {
		e := pathEnv(sn, pi)
		e["HTTP_HOST"] = host
		e["SERVER_NAME"] = "h"
		e["SERVER_PORT"] = "80"
		e["QUERY_STRING"] = qs
		uri, err := RequestURI(e, query)
		if err != nil {
			t.Fatalf("RequestURI(%v, %v) = %v", e, query, err)
		}
		if host == "" {
			host = "h"
		}
		rest, ok := strings.CutPrefix(uri, "http://"+host)
		if ok && query && qs != "" {
			rest, ok = strings.CutSuffix(rest, "?"+qs)
		}
		if !ok {
			t.Fatalf("RequestURI(%v, %v) = %q, want http://%s<path>[?query]", e, query, uri, host)
		}
		// Only the percent-encoded SCRIPT_NAME and PATH_INFO are left.
		for i := 0; i < len(rest); i++ {
			switch c := rest[i]; {
			case c == '%':
				if i+2 >= len(rest) || !isUpperHex(rest[i+1]) || !isUpperHex(rest[i+2]) {
					t.Fatalf("RequestURI(%v, %v) = %q: bad escape in %q", e, query, uri, rest)
				}
				i += 2
			case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', strings.IndexByte("_.-~/;=,", c) >= 0:
			default:
				t.Fatalf("RequestURI(%v, %v) = %q: path holds %q", e, query, uri, c)
			}
		}
	})
}

func isUpperHex(c byte) bool { return '0' <= c && c <= '9' || 'A' <= c && c <= 'F' }
