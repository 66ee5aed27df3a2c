package environ

import (
	"fmt"
	"path"
	"strings"
)

// GuessScheme returns "https" if e["HTTPS"] is exactly "yes", "on" or "1",
// and "http" otherwise. The match is case-sensitive and nothing is trimmed:
// "ON" and " on" give "http" (wsgiref.util.guess_scheme).
func GuessScheme(e Environ) string {
	switch e["HTTPS"] {
	case "yes", "on", "1":
		return "https"
	}
	return "http"
}

// Scheme returns the URL scheme of the request, gatewayd's counterpart of
// WSGI's wsgi.url_scheme: REQUEST_SCHEME when it is set and non-empty (nginx
// and Apache send it), else GuessScheme(e).
func Scheme(e Environ) string {
	if s := e["REQUEST_SCHEME"]; s != "" {
		return s
	}
	return GuessScheme(e)
}

// ApplicationURI returns the URL of the application root, without PATH_INFO
// or QUERY_STRING (wsgiref.util.application_uri):
//
//   - Scheme(e) + "://";
//   - HTTP_HOST verbatim if it is non-empty. Otherwise SERVER_NAME, then
//     ":" + SERVER_PORT unless the port is the scheme's default ("443" for
//     https, "80" for any other scheme, compared as strings, so "0443" is
//     kept). An error wrapping ErrMissing reports a missing SERVER_NAME or
//     SERVER_PORT;
//   - SCRIPT_NAME percent-encoded, or "/" if it is empty or missing.
//
// SCRIPT_NAME is encoded byte by byte: every byte except ASCII letters,
// digits, "_.-~" and "/" becomes %XX with upper-case hex, so byte 0xE4
// becomes %E4. Since bytes are never decoded, wsgiref's UnicodeEncodeError
// cannot occur.
func ApplicationURI(e Environ) (string, error) {
	scheme := Scheme(e)
	var b strings.Builder
	b.WriteString(scheme)
	b.WriteString("://")
	if host := e["HTTP_HOST"]; host != "" {
		b.WriteString(host)
	} else {
		name, ok := e["SERVER_NAME"]
		if !ok {
			return "", fmt.Errorf("%w SERVER_NAME", ErrMissing)
		}
		port, ok := e["SERVER_PORT"]
		if !ok {
			return "", fmt.Errorf("%w SERVER_PORT", ErrMissing)
		}
		b.WriteString(name)
		defaultPort := "80"
		if scheme == "https" {
			defaultPort = "443"
		}
		if port != defaultPort {
			b.WriteString(":")
			b.WriteString(port)
		}
	}
	if sn := e["SCRIPT_NAME"]; sn != "" {
		b.WriteString(quote(sn, "/"))
	} else {
		b.WriteString("/")
	}
	return b.String(), nil
}

// RequestURI returns the full URL of the request
// (wsgiref.util.request_uri): ApplicationURI(e), then PATH_INFO
// percent-encoded, then "?" + QUERY_STRING verbatim if includeQuery is true
// and QUERY_STRING is non-empty. Its errors are those of ApplicationURI.
//
// PATH_INFO is encoded like SCRIPT_NAME in ApplicationURI, except that
// ";", "=" and "," are kept too. When SCRIPT_NAME is empty or missing,
// ApplicationURI already ended in "/", and the first byte of the encoded
// PATH_INFO is dropped, whatever it is: SCRIPT_NAME "" with PATH_INFO "x"
// gives "http://host/".
func RequestURI(e Environ, includeQuery bool) (string, error) {
	uri, err := ApplicationURI(e)
	if err != nil {
		return "", err
	}
	pi := quote(e["PATH_INFO"], "/;=,")
	if e["SCRIPT_NAME"] == "" && pi != "" {
		pi = pi[1:]
	}
	uri += pi
	if qs := e["QUERY_STRING"]; includeQuery && qs != "" {
		uri += "?" + qs
	}
	return uri, nil
}

