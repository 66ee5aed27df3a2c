package conform

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"gatewayd/handler"
)

// Report is what a check found. Its JSON encoding is gatewayd check
// --json's output; the package doc describes it.
type Report struct {
	Program string   `json:"program"`
	Args    []string `json:"args"`
	Profile string   `json:"profile"`
	Request struct {
		Method    string `json:"method"`
		URI       string `json:"uri"`
		BodyBytes int    `json:"body_bytes"`
		// Env is the environment the program was given.
		Env map[string]string `json:"env"`
	} `json:"request"`
	// Runs has one entry for each time the program ran: more than one
	// when it answered with a local redirect, which gatewayd follows.
	Runs       []RunReport `json:"runs"`
	Violations []Finding   `json:"violations"`
	Response   Forwarded   `json:"response"`
	// Errors, Repaired and Warnings count the violations by severity.
	Errors   int `json:"errors"`
	Repaired int `json:"repaired"`
	Warnings int `json:"warnings"`
	// Conforming is true when there is no error and nothing to repair:
	// gatewayd serve --strict forwards the response as it is.
	Conforming bool `json:"conforming"`
}

// RunReport is one run of the program.
type RunReport struct {
	Pid         int     `json:"pid"`
	ExitCode    int     `json:"exit_code"` // -1 when a signal ended it
	Signal      string  `json:"signal,omitempty"`
	DurationMS  float64 `json:"duration_ms"`
	BodyBytes   int64   `json:"body_bytes"`   // the request body it was given
	BodyRead    int64   `json:"body_read"`    // how much of it it read
	OutputBytes int64   `json:"output_bytes"` // what it wrote on stdout
	StderrBytes int64   `json:"stderr_bytes"`
	Stderr      string  `json:"stderr,omitempty"` // the first 64 KiB
}

// Finding is one violation.
type Finding struct {
	Rule     string `json:"rule"`
	Severity string `json:"severity"` // "error", "repaired" or "warning"
	Run      int    `json:"run,omitempty"`
	Line     int    `json:"line,omitempty"`
	Text     string `json:"text,omitempty"`
	Field    string `json:"field,omitempty"`
	Problem  string `json:"problem"`
	Says     string `json:"says"`
	Fix      string `json:"fix"`
}

// Forwarded is the response as gatewayd forwards it.
type Forwarded struct {
	// Kind is the program's response kind ("document", "local
	// redirect", "client redirect", "client redirect with document"),
	// "" when its header block could not be read.
	Kind string `json:"kind"`
	// Gateway is the response in gateway form, as FastCGI, SCGI and CGI
	// carry it to the web server; Origin as gatewayd serve --http sends
	// it, status line, Date and framing included. Each holds the header
	// block and at most 4 KiB of body.
	Gateway string `json:"gateway"`
	Origin  string `json:"origin"`
	// Status is the status gatewayd sends; Strict the one gatewayd serve
	// --strict sends.
	Status string `json:"status"`
	Strict string `json:"strict"`
}

// maxShown bounds the body shown in Forwarded.
const maxShown = 4 << 10

// report makes the Report of the live run.
func (c *checker) report(ctx context.Context, live []byte, res handler.Result) *Report {
	r := &Report{Program: c.program, Args: append([]string{}, c.o.Args...), Profile: c.o.Profile}
	r.Request.Method = c.o.Request.method()
	r.Request.URI = c.o.Request.uri(c.path)
	r.Request.BodyBytes = len(c.o.Request.Body)
	r.Request.Env = c.rec.runs[0].env
	timedOut := handler.IsTimeout(res.Err)
	nph := handler.IsNPH(c.program)
	several := len(c.rec.runs) > 1
	for i, run := range c.rec.runs {
		r.Runs = append(r.Runs, RunReport{
			Pid: run.exit.Pid, ExitCode: run.exit.Code, Signal: run.exit.Signal,
			DurationMS: float64(run.took.Microseconds()) / 1000,
			BodyBytes:  run.bodySize, BodyRead: run.bodyRead, OutputBytes: run.total,
			StderrBytes: run.stderr.n, Stderr: run.stderr.String(),
		})
		n := 0
		if several {
			n = i + 1
		}
		last := i == len(c.rec.runs)-1
		fs, kind := c.findings(run, nph, timedOut && last, i == 0)
		r.add(n, fs...)
		if i == 0 {
			r.Response.Kind = kind
		}
	}
	if timedOut {
		r.add(0, finding(handler.RuleTimeout, fmt.Sprintf("no complete response within %v (%v)", c.o.Timeout, res.Err)))
	}

	gw, status, _ := c.gatewayForm(ctx, false)
	_, strict, _ := c.gatewayForm(ctx, true)
	origin, _ := c.originForm(ctx)
	if timedOut {
		// A replay cannot time out: what the profile's front-end sent is
		// the truth, the other form is not known.
		gw, origin, status, strict = nil, nil, res.Status, res.Status
		if c.o.Profile == "http" {
			origin = live
		} else {
			gw = live
		}
	}
	r.Response.Gateway, r.Response.Origin = shown(gw), shown(origin)
	r.Response.Status, r.Response.Strict = statusText(status), statusText(strict)
	r.Conforming = r.Errors == 0 && r.Repaired == 0
	return r
}

