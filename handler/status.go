package handler

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// ErrBadStatus is the error, wrapped, for a status that is not a 3-digit code
// from 100 to 999 optionally followed by SP and a reason phrase.
var ErrBadStatus = errors.New("handler: malformed status")

// A Status is a response status: a code and its reason phrase.
type Status struct {
	Code   int
	Reason string
}

// String returns the status as it follows "Status: " or "HTTP/1.1 ": the code
// in decimal, SP and the reason. An empty Reason is replaced by the standard
// one (http.StatusText); for a code that has none, String returns the code
// alone ("599"), which RFC 3875 §6.3.3 and HTTP clients accept.
func (s Status) String() string {
	reason := s.Reason
	if reason == "" {
		reason = http.StatusText(s.Code)
	}
	if reason == "" {
		return strconv.Itoa(s.Code)
	}
	return strconv.Itoa(s.Code) + " " + reason
}

// ParseStatus parses the value of a CGI Status field (RFC 3875 §6.3.3):
// a 3-digit code from 100 to 999, then either the end or SP and a reason
// phrase, which is kept as given ("200 FooBar"). Without a reason phrase the
// standard one is used ("404" gives 404 Not Found), or none for a code that
// has no standard reason.
//
// SP and HTAB around the value are trimmed: they are the optional whitespace
// around a field value (RFC 3875 §6.3). Anywhere else a control character,
// HTAB included, is an error, as in wsgiref since the 2026 fix (gh-144370):
// "200\tOK" is malformed. Bytes from 0x80 up are allowed in the reason.
func ParseStatus(s string) (Status, error) {
	v := strings.Trim(s, " \t")
	if len(v) < 3 || len(v) > 3 && v[3] != ' ' ||
		!isDigit(v[0]) || v[0] == '0' || !isDigit(v[1]) || !isDigit(v[2]) {
		return Status{}, fmt.Errorf("%w: %q", ErrBadStatus, s)
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c == 0x7F {
			return Status{}, fmt.Errorf("%w: %q", ErrBadStatus, s)
		}
	}
	code := int(v[0]-'0')*100 + int(v[1]-'0')*10 + int(v[2]-'0')
	reason := http.StatusText(code)
	if len(v) > 4 {
		reason = v[4:]
	}
	return Status{Code: code, Reason: reason}, nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
