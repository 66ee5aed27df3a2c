// Package environ owns the CGI environment: the Environ type that every
// front-end fills and every app receives, URL reconstruction
// (ApplicationURI, RequestURI), ShiftPathInfo, SetupTestingDefaults,
// IsHopByHop, and the mapping of request header fields to HTTP_* variables
// (RFC 3875 §4.1.18).
//
// The URL and path helpers follow CPython's wsgiref.util, vector for vector.
//
// Values are bytes. An Environ value is a Go string holding the raw bytes the
// web server or client sent; nothing here decodes or re-encodes them. Where
// wsgiref works on latin-1 strings (one character per byte), gatewayd works
// on the bytes themselves, so wsgiref's UnicodeEncodeError for characters
// above U+00FF cannot occur.
package environ

import (
	"errors"
	"maps"
	"slices"
	"strings"
)

// Environ is a CGI environment: meta-variable names to raw byte values.
type Environ map[string]string

var (
	// ErrMissing is wrapped by the error reporting that a required variable
	// is absent; the error names it, as in "environ: missing SERVER_NAME".
	ErrMissing = errors.New("environ: missing")

	// ErrPathInfo is wrapped by the error ShiftPathInfo returns for a
	// non-empty PATH_INFO that holds no '/' (where wsgiref raises
	// IndexError). A PATH_INFO such as "x/y" has a '/' and shifts.
	ErrPathInfo = errors.New("environ: PATH_INFO has no slash")
)

// Clone returns a copy of e. The copy of a nil Environ is empty, not nil.
func (e Environ) Clone() Environ {
	c := make(Environ, len(e))
	maps.Copy(c, e)
	return c
}

// List returns e as an exec environment: "NAME=value" entries sorted by
// name. Entries that a POSIX environment cannot hold are left out: an empty
// name, a name containing '=' or NUL, or a value containing NUL (FastCGI
// §6.1: no truncated or injected variable).
//
// The entries share one allocation: a program is started for every
// request, and its environment is built for it each time.
func (e Environ) List() []string {
	keys := make([]string, 0, len(e))
	size := 0
	for k, v := range e {
		if Representable(k, v) {
			keys = append(keys, k)
			size += len(k) + 1 + len(v)
		}
	}
	slices.Sort(keys)
	var b strings.Builder
	b.Grow(size)
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(e[k])
	}
	all := b.String()
	out := keys[:0] // each key is read before its slot is overwritten
	for _, k := range keys {
		n := len(k) + 1 + len(e[k])
		out = append(out, all[:n])
		all = all[n:]
	}
	return out
}

// Representable reports whether name=value can be placed in a POSIX process
// environment without truncation or injection.
func Representable(name, value string) bool {
	return name != "" && strings.IndexByte(name, '=') < 0 && strings.IndexByte(name, 0) < 0 &&
		strings.IndexByte(value, 0) < 0
}

// DropCaseDuplicates removes the names of e that equal another of its names
// but for ASCII case, and returns them sorted. RFC 3875 §4.1 makes
// meta-variable names case-insensitive, so HTTP_X and http_x are one
// variable, and a program must not see two. Of each such set the name
// first in byte order is kept: the upper-case one, when there is one.
func (e Environ) DropCaseDuplicates() (dropped []string) {
	lower := false
	for k := range e {
		lower = lower || hasLowerASCII(k)
	}
	if !lower {
		return nil // the usual case: every name is upper case
	}
	kept := make(map[string]bool, len(e)) // names kept, folded to lower case
	for _, k := range slices.Sorted(maps.Keys(e)) {
		folded := lowerASCII(k) // ASCII only: strings.ToLower would change bytes that are not UTF-8
		if kept[folded] {
			dropped = append(dropped, k)
			delete(e, k)
			continue
		}
		kept[folded] = true
	}
	return dropped
}

func hasLowerASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if 'a' <= s[i] && s[i] <= 'z' {
			return true
		}
	}
	return false
}
