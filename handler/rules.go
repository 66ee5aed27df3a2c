package handler

import (
	"errors"
	"strings"
)

// Severity says what gatewayd does with a response that breaks a rule.
type Severity int

const (
	// Rejected: gatewayd cannot forward the response as the program meant
	// it, whatever the mode: it answers 500 instead (a header block it
	// cannot read), 504 (a timeout), or the response breaks on the wire
	// (a Content-Length that is not the body's).
	Rejected Severity = iota
	// Repaired: gatewayd repairs the response and logs a warning; with
	// --strict it answers 500 instead.
	Repaired
	// Advice: gatewayd forwards the response as it is in every mode, but
	// it is most likely a mistake. Only gatewayd check reports it.
	Advice
)

var severityNames = [...]string{Rejected: "error", Repaired: "repaired", Advice: "warning"}

// String returns "error", "repaired" or "warning", as gatewayd check
// prints it.
func (s Severity) String() string {
	if s >= 0 && int(s) < len(severityNames) {
		return severityNames[s]
	}
	return "Severity(?)"
}

// A Rule is one thing a CGI response must or should do. The pipeline,
// --strict and gatewayd check all decide by this one table: what Check
// repairs, what strict mode rejects, what check reports.
type Rule struct {
	// ID names the rule in logs and in gatewayd check's output:
	// "CGI-STATUS-FORMAT".
	ID       string
	Severity Severity
	// Says is what the rule requires, and where that is written.
	Says string
	// Fix says what to change in the program.
	Fix string
}

// The rules' ids.
const (
	RuleNoOutput            = "CGI-NO-OUTPUT"
	RuleHeaderEnd           = "CGI-HEADER-END"
	RuleHeaderSize          = "CGI-HEADER-SIZE"
	RuleNoFields            = "CGI-NO-FIELDS"
	RuleHeaderSyntax        = "CGI-HEADER-SYNTAX"
	RuleFieldName           = "CGI-FIELD-NAME"
	RuleObsFold             = "CGI-OBS-FOLD"
	RuleControlChar         = "CGI-CONTROL-CHAR"
	RuleStatusFormat        = "CGI-STATUS-FORMAT"
	RuleFieldRepeated       = "CGI-FIELD-REPEATED"
	RuleNPHStatusLine       = "CGI-NPH-STATUS-LINE"
	RuleContentLengthBody   = "CGI-CONTENT-LENGTH-BODY"
	RuleTimeout             = "CGI-TIMEOUT"
	RuleHopByHop            = "CGI-HOP-BY-HOP"
	RuleFieldDuplicate      = "CGI-FIELD-DUPLICATE"
	RuleContentLengthFormat = "CGI-CONTENT-LENGTH-FORMAT"
	RuleContentTypeNoBody   = "CGI-CONTENT-TYPE-NO-CONTENT"
	RuleContentTypeMissing  = "CGI-CONTENT-TYPE-MISSING"
	RuleStatusReason        = "CGI-STATUS-REASON"
	RuleLocalRedirectFields = "CGI-LOCAL-REDIRECT-FIELDS"
	RuleRedirectDocStatus   = "CGI-REDIRECT-DOC-STATUS"
	RuleBodyUnread          = "CGI-BODY-UNREAD"
	RuleStderr              = "CGI-STDERR"
	RuleExitStatus          = "CGI-EXIT-STATUS"
)

