package environ

import (
	"maps"
	"net/http"
	"slices"
	"strings"
)

// HeaderVar maps a request header field name to its meta-variable
// (RFC 3875 §4.1.18): "HTTP_" followed by the name upper-cased, with '-'
// replaced by '_', so "xx-yy123" gives "HTTP_XX_YY123".
//
// ok is false when the field must not become a variable:
//
//   - a name that is empty or holds anything but ASCII letters, digits and
//     '-'. "X_Foo" and "X.Foo" are dropped, as nginx (underscores_in_headers
//     off, ignore_invalid_headers on) and Apache drop them. This is what makes
//     names that would collide after mapping impossible: "X_Foo" can never
//     override "X-Foo".
//   - Content-Type and Content-Length, which are CONTENT_TYPE and
//     CONTENT_LENGTH (RFC 3875 §4.1.18).
//   - Proxy, so that HTTP_PROXY is never set (httpoxy, CVE-2016-5385).
func HeaderVar(name string) (v string, ok bool) {
	if name == "" {
		return "", false
	}
	b := make([]byte, 0, len("HTTP_")+len(name))
	b = append(b, "HTTP_"...)
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case 'a' <= c && c <= 'z':
			c -= 'a' - 'A'
		case 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-':
			c = '_'
		default:
			return "", false
		}
		b = append(b, c)
	}
	v = string(b)
	if forbidden(v) {
		return "", false
	}
	return v, true
}

// forbidden reports whether the variable name must never be set from a
// header field.
func forbidden(name string) bool {
	switch name {
	case "HTTP_PROXY", "HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH":
		return true
	}
	return false
}

// AddHeaders adds the fields of h, a request header from net/http, as HTTP_*
// variables named by HeaderVar; fields it rejects are dropped. Authorization
// and Proxy-Authorization are dropped too unless passAuth is true (RFC 3875
// §9.2; Apache's CGIPassAuth).
//
// Each value has leading and trailing SP and HTAB trimmed, and a value
// holding NUL, CR or LF is dropped. An obsolete line folding (RFC 9112
// §5.2) needs no work here: net/http has already merged the continuation
// lines into one value, joined by a single space.
//
// Values are added with Add in the sorted order of the keys of h, so
// several values of one field are joined with ", ", Cookie values with "; "
// (nginx ≥ 1.23), as are the values of fields whose names differ only in
// case (net/http canonicalises names, so only a hand-built Header has
// those), and a variable already in e is joined, not replaced.
func (e Environ) AddHeaders(h http.Header, passAuth bool) {
	for _, name := range slices.Sorted(maps.Keys(h)) {
		v, ok := HeaderVar(name)
		if !ok || !passAuth && (v == "HTTP_AUTHORIZATION" || v == "HTTP_PROXY_AUTHORIZATION") {
			continue
		}
		for _, val := range h[name] {
			val = strings.Trim(val, " \t")
			if strings.ContainsAny(val, "\x00\r\n") {
				continue
			}
			e.Add(v, val)
		}
	}
}

// Add sets a variable a web server sent, such as a FastCGI or SCGI
// parameter. An HTTP_* name already in e is joined with ", " (HTTP_COOKIE
// with "; "), as nginx before 1.23 sends one parameter per repeated header
// field. Any other name already in e is replaced: the last value wins.
// HTTP_PROXY, HTTP_CONTENT_TYPE and HTTP_CONTENT_LENGTH are never set.
func (e Environ) Add(name, value string) {
	if forbidden(name) {
		return
	}
	if old, ok := e[name]; ok && strings.HasPrefix(name, "HTTP_") {
		sep := ", "
		if name == "HTTP_COOKIE" {
			sep = "; "
		}
		value = old + sep + value
	}
	e[name] = value
}
