package fastcgi

import (
	"bytes"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/yookoala/gofast"

	"gatewayd/handler"
	"gatewayd/handler/subprocess"
)

// gofastDo sends req through gofast, an independent FastCGI client, and
// returns the response as gofast parses it and the stderr stream.
func gofastDo(t *testing.T, addr string, req *gofast.Request) (*httptest.ResponseRecorder, string) {
	t.Helper()
	c, err := gofast.SimpleClientFactory(gofast.SimpleConnFactory("tcp", addr))()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	var stderr bytes.Buffer
	if err := resp.WriteTo(rec, &stderr); err != nil {
		t.Fatal(err)
	}
	return rec, stderr.String()
}

func TestGofastResponder(t *testing.T) {
	r := runner(t, subprocess.Config{})
	prog := script(t, `printf 'Status: 201 Created\r\nContent-Type: text/plain\r\nX-Len: %s\r\n\r\n' "$CONTENT_LENGTH"
echo "stderr line" >&2
cat`)
	addr, _ := serve(t, handler.Config{App: r, Program: prog}, Config{StderrRecords: true})
	body := strings.Repeat("gatewayd ", 20000) // several STDIN records
	rec, stderr := gofastDo(t, addr, &gofast.Request{
		Role:   gofast.RoleResponder,
		Params: map[string]string{"REQUEST_METHOD": "POST", "CONTENT_LENGTH": "180000", "SERVER_PROTOCOL": "HTTP/1.1"},
		Stdin:  io.NopCloser(strings.NewReader(body)),
	})
	if rec.Code != 201 || rec.Header().Get("X-Len") != "180000" || rec.Body.String() != body {
		t.Errorf("gofast got %d, X-Len %q, %d body bytes; want 201, 180000 and the body back",
			rec.Code, rec.Header().Get("X-Len"), rec.Body.Len())
	}
	if stderr != "stderr line\n" {
		t.Errorf("gofast stderr = %q", stderr)
	}
}

func TestGofastAuthorizer(t *testing.T) {
	app := output("Status: 200 OK\r\nVariable-AUTH-USER: sha\r\n\r\nnot for the client")
	addr, _ := serve(t, handler.Config{App: app}, Config{})
	rec, _ := gofastDo(t, addr, &gofast.Request{
		Role:   gofast.RoleAuthorizer,
		Params: map[string]string{"REQUEST_METHOD": "GET", "REMOTE_USER": "sha"},
		Stdin:  io.NopCloser(strings.NewReader("")),
	})
	if rec.Code != 200 || rec.Header().Get("Variable-Auth-User") != "sha" || rec.Body.Len() != 0 {
		t.Errorf("gofast authorizer got %d %v %q", rec.Code, rec.Header(), rec.Body)
	}
}

func TestGofastFilter(t *testing.T) {
	addr, _ := serve(t, handler.Config{App: echo{keys: []string{"FCGI_ROLE", "FCGI_DATA_LENGTH"}}}, Config{})
	rec, _ := gofastDo(t, addr, &gofast.Request{
		Role: gofast.RoleFilter,
		Params: map[string]string{"REQUEST_METHOD": "GET", "CONTENT_LENGTH": "4",
			"FCGI_DATA_LENGTH": "6", "FCGI_DATA_LAST_MOD": "0"},
		Stdin: io.NopCloser(strings.NewReader("body")),
		Data:  io.NopCloser(strings.NewReader("<data>")),
	})
	want := "FCGI_ROLE=\"FILTER\"\nFCGI_DATA_LENGTH=\"6\"\nbody=\"body<data>\""
	if rec.Code != 200 || rec.Body.String() != want {
		t.Errorf("gofast filter got %d %q, want %q", rec.Code, rec.Body, want)
	}
}
