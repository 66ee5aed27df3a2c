package handler

import (
	"strconv"

	"gatewayd/environ"
)

// A Violation is something wrong in a CGI response that Check repaired or
// found. In lenient mode the pipeline logs violations as a warning; in strict
// mode, and in gatewayd check, any violation makes the response an error.
type Violation struct {
	// Field is the name of the field concerned, as the program sent it.
	Field string
	// Problem says what is wrong and what was done about it.
	Problem string
}

// String returns "Field: Problem".
func (v Violation) String() string { return v.Field + ": " + v.Problem }

// Check repairs r in place and returns what it did, in field order:
//
//   - it drops hop-by-hop fields, which a CGI program must not send
//     (RFC 3875 §6.3.4; the set is wsgiref's is_hop_by_hop);
//   - it drops the second and later Date, Server, Content-Type and
//     Content-Length fields, which may appear only once (RFC 3875 §6.3);
//   - it drops a first Content-Length that is not a decimal number that fits
//     in an int64 (RFC 9110 §8.6);
//   - it drops Content-Type when the status is 204 or 304, which have no
//     content (RFC 9110 §15.3.5, §15.4.5).
//
// A Document without Content-Type, other than a 204 or 304, is reported last
// with Problem "no Content-Type", but nothing is added: the server must not
// guess it (RFC 3875 §6.3.1).
//
// Check does not change r.Kind, which says what the program sent.
func Check(r *Response) []Violation {
	if r.Header == nil {
		r.Header = new(Headers)
	}
	var vs []Violation
	drop := func(f Field, problem string) bool {
		vs = append(vs, Violation{f.Name, problem})
		return false
	}
	noContent := r.Status.Code == 204 || r.Status.Code == 304
	seen := map[string]bool{}
	r.Header.filter(func(f Field) bool {
		if environ.IsHopByHop(f.Name) {
			return drop(f, "hop-by-hop field dropped")
		}
		for _, once := range [...]string{"Date", "Server", "Content-Type", "Content-Length"} {
			if !equalFold(f.Name, once) {
				continue
			}
			if seen[once] {
				return drop(f, "duplicate field dropped")
			}
			seen[once] = true
		}
		if equalFold(f.Name, "Content-Length") && !validLength(f.Value) {
			return drop(f, "invalid value dropped")
		}
		if equalFold(f.Name, "Content-Type") && noContent {
			return drop(f, "dropped with status "+strconv.Itoa(r.Status.Code))
		}
		return true
	})
	if r.Kind == Document && !noContent && !r.Header.Has("Content-Type") {
		vs = append(vs, Violation{"Content-Type", "no Content-Type"})
	}
	return vs
}

// validLength reports whether v is a Content-Length value: ASCII digits only,
// within int64.
func validLength(v string) bool {
	if v == "" {
		return false
	}
	for i := 0; i < len(v); i++ {
		if !isDigit(v[i]) {
			return false
		}
	}
	_, err := strconv.ParseInt(v, 10, 64)
	return err == nil
}
