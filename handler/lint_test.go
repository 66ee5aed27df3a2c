package handler

import (
	"bufio"
	"errors"
	"slices"
	"strings"
	"testing"
)

// TestLint: every violation of a header block is found, each with its
// rule, line and text, past the lines that ReadResponse would stop at.
func TestLint(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		nph   bool
		rules []string
		lines []int
		ok    bool // a Response comes back
	}{
		{"good", "Content-Type: text/plain\r\n\r\nbody", false, nil, nil, true},
		{"nothing", "", false, []string{RuleNoOutput}, []int{0}, false},
		{"no end", "Content-Type: text/plain\r\n", false, []string{RuleHeaderEnd}, []int{2}, false},
		{"no fields", "\r\nbody", false, []string{RuleNoFields}, []int{1}, false},
		{"too large", "X-A: " + strings.Repeat("a", 200) + "\r\n\r\n", false, []string{RuleHeaderSize}, []int{1}, false},
		{"several bad lines", "Content-Type: text/plain\r\nno colon here\r\nX A: 1\r\n  folded\r\nX-B: a\rb\r\nStatus: 20 OK\r\n\r\n", false,
			[]string{RuleHeaderSyntax, RuleFieldName, RuleObsFold, RuleControlChar, RuleStatusFormat}, []int{2, 3, 4, 5, 6}, true},
		{"repeated Status and Location", "Status: 200 OK\r\nStatus: 404 Not Found\r\nLocation: http://a/\r\nLocation: http://b/\r\nContent-Type: text/plain\r\n\r\n", false,
			[]string{RuleFieldRepeated, RuleFieldRepeated}, []int{2, 4}, true},
		{"repairs after line errors", "Connection: close\r\nbad line\r\n\r\n", false,
			[]string{RuleHeaderSyntax, RuleHopByHop, RuleContentTypeMissing}, []int{2, 1, 0}, true},
		{"every field bad", "bad line\r\n\r\n", false, []string{RuleHeaderSyntax}, []int{1}, false},
		{"nph", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n", true, nil, nil, true},
		{"nph without status line", "Content-Type: text/plain\r\n\r\n", true, []string{RuleNPHStatusLine}, []int{1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, vs := Lint(bufio.NewReader(strings.NewReader(tt.in)), tt.nph, 150)
			var rules []string
			var lines []int
			for _, v := range vs {
				rules = append(rules, v.Rule)
				lines = append(lines, v.Line)
				if _, ok := RuleByID(v.Rule); !ok {
					t.Errorf("violation %+v names no rule", v)
				}
			}
			if !slices.Equal(rules, tt.rules) || !slices.Equal(lines, tt.lines) || (resp != nil) != tt.ok {
				t.Errorf("Lint(%q) = %v, %q at lines %v; want a response %v, %q at lines %v", tt.in, resp != nil, rules, lines, tt.ok, tt.rules, tt.lines)
			}
		})
	}
	_, vs := Lint(bufio.NewReader(strings.NewReader("Content-Type: text/plain\r\nX A: 1\r\n\r\n")), false, 0)
	if len(vs) != 1 || vs[0].Text != "X A: 1" || vs[0].Line != 2 {
		t.Errorf("Lint kept %+v, want the line's text and number", vs)
	}
}

// TestRuleOf: every error ReadResponse returns names its rule, and what
// strict mode rejects is what the table calls Repaired.
func TestRuleOf(t *testing.T) {
	for _, in := range []string{"", "X-A: 1\r\n", "\r\n", "no colon\r\n\r\n", "X A: 1\r\n\r\n", "X: 1\r\n y\r\n\r\n",
		"X: a\x00b\r\n\r\n", "Status: 2000\r\n\r\n", "Status: 200 OK\r\nStatus: 200 OK\r\n\r\n"} {
		_, err := ReadResponse(bufio.NewReader(strings.NewReader(in)), 0)
		rule, ok := RuleOf(err)
		if err == nil || !ok || rule.Severity != Rejected {
			t.Errorf("ReadResponse(%q) = %v: rule %+v, %v", in, err, rule, ok)
		}
	}
	for _, r := range Rules() {
		if r.ID == "" || r.Says == "" || r.Fix == "" || r.Severity.String() == "Severity(?)" {
			t.Errorf("rule %+v is incomplete", r)
		}
	}
}

// FuzzLint: Lint agrees with ReadResponse. A block ReadResponse accepts
// gives a Response and no Rejected violation; one it refuses gives the
// rule of ReadResponse's error among Lint's.
func FuzzLint(f *testing.F) {
	for _, s := range []string{"Content-Type: text/plain\r\n\r\nx", "Status: 20\r\n\r\n", "X A: 1\r\nbad\r\n\r\n",
		"Location: /a\r\nLocation: /b\r\n\r\n", "HTTP/1.0 200 OK\r\n\r\n", "\r\n", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		resp, err := ReadResponse(bufio.NewReader(strings.NewReader(in)), 512)
		lresp, vs := Lint(bufio.NewReader(strings.NewReader(in)), false, 512)
		rejected := slices.ContainsFunc(vs, func(v Violation) bool {
			r, _ := RuleByID(v.Rule)
			return r.Severity == Rejected
		})
		if err == nil {
			if lresp == nil || rejected || lresp.Kind != resp.Kind || lresp.Status != resp.Status {
				t.Fatalf("ReadResponse(%q) accepts it, Lint = %+v, %+v", in, lresp, vs)
			}
			return
		}
		rule, _ := RuleOf(err)
		if !slices.ContainsFunc(vs, func(v Violation) bool { return v.Rule == rule.ID }) &&
			!(errors.Is(err, ErrNoFields) && rejected) {
			t.Fatalf("ReadResponse(%q) = %v (%s), Lint found %+v", in, err, rule.ID, vs)
		}
	})
}