// findings are the violations of one run's output and conduct, and the
// kind of its response ("" when its header block could not be read).
func (c *checker) findings(run *recordedRun, nph, timedOut, first bool) (fs []Finding, kind string) {
	out := run.out.Bytes()
	rd := bytes.NewReader(out)
	br := bufio.NewReader(rd)
	resp, vs := handler.Lint(br, nph, c.o.MaxHeaderBytes)
	headerLen := len(out) - rd.Len() - br.Buffered() // Lint stops at the body
	for _, v := range vs {
		if timedOut && (v.Rule == handler.RuleNoOutput || v.Rule == handler.RuleHeaderEnd) {
			continue // cut off by the timeout, reported as such
		}
		f := finding(v.Rule, v.Problem)
		f.Line, f.Text, f.Field = v.Line, v.Text, v.Field
		fs = append(fs, f)
	}
	rejected := false
	for _, f := range fs {
		rejected = rejected || f.Severity == handler.Rejected.String()
	}
	if resp != nil && !timedOut && !rejected {
		fs = append(fs, c.lengthFinding(resp, run.total-int64(headerLen))...)
	}
	if resp != nil {
		kind = resp.Kind.String()
		loc, _ := resp.Header.Get("Location")
		if (resp.Kind == handler.ClientRedirect || resp.Kind == handler.ClientRedirectDoc) && strings.HasPrefix(loc, "/") {
			fs = append(fs, finding(handler.RuleLocalRedirectFields, "Location "+loc+" is a path, but other fields come with it"))
		}
		if resp.Kind == handler.ClientRedirectDoc && !resp.HasStatus {
			fs = append(fs, finding(handler.RuleRedirectDocStatus, "a Location with a document and no Status: 302 Found sent"))
		}
	}
	if first && run.bodySize > 0 && run.bodyRead < run.bodySize && !timedOut {
		fs = append(fs, finding(handler.RuleBodyUnread, fmt.Sprintf("read %d of the %d body bytes", run.bodyRead, run.bodySize)))
	}
	if run.stderr.n > 0 {
		line, _, _ := strings.Cut(run.stderr.String(), "\n")
		fs = append(fs, finding(handler.RuleStderr, fmt.Sprintf("wrote %d bytes on stderr, beginning %q", run.stderr.n, handler.Printable([]byte(line)))))
	}
	if ex := run.exit; !rejected && !timedOut && (ex.Code != 0 || ex.Signal != "") {
		how := "exited with status " + strconv.Itoa(ex.Code)
		if ex.Signal != "" {
			how = "was killed by signal " + ex.Signal
		}
		fs = append(fs, finding(handler.RuleExitStatus, how+" after its response"))
	}
	return fs, kind
}

// lengthFinding checks a Content-Length against the body that followed.
func (c *checker) lengthFinding(resp *handler.Response, body int64) []Finding {
	cl, ok := resp.Header.Get("Content-Length")
	code := resp.Status.Code
	if !ok || c.o.Request.method() == "HEAD" || code == 204 || code == 304 || code < 200 {
		return nil
	}
	if cl != strconv.FormatInt(body, 10) {
		return []Finding{finding(handler.RuleContentLengthBody, fmt.Sprintf("Content-Length: %s, but the body has %d bytes", cl, body))}
	}
	return nil
}