// quote percent-encodes s byte by byte. ASCII letters, digits, "_.-~" and
// the bytes in safe are kept; every other byte becomes %XX in upper-case
// hex (urllib.parse.quote with encoding latin-1).
func quote(s, safe string) string {
	const hex = "0123456789ABCDEF"
	keep := func(c byte) bool {
		return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("_.-~", c) >= 0 || strings.IndexByte(safe, c) >= 0
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if !keep(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		if c := s[i]; keep(c) {
			b = append(b, c)
		} else {
			b = append(b, '%', hex[c>>4], hex[c&15])
		}
	}
	return string(b)
}

// ShiftPathInfo moves the first segment of PATH_INFO to the end of
// SCRIPT_NAME and returns it (wsgiref.util.shift_path_info). It modifies e
// in place:
//
//   - An empty or missing PATH_INFO returns ok == false (Python's None) and
//     changes nothing.
//   - PATH_INFO is split on "/". Empty and "." segments are dropped, except
//     the first and the last; name is then the second segment, and it is
//     removed. A PATH_INFO with no "/" returns an error wrapping
//     ErrPathInfo and leaves e unchanged.
//   - SCRIPT_NAME becomes SCRIPT_NAME + "/" + name, normalised as Python's
//     posixpath.normpath does: "." and ".." resolved (a name of ".." is
//     returned and pops a segment, but an absolute path never climbs above
//     "/"), repeated slashes collapsed except exactly two leading ones, and
//     a trailing slash removed. If name is empty, SCRIPT_NAME ends with "/".
//   - PATH_INFO becomes the remaining segments joined by "/". ".." segments
//     left in it are not normalised, and percent-encoded dots are plain
//     names.
//   - A name of "." returns ok == false; SCRIPT_NAME and PATH_INFO are
//     still updated (PATH_INFO "/." becomes "").
func ShiftPathInfo(e Environ) (name string, ok bool, err error) {
	pi := e["PATH_INFO"]
	if pi == "" {
		return "", false, nil
	}
	parts := strings.Split(pi, "/")
	if len(parts) < 2 {
		return "", false, fmt.Errorf("%w: %q", ErrPathInfo, pi)
	}
	segs := []string{parts[0]}
	for _, p := range parts[1 : len(parts)-1] {
		if p != "" && p != "." {
			segs = append(segs, p)
		}
	}
	segs = append(segs, parts[len(parts)-1])
	name = segs[1]
	segs = append(segs[:1], segs[2:]...)

	sn := strings.TrimSuffix(normpath(e["SCRIPT_NAME"]+"/"+name), "/")
	if name == "" && !strings.HasSuffix(sn, "/") {
		sn += "/"
	}
	e["SCRIPT_NAME"] = sn
	e["PATH_INFO"] = strings.Join(segs, "/")
	if name == "." {
		return "", false, nil
	}
	return name, true, nil
}

// normpath is Python's posixpath.normpath. It differs from path.Clean only
// in keeping exactly two leading slashes, whose meaning POSIX leaves to the
// implementation.
func normpath(p string) string {
	if strings.HasPrefix(p, "//") && !strings.HasPrefix(p, "///") {
		return "/" + path.Clean(p)
	}
	return path.Clean(p)
}

// SetupTestingDefaults fills in the variables a test request needs
// (wsgiref.util.setup_testing_defaults). Each is set only if absent, in this
// order:
//
//	SERVER_NAME      "127.0.0.1"
//	SERVER_PROTOCOL  "HTTP/1.0"
//	HTTP_HOST        the value of SERVER_NAME
//	REQUEST_METHOD   "GET"
//	SCRIPT_NAME      "", only if neither SCRIPT_NAME nor PATH_INFO is present
//	PATH_INFO        "/", likewise
//	REQUEST_SCHEME   GuessScheme(e)
//	SERVER_PORT      "80" if Scheme(e) is "http", "443" if it is "https";
//	                 not set for any other scheme
//
// QUERY_STRING, CONTENT_TYPE and CONTENT_LENGTH are not set. The wsgi.*
// keys wsgiref also sets are Python objects with no CGI counterpart and are
// not set, except that wsgi.url_scheme maps to REQUEST_SCHEME, the variable
// Scheme reads.
func SetupTestingDefaults(e Environ) {
	setDefault := func(k, v string) {
		if _, ok := e[k]; !ok {
			e[k] = v
		}
	}
	setDefault("SERVER_NAME", "127.0.0.1")
	setDefault("SERVER_PROTOCOL", "HTTP/1.0")
	setDefault("HTTP_HOST", e["SERVER_NAME"])
	setDefault("REQUEST_METHOD", "GET")
	_, hasSN := e["SCRIPT_NAME"]
	_, hasPI := e["PATH_INFO"]
	if !hasSN && !hasPI {
		e["SCRIPT_NAME"] = ""
		e["PATH_INFO"] = "/"
	}
	setDefault("REQUEST_SCHEME", GuessScheme(e))
	switch Scheme(e) {
	case "http":
		setDefault("SERVER_PORT", "80")
	case "https":
		setDefault("SERVER_PORT", "443")
	}
}

// IsHopByHop reports whether the header field name is one of wsgiref's
// hop-by-hop names (wsgiref.util.is_hop_by_hop): Connection, Keep-Alive,
// Proxy-Authenticate, Proxy-Authorization, TE, Trailers, Transfer-Encoding
// and Upgrade, in any letter case. The set is wsgiref's exactly: it has
// "Trailers", not the real field name "Trailer", and not
// Proxy-Connection. Nothing is trimmed: "Keep-Alive " is not hop-by-hop.
// Only ASCII letters fold, as no latin-1 byte above 0x7F lower-cases to
// ASCII.
func IsHopByHop(name string) bool {
	switch lowerASCII(name) {
	case "connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
		"te", "trailers", "transfer-encoding", "upgrade":
		return true
	}
	return false
}

// lowerASCII returns s with the ASCII letters 'A' to 'Z' lower-cased.
func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
