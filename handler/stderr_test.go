package handler_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"gatewayd/handler"
)

func TestStderrLog(t *testing.T) {
	var logs bytes.Buffer
	log := hclog.New(&hclog.LoggerOptions{Output: &logs, Level: hclog.Debug})
	s := handler.NewStderrLog(&handler.Call{Log: log}, 64, "pid", 42)
	// Lines arrive in pieces; a control character must not forge a line.
	s.Write([]byte("first li"))
	s.Write([]byte("ne\nsecond\x1b[31m\nthi"))
	s.Write([]byte("rd, cut at the end"))
	s.Write([]byte(strings.Repeat("x", 100) + "\n")) // over the bound
	s.Close()
	got := logs.String()
	for _, want := range []string{
		"stderr: first line: pid=42", `stderr: second\x1b[31m: pid=42`,
		"stderr truncated: pid=42 logged_bytes=", "dropped_bytes=",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("log lacks %q:\n%s", want, got)
		}
	}
	if strings.Count(got, "\n") != 3 {
		t.Errorf("want the two lines that fit and the truncation, got:\n%s", got)
	}
	if tail := s.Tail(); !strings.HasSuffix(tail, strings.Repeat("x", 100)) || !strings.Contains(tail, "cut at the end") {
		t.Errorf("Tail = %q, want the end of everything written", tail)
	}
}

func TestStderrLogSink(t *testing.T) {
	var sink bytes.Buffer
	s := handler.NewStderrLog(&handler.Call{Stderr: &sink}, 0)
	long := strings.Repeat("y", 5000)
	s.Write([]byte(long + "\nend"))
	s.Close()
	if sink.String() != long+"\nend" {
		t.Errorf("sink got %d bytes, want the %d written", sink.Len(), len(long)+4)
	}
}

// A program's stderr, written in pieces, passed on line by line with the
// request's log fields.
func ExampleStderrLog() {
	log := hclog.New(&hclog.LoggerOptions{Output: exampleOut{}, DisableTime: true})
	s := handler.NewStderrLog(&handler.Call{Log: log.With("request_id", "7")}, 0, "pid", 1234)
	fmt.Fprint(s, "PHP Warning:  Undefined variable $x\nPHP Notice: ")
	fmt.Fprint(s, "done")
	s.Close()
	fmt.Println(s.Tail())
	// Output:
	// [WARN]  stderr: PHP Warning:  Undefined variable $x: pid=1234 request_id=7
	// [WARN]  stderr: PHP Notice: done: pid=1234 request_id=7
	// PHP Warning:  Undefined variable $x
	// PHP Notice: done
}

func ExamplePrintable() {
	fmt.Println(handler.Printable([]byte("ok line\r\n")))
	fmt.Println(handler.Printable([]byte("forged\n[ERROR] line")))
	// Output:
	// ok line
	// forged\n[ERROR] line
}

type exampleOut struct{}

func (exampleOut) Write(b []byte) (int, error) { return fmt.Print(string(b)) }

// The end of a long output, for the line that says why a program failed.
func ExampleTail() {
	var t handler.Tail
	for i := range 1000 {
		fmt.Fprintf(&t, "line %d\n", i)
	}
	s := t.String()
	fmt.Println(len(s) <= 1024, s[len(s)-8:])
	// Output: true line 999
}