func finding(id, problem string) Finding {
	rule, _ := handler.RuleByID(id)
	return Finding{Rule: id, Severity: rule.Severity.String(), Problem: problem, Says: rule.Says, Fix: rule.Fix}
}

// add adds fs, found in run n (0: the only one), and counts them.
func (r *Report) add(n int, fs ...Finding) {
	for _, f := range fs {
		f.Run = n
		switch f.Severity {
		case handler.Rejected.String():
			r.Errors++
		case handler.Repaired.String():
			r.Repaired++
		default:
			r.Warnings++
		}
		r.Violations = append(r.Violations, f)
	}
}

// shown is a response with its body cut at maxShown bytes.
func shown(b []byte) string {
	head, body, ok := bytes.Cut(b, []byte("\r\n\r\n"))
	if !ok || len(body) <= maxShown {
		return string(b)
	}
	return string(head) + "\r\n\r\n" + string(body[:maxShown])
}

func statusText(code int) string {
	switch code {
	case 0:
		return "none: the connection was closed"
	case -1:
		return "the program's own (NPH)"
	}
	return handler.Status{Code: code, Reason: http.StatusText(code)}.String()
}

// WriteText writes the report as gatewayd check prints it.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "gatewayd check: %s (%s: %s %s)\n", strings.Join(append([]string{r.Program}, r.Args...), " "), r.Profile, r.Request.Method, r.Request.URI)
	for i, run := range r.Runs {
		how := "exit status " + strconv.Itoa(run.ExitCode)
		if run.Signal != "" {
			how = "killed by signal " + run.Signal
		}
		fmt.Fprintf(&b, "run %d: pid %d, %s after %.1f ms; read %d of %d body bytes; wrote %d bytes, %d on stderr\n",
			i+1, run.Pid, how, run.DurationMS, run.BodyRead, run.BodyBytes, run.OutputBytes, run.StderrBytes)
	}
	for _, f := range r.Violations {
		b.WriteString("\n")
		where := ""
		if f.Run > 0 {
			where = fmt.Sprintf("run %d ", f.Run)
		}
		switch {
		case f.Line > 0:
			where += fmt.Sprintf("line %d: %s", f.Line, handler.Printable([]byte(f.Text)))
		case f.Field != "":
			where += "field " + f.Field
		}
		fmt.Fprintf(&b, "%-8s  %s  %s\n", f.Severity, f.Rule, where)
		fmt.Fprintf(&b, "          %s\n          rule: %s\n          fix:  %s\n", f.Problem, f.Says, f.Fix)
	}
	fmt.Fprintf(&b, "\nforwarded over FastCGI, SCGI and CGI (gateway form), status %s:\n", r.Response.Status)
	quoted(&b, r.Response.Gateway)
	b.WriteString("forwarded over HTTP (gatewayd serve --http):\n")
	quoted(&b, r.Response.Origin)
	fmt.Fprintf(&b, "with --strict: %s\n\n", r.Response.Strict)
	verdict := "conforming"
	if !r.Conforming {
		verdict = "not conforming"
	}
	fmt.Fprintf(&b, "%s: %s, %d repaired, %s\n", verdict, count(r.Errors, "error"), r.Repaired, count(r.Warnings, "warning"))
	_, err := io.WriteString(w, b.String())
	return err
}

func count(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

// quoted writes a response, line by line, behind "  | ": its header
// block and the first textLines lines of its body.
func quoted(b *strings.Builder, resp string) {
	if resp == "" {
		b.WriteString("  (not known: the program timed out)\n")
		return
	}
	head, body, _ := strings.Cut(resp, "\r\n\r\n")
	lines := strings.SplitAfter(head+"\r\n\r\n", "\n")
	rest := strings.SplitAfter(body, "\n")
	if len(rest) > textLines {
		lines = append(lines, rest[:textLines]...)
		rest = rest[textLines:]
	} else {
		lines, rest = append(lines, rest...), nil
	}
	for _, line := range lines {
		if line != "" {
			fmt.Fprintf(b, "  | %s\n", handler.Printable([]byte(line)))
		}
	}
	if len(rest) > 0 {
		fmt.Fprintf(b, "  (%d more bytes; --json shows the first %d KiB of the body)\n", len(strings.Join(rest, "")), maxShown>>10)
	}
}

// textLines is how many lines of body the text report shows.
const textLines = 8
