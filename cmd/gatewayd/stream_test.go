//go:build unix

package main

import (
	"bufio"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestStreamUnknownLength: a chunked body is spooled by default, so the
// program gets its CONTENT_LENGTH; with --stream-unknown-length, or a
// mount's stream_unknown_length, the program starts while the body is
// still arriving, reads it to its end, and gets no CONTENT_LENGTH. That
// is what lets a large chunked git push start at once.
func TestStreamUnknownLength(t *testing.T) {
	dir := t.TempDir()
	// The program answers its first line at once, then counts the rest.
	writeScript(t, dir, "echo.sh", `read -r first
printf 'Content-Type: text/plain\r\n\r\n%s %s\n' "${CONTENT_LENGTH-none}" "$first"
exec wc -c`)
	conf := filepath.Join(dir, "gatewayd.hcl")
	os.WriteFile(conf, []byte(`listen "http" {
  address = "127.0.0.1:0"
}
mount "/stream" {
  program = ["`+filepath.Join(dir, "echo.sh")+`"]
  stream_unknown_length = true
}
mount "/spool" {
  program = ["`+filepath.Join(dir, "echo.sh")+`"]
}
`), 0o644)
	rest := strings.Repeat("x", 300000)

	// spooled sends the whole body chunked and reads the answer.
	spooled := func(t *testing.T, url string) string {
		req, _ := http.NewRequest("POST", url, io.NopCloser(strings.NewReader("first\n"+rest)))
		req.ContentLength = -1 // chunked
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	// streamed sends the first line, waits for the program's answer to it,
	// and only then sends the rest and ends the body.
	streamed := func(t *testing.T, url string) string {
		pr, pw := io.Pipe()
		req, _ := http.NewRequest("POST", url, pr)
		req.ContentLength = -1
		go pw.Write([]byte("first\n"))
		type result struct {
			resp *http.Response
			err  error
		}
		done := make(chan result, 1)
		go func() {
			resp, err := http.DefaultClient.Do(req)
			done <- result{resp, err}
		}()
		var r result
		select {
		case r = <-done:
		case <-time.After(10 * time.Second):
			pw.Close()
			t.Fatal("no response while the body was still being sent: the program did not start")
		}
		if r.err != nil {
			t.Fatal(r.err)
		}
		defer r.resp.Body.Close()
		br := bufio.NewReader(r.resp.Body)
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("first line: %v", err)
		}
		pw.Write([]byte(rest))
		pw.Close()
		tail, _ := io.ReadAll(br)
		return line + string(tail)
	}

	t.Run("mount", func(t *testing.T) {
		d := start(t, exec.Command(binary, "serve", "--config", conf))
		if got, want := streamed(t, d.url+"/stream"), "none first\n300000\n"; got != want {
			t.Errorf("streamed body: got %q, want %q", got, want)
		}
		if got, want := spooled(t, d.url+"/spool"), "300006 first\n300000\n"; got != want {
			t.Errorf("spooled body: got %q, want %q", got, want)
		}
	})
	t.Run("flag", func(t *testing.T) {
		d := serveRoot(t, dir, "--stream-unknown-length")
		if got, want := streamed(t, d.url+"/echo.sh"), "none first\n300000\n"; got != want {
			t.Errorf("streamed body: got %q, want %q", got, want)
		}
	})
}