// rules is the table, in the order gatewayd check --help lists it.
var rules = []Rule{
	{RuleNoOutput, Rejected, "a CGI program writes a response: a header block, a blank line, then the body (RFC 3875 §6.1)",
		`print at least "Content-Type: text/plain", a blank line, then the body`},
	{RuleHeaderEnd, Rejected, "the header block ends with a blank line (RFC 3875 §6.2)",
		"print an empty line after the last header field, even when there is no body"},
	{RuleHeaderSize, Rejected, "the header block fits in the header limit (64 KiB by default)",
		"send less in the header fields, or the large part in the body"},
	{RuleNoFields, Rejected, "the header block has at least one field (RFC 3875 §6.2)",
		"print Content-Type (or Location, or Status) before the blank line"},
	{RuleHeaderSyntax, Rejected, `each header line is "Name: value" (RFC 3875 §6.3)`,
		"print the blank line that ends the header block before any body text"},
	{RuleFieldName, Rejected, "a field name is a token: letters, digits and !#$%&'*+-.^_`|~, with no space before the colon (RFC 9110 §5.1)",
		`write the name as "Content-Type:", with the colon right after it`},
	{RuleObsFold, Rejected, "CGI header fields have no continuation lines (RFC 3875 §6.3)",
		"put the whole value on one line"},
	{RuleControlChar, Rejected, "a field value holds no control characters but HTAB: no bare CR, no NUL (RFC 9110 §5.5)",
		`end lines with "\r\n" or "\n" only, and strip CR, LF and NUL from values`},
	{RuleStatusFormat, Rejected, "Status is a 3-digit code from 100 to 999, a space and a reason phrase (RFC 3875 §6.3.3)",
		`print "Status: 404 Not Found"`},
	{RuleFieldRepeated, Rejected, "Status and Location appear at most once (RFC 3875 §6.3)",
		"print one Status and one Location at most"},
	{RuleNPHStatusLine, Rejected, `an nph- program begins with an HTTP status line, "HTTP/1.1 200 OK" (RFC 3875 §5.2)`,
		`print "HTTP/1.1 200 OK" first, or rename the program without nph-`},
	{RuleContentLengthBody, Rejected, "Content-Length is the number of body bytes sent (RFC 9110 §8.6)",
		"leave Content-Length out, or count the body's bytes, not its characters"},
	{RuleTimeout, Rejected, "the program ends within the request's timeout (RFC 3875 §6.1 lets the server stop it)",
		"answer sooner, or raise the timeout (--timeout, the limits block)"},
	{RuleHopByHop, Repaired, "a CGI program sends no hop-by-hop fields: Connection, Keep-Alive, Transfer-Encoding… (RFC 3875 §6.3.4); gatewayd drops them",
		"leave the field out: the server frames the response"},
	{RuleFieldDuplicate, Repaired, "Date, Server, Content-Type and Content-Length appear at most once; gatewayd keeps the first",
		"print each of them once"},
	{RuleContentLengthFormat, Repaired, "Content-Length is a decimal number of bytes (RFC 9110 §8.6); gatewayd drops another value",
		"print the body's length in bytes, digits only, or leave Content-Length out"},
	{RuleContentTypeNoBody, Repaired, "a 204 or 304 response has no content, so no Content-Type (RFC 9110 §15.3.5, §15.4.5); gatewayd drops it",
		"leave Content-Type out of 204 and 304 responses"},
	{RuleContentTypeMissing, Repaired, "a document response has a Content-Type (RFC 3875 §6.3.1); gatewayd sends it without one, never a guessed one",
		`print "Content-Type: text/html" (or the body's type) in the header block`},
	{RuleStatusReason, Repaired, "Status has a reason phrase after the code (RFC 3875 §6.3.3); gatewayd adds the standard one",
		`print "Status: 404 Not Found", not "Status: 404"`},
	{RuleLocalRedirectFields, Advice, "a local redirect is a Location path alone (RFC 3875 §6.2.2); with other fields gatewayd sends it to the client as a redirect to a relative URL",
		"print Location alone to have the server serve that path, or an absolute URL (with a Status) for the client"},
	{RuleRedirectDocStatus, Advice, "a client redirect with a document has a Status (RFC 3875 §6.2.4); gatewayd sends 302",
		`print "Status: 302 Found" (or 301, 303, 307) with the Location`},
	{RuleBodyUnread, Advice, "a program reads the request body it is given (RFC 3875 §4.2)",
		"read CONTENT_LENGTH bytes of stdin, even to ignore them"},
	{RuleStderr, Advice, "standard error is the server's error log: a response never goes there",
		"check what the program printed on stderr; gatewayd logs it with the request"},
	{RuleExitStatus, Advice, "a program that sent its response exits with status 0",
		"exit 0 after a good response; a failure before the headers gets gatewayd's 500 page"},
}

// Rules returns the rules, in the order gatewayd check --help lists them.
func Rules() []Rule { return append([]Rule(nil), rules...) }

// RuleByID returns the rule with id.
func RuleByID(id string) (Rule, bool) {
	for _, r := range rules {
		if r.ID == id {
			return r, true
		}
	}
	return Rule{}, false
}

// parseRules gives the rule each header block error breaks.
var parseRules = []struct {
	err error
	id  string
}{
	{ErrNoResponse, RuleNoOutput},
	{ErrTruncated, RuleHeaderEnd},
	{ErrHeaderTooLarge, RuleHeaderSize},
	{ErrNoFields, RuleNoFields},
	{ErrMalformedLine, RuleHeaderSyntax},
	{ErrBadFieldName, RuleFieldName},
	{ErrContinuation, RuleObsFold},
	{ErrControlChar, RuleControlChar},
	{ErrBadStatus, RuleStatusFormat},
	{ErrDuplicate, RuleFieldRepeated},
}

// RuleOf returns the rule that err, an error from ReadResponse or
// ReadNPHResponse, says was broken.
func RuleOf(err error) (Rule, bool) {
	var pe *ParseError
	if errors.As(err, &pe) && pe.nph && pe.Line == 1 && errors.Is(err, ErrBadStatus) {
		return RuleByID(RuleNPHStatusLine)
	}
	for _, pr := range parseRules {
		if errors.Is(err, pr.err) {
			return RuleByID(pr.id)
		}
	}
	return Rule{}, false
}

// problemOf is err's message without the package's prefix, for a
// Violation.
func problemOf(err error) string {
	return strings.ReplaceAll(err.Error(), "handler: ", "")
}
