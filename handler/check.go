package handler

import (
	"strconv"

	"gatewayd/environ"
)

// A Violation is a rule a CGI response broke: one that Check repaired or
// found, or, from Lint, one that makes the response unreadable. In lenient
// mode the pipeline logs Check's as a warning; in strict mode, and in
// gatewayd check, any makes the response an error.
type Violation struct {
	// Rule is the id of the rule broken (see Rules).
	Rule string
	// Field is the name of the field concerned, as the program sent it;
	// "" when no field is to blame.
	Field string
	// Problem says what is wrong and what was done about it.
	Problem string
	// Line and Text are the header line at fault, as Lint found it: its
	// 1-based number and its text. Line is 0 when no one line is to blame.
	Line int
	Text string
}

// String returns "Field: Problem (Rule)", or "Problem (Rule)" when no
// field is to blame.
func (v Violation) String() string {
	s := v.Problem
	if v.Field != "" {
		s = v.Field + ": " + s
	}
	if v.Rule != "" {
		s += " (" + v.Rule + ")"
	}
	return s
}

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
// A Status without reason phrase, whose standard reason ReadResponse
// added, is reported first. A Document without Content-Type, other than a
// 204 or 304, is reported last with Problem "no Content-Type", but nothing
// is added: the server must not guess it (RFC 3875 §6.3.1). Each
// violation's Rule is one of the Repaired rules.
//
// Check does not change r.Kind, which says what the program sent.
func Check(r *Response) []Violation {
	if r.Header == nil {
		r.Header = new(Headers)
	}
	var vs []Violation
	if r.ReasonAdded {
		vs = append(vs, Violation{Rule: RuleStatusReason, Field: "Status",
			Problem: "no reason phrase; " + r.Status.String() + " sent"})
		r.ReasonAdded = false // repaired
	}
	drop := func(f Field, rule, problem string) bool {
		vs = append(vs, Violation{Rule: rule, Field: f.Name, Problem: problem})
		return false
	}
	noContent := r.Status.Code == 204 || r.Status.Code == 304
	seen := map[string]bool{}
	r.Header.filter(func(f Field) bool {
		if environ.IsHopByHop(f.Name) {
			return drop(f, RuleHopByHop, "hop-by-hop field dropped")
		}
		for _, once := range [...]string{"Date", "Server", "Content-Type", "Content-Length"} {
			if !equalFold(f.Name, once) {
				continue
			}
			if seen[once] {
				return drop(f, RuleFieldDuplicate, "duplicate field dropped")
			}
			seen[once] = true
		}
		if equalFold(f.Name, "Content-Length") && !validLength(f.Value) {
			return drop(f, RuleContentLengthFormat, "invalid value dropped")
		}
		if equalFold(f.Name, "Content-Type") && noContent {
			return drop(f, RuleContentTypeNoBody, "dropped with status "+strconv.Itoa(r.Status.Code))
		}
		return true
	})
	if r.Kind == Document && !noContent && !r.Header.Has("Content-Type") {
		vs = append(vs, Violation{Rule: RuleContentTypeMissing, Field: "Content-Type", Problem: "no Content-Type"})
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
