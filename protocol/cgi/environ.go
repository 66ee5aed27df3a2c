package cgi

import (
	"strings"
	"unicode/utf8"

	"gatewayd/environ"
)

// Platform selects the rules of ReadEnviron: wsgiref's read_environ has one
// set for Windows and one for every other system.
type Platform int

const (
	// POSIX is every system but Windows: the environment is bytes, and they
	// pass through.
	POSIX Platform = iota
	// Windows: the environment is UTF-16, given by Go as WTF-8, and
	// transcoded by the rules SERVER_SOFTWARE selects.
	Windows
)

func (p Platform) String() string {
	if p == Windows {
		return "windows"
	}
	return "posix"
}

// ReadEnviron returns the CGI environment in env, a process environment as
// os.Environ gives it ("NAME=value" entries), with the bytes the program
// must see: wsgiref's read_environ on platform p, mapped from Python's
// strings to gatewayd's bytes as the package doc explains. It is a pure
// function of its arguments; Environ applies it to this process.
//
// Of entries with the same name the first wins, as in Python's os.environ.
// On Windows names are upper-cased, as Python's os.environ upper-cases them
// there, and of names that differ only in case the last wins.
func ReadEnviron(p Platform, env []string) environ.Environ {
	type entry struct{ k, v string }
	var entries []entry
	seen := make(map[string]bool, len(env))
	for _, kv := range env {
		i := strings.IndexByte(kv, '=')
		if i == 0 { // Windows' per-drive "=C:=C:\dir": the name is "=C:"
			i = strings.IndexByte(kv[1:], '=') + 1
		}
		if i <= 0 {
			continue
		}
		k, v := kv[:i], kv[i+1:]
		if !seen[k] {
			seen[k] = true
			entries = append(entries, entry{k, v})
		}
	}
	out := make(environ.Environ, len(entries))
	if p != Windows {
		for _, e := range entries {
			out[e.k] = e.v // raw bytes: latin-1 of surrogateescape is identity
		}
		return out
	}
	for _, e := range entries {
		out[strings.ToUpper(e.k)] = e.v
	}
	rule := windowsRule(out["SERVER_SOFTWARE"])
	for k, v := range out {
		if needsTranscode(k) {
			out[k] = rule.apply(v)
		}
	}
	return out
}

// rule is one of wsgiref's Windows transcodings.
type rule int

const (
	utf8Rule    rule = iota // v.encode('utf-8').decode('iso-8859-1')
	latin1Rule              // v unchanged, as Apache wrote it
	replaceRule             // v.encode(fs encoding, 'replace').decode('iso-8859-1')
)

func (r rule) apply(v string) string {
	switch r {
	case latin1Rule:
		return latin1Bytes(v)
	case replaceRule:
		return utf8Replace(v)
	}
	return utf8Bytes(v)
}

// windowsRule returns wsgiref's Windows rule for the server software
// names, lower-cased first as Python lower-cases them (no non-ASCII
// character lower-cases into these ASCII prefixes).
func windowsRule(software string) rule {
	sw := strings.ToLower(software)
	switch {
	case strings.HasPrefix(sw, "microsoft-iis/"):
		return utf8Rule
	case strings.HasPrefix(sw, "apache/"):
		return latin1Rule
	case strings.HasPrefix(sw, "simplehttp/") && strings.Contains(sw, "python/3"):
		return utf8Rule
	default:
		return replaceRule
	}
}

// utf8Bytes is v.encode('utf-8').decode('iso-8859-1'): the UTF-8 bytes of
// the value, which is what Go already holds. A lone surrogate, on which
// Python raises UnicodeEncodeError, stays in its WTF-8 form (what
// 'surrogatepass' gives), so nothing is lost.
func utf8Bytes(v string) string { return v }

// utf8Replace is v.encode(sys.getfilesystemencoding(), 'replace') with
// Python's UTF-8 file system encoding: the UTF-8 bytes, with each lone
// surrogate (3 WTF-8 bytes, ED A0–BF 80–BF) replaced by '?'.
func utf8Replace(v string) string {
	if !strings.Contains(v, "\xed") {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); {
		if isSurrogate(v[i:]) {
			b.WriteByte('?')
			i += 3
			continue
		}
		b.WriteByte(v[i])
		i++
	}
	return b.String()
}

// isSurrogate reports whether s begins with a WTF-8 encoded surrogate.
func isSurrogate(s string) bool {
	return len(s) >= 3 && s[0] == 0xED && 0xA0 <= s[1] && s[1] <= 0xBF && 0x80 <= s[2] && s[2] <= 0xBF
}

// latin1Bytes is Apache's rule, the value unchanged: Apache on Windows puts
// each byte of a value in the environment as the character of the same
// number (latin-1), so each character is one byte again. A value holding a
// character above U+00FF (or a lone surrogate) was not written that way and
// keeps its UTF-8 bytes, whole: Python would hand on a string no latin-1
// byte string can hold.
func latin1Bytes(v string) string {
	ascii := true
	for i := 0; i < len(v); i++ {
		if v[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return v
	}
	b := make([]byte, 0, len(v))
	for i := 0; i < len(v); {
		r, n := utf8.DecodeRuneInString(v[i:])
		if r > 0xFF || r == utf8.RuneError && n == 1 {
			return v
		}
		b = append(b, byte(r))
		i += n
	}
	return string(b)
}

// needsTranscode is wsgiref's _needs_transcode: the request variables whose
// values come from the request and so may hold non-ASCII bytes. The test is
// case-sensitive, and REDIRECT_ is stripped recursively.
func needsTranscode(k string) bool {
	switch k {
	case "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "REQUEST_METHOD", "AUTH_TYPE",
		"CONTENT_TYPE", "CONTENT_LENGTH", "HTTPS", "REMOTE_USER", "REMOTE_IDENT":
		return true
	}
	if strings.HasPrefix(k, "HTTP_") || strings.HasPrefix(k, "SSL_") {
		return true
	}
	if rest, ok := strings.CutPrefix(k, "REDIRECT_"); ok {
		return needsTranscode(rest)
	}
	return false
}
