package http_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	nethttp "net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"gatewayd/handler"
	"gatewayd/handler/subprocess"
	gwhttp "gatewayd/protocol/http"
)

// envApp answers every request with "NAME=value" lines for the variables it
// is asked for ("NAME unset" when absent), and the body it read.
type envApp []string

func (a envApp) Start(_ context.Context, c *handler.Call) (handler.Run, error) {
	body, err := io.ReadAll(c.Body)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	b.WriteString("Content-Type: text/plain\r\n\r\n")
	for _, k := range a {
		if v, ok := c.Env[k]; ok {
			fmt.Fprintf(&b, "%s=%s\n", k, v)
		} else {
			fmt.Fprintf(&b, "%s unset\n", k)
		}
	}
	fmt.Fprintf(&b, "body=%s", body)
	return run{strings.NewReader(b.String())}, nil
}

type run struct{ io.Reader }

func (run) Wait() handler.Exit { return handler.Exit{} }

// outputApp prints the same CGI output for every request.
type outputApp string

func (o outputApp) Start(context.Context, *handler.Call) (handler.Run, error) {
	return run{strings.NewReader(string(o))}, nil
}

// start serves cfg on network/addr and returns the listener's address.
func start(t *testing.T, network, addr string, hc handler.Config, sc gwhttp.Config) string {
	t.Helper()
	hc.Logger = hclog.NewNullLogger()
	h, err := handler.New(hc)
	if err != nil {
		t.Fatal(err)
	}
	sc.Handler = h
	sc.ServerSoftware = "gatewayd/test"
	srv := gwhttp.New(sc)
	l, err := net.Listen(network, addr)
	if err != nil {
		t.Skipf("listen %s %s: %v", network, addr, err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-done; !errors.Is(err, nethttp.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return l.Addr().String()
}

// exchange sends a raw request and returns everything the server sends
// until it closes the connection or goes quiet.
func exchange(t *testing.T, network, addr, request string) string {
	t.Helper()
	c, err := net.Dial(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	b, _ := io.ReadAll(c)
	return string(b)
}

func body(resp string) string {
	_, b, _ := strings.Cut(resp, "\r\n\r\n")
	return b
}

// TestEnviron: the environment a request produces (wsgiref test_environ and
// test_cp1252_url, and the meta-variables of RFC 3875 §4.1 as the HTTP
// front-end sets them).
func TestEnviron(t *testing.T) {
	keys := []string{
		"HTTP_X_TEST_HEADER", "QUERY_STRING", "PATH_INFO", "SCRIPT_NAME", "SERVER_PROTOCOL", "REQUEST_METHOD",
		"CONTENT_LENGTH", "CONTENT_TYPE", "SERVER_NAME", "SERVER_PORT", "REMOTE_ADDR", "REMOTE_HOST",
		"HTTP_HOST", "HTTP_HELLO", "HTTP_COOKIE", "HTTP_X_FOO_BAR", "HTTP_AUTHORIZATION", "HTTP_PROXY",
		"HTTP_PROXY_AUTHORIZATION", "HTTP_CONTENT_TYPE", "HTTP_XX_YY123", "REQUEST_URI", "SERVER_SOFTWARE",
		"GATEWAY_INTERFACE", "REQUEST_SCHEME",
	}
	addr := start(t, "tcp", "127.0.0.1:0", handler.Config{App: envApp(keys)}, gwhttp.Config{})
	_, port, _ := net.SplitHostPort(addr)
	tests := []struct {
		name string
		req  string
		want []string
	}{
		{"wsgiref test_environ",
			"GET /p%61th/?query=test HTTP/1.0\r\nX-Test-Header: Python test \r\nX-Test-Header: Python test 2\r\nContent-Length: 0\r\n\r\n",
			[]string{"HTTP_X_TEST_HEADER=Python test, Python test 2", "QUERY_STRING=query=test", "PATH_INFO=/path/",
				"SERVER_PROTOCOL=HTTP/1.0", "SCRIPT_NAME=", "CONTENT_LENGTH=0", "HTTP_HOST unset", "REQUEST_URI=/p%61th/?query=test"}},
		{"wsgiref test_cp1252_url", "GET /\x80%80 HTTP/1.0\r\n\r\n", []string{"PATH_INFO=/\x80\x80"}},
		{"empty query", "GET /s? HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", []string{"QUERY_STRING="}},
		{"no body", "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", []string{"CONTENT_LENGTH unset", "CONTENT_TYPE unset"}},
		{"body length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 15\r\nConnection: close\r\n\r\nquantity=100&it",
			[]string{"CONTENT_LENGTH=15", "CONTENT_TYPE unset", "body=quantity=100&it"}},
		{"chunked body counted", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\na\r\n0123456789\r\n0\r\n\r\n",
			[]string{"CONTENT_LENGTH=10", "body=0123456789"}},
		{"content type", "POST / HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
			[]string{"CONTENT_TYPE=application/x-www-form-urlencoded", "HTTP_CONTENT_TYPE unset"}},
		{"path decoded, case kept", "GET /probe.cgi/This%2eIs/PaTh?env=PATH_INFO HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
			[]string{"PATH_INFO=/probe.cgi/This.Is/PaTh"}},
		{"method verbatim", "PROPFIND / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", []string{"REQUEST_METHOD=PROPFIND"}},
		{"virtual host, real port", "GET / HTTP/1.1\r\nHost: righthost\r\nConnection: close\r\n\r\n",
			[]string{"SERVER_NAME=righthost", "SERVER_PORT=" + port, "HTTP_HOST=righthost"}},
		{"remote address", "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
			[]string{"REMOTE_ADDR=127.0.0.1", "REMOTE_HOST=127.0.0.1"}},
		{"protocol and software", "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
			[]string{"SERVER_PROTOCOL=HTTP/1.1", "SERVER_SOFTWARE=gatewayd/test", "GATEWAY_INTERFACE=CGI/1.1", "REQUEST_SCHEME=http"}},
		{"digits in names", "GET / HTTP/1.1\r\nHost: h\r\nxx-yy123: foo\r\nConnection: close\r\n\r\n", []string{"HTTP_XX_YY123=foo"}},
		{"cookies joined", "GET / HTTP/1.1\r\nHost: h\r\nCookie: nom=NOM\r\nCookie: yum=YUM\r\nConnection: close\r\n\r\n",
			[]string{"HTTP_COOKIE=nom=NOM; yum=YUM"}},
		{"obs-fold merged", "GET / HTTP/1.1\r\nHost: h\r\nHello: Foo\r\n\tBar\r\nConnection: close\r\n\r\n", []string{"HTTP_HELLO=Foo Bar"}},
		{"authorization dropped", "GET / HTTP/1.1\r\nHost: h\r\nAuthorization: Basic c2hhOnNoYQ==\r\nProxy-Authorization: x\r\nConnection: close\r\n\r\n",
			[]string{"HTTP_AUTHORIZATION unset", "HTTP_PROXY_AUTHORIZATION unset"}},
		{"httpoxy", "GET / HTTP/1.1\r\nHost: h\r\nProxy: http://evil:8080/\r\nConnection: close\r\n\r\n", []string{"HTTP_PROXY unset"}},
		{"underscores dropped", "GET / HTTP/1.1\r\nHost: h\r\nX-Foo-Bar: a\r\nX-Foo_Bar: b\r\nContent_Type: evil\r\nConnection: close\r\n\r\n",
			[]string{"HTTP_X_FOO_BAR=a", "CONTENT_TYPE unset", "HTTP_CONTENT_TYPE unset"}},
		{"leading slashes collapsed (gh-87389)", "GET //evil.com/x?q HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
			[]string{"PATH_INFO=/evil.com/x", "REQUEST_URI=//evil.com/x?q"}},
		{"absolute form", "GET http://other.example/x?y HTTP/1.1\r\nHost: other.example\r\nConnection: close\r\n\r\n",
			[]string{"PATH_INFO=/x", "QUERY_STRING=y", "SERVER_NAME=other.example"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := body(exchange(t, "tcp", addr, tt.req))
			for _, w := range tt.want {
				if !strings.Contains("\n"+got+"\n", "\n"+w+"\n") && !strings.HasSuffix(got, "\n"+w) {
					t.Errorf("environ lacks %q:\n%s", w, got)
				}
			}
		})
	}
}

func TestPassAuthorization(t *testing.T) {
	addr := start(t, "tcp", "127.0.0.1:0", handler.Config{App: envApp{"HTTP_AUTHORIZATION"}},
		gwhttp.Config{PassAuthorization: true})
	got := body(exchange(t, "tcp", addr, "GET / HTTP/1.1\r\nHost: h\r\nAuthorization: Basic c2hhOnNoYQ==\r\nConnection: close\r\n\r\n"))
	if !strings.Contains(got, "HTTP_AUTHORIZATION=Basic c2hhOnNoYQ==\n") {
		t.Errorf("environ = %q, want HTTP_AUTHORIZATION passed", got)
	}
}

func TestIPv6(t *testing.T) {
	addr := start(t, "tcp6", "[::1]:0", handler.Config{App: envApp{"REMOTE_ADDR", "SERVER_NAME"}}, gwhttp.Config{})
	got := body(exchange(t, "tcp6", addr, "GET / HTTP/1.0\r\n\r\n"))
	if !strings.Contains(got, "REMOTE_ADDR=::1\n") || !strings.Contains(got, "SERVER_NAME=[::1]\n") {
		t.Errorf("environ = %q, want REMOTE_ADDR=::1 and SERVER_NAME=[::1]", got)
	}
}

func TestUnixSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "s")
	addr := start(t, "unix", sock, handler.Config{App: envApp{"REMOTE_ADDR", "SERVER_PORT"}}, gwhttp.Config{})
	got := body(exchange(t, "unix", addr, "GET / HTTP/1.1\r\nHost: localhost:81\r\nConnection: close\r\n\r\n"))
	if !strings.Contains(got, "REMOTE_ADDR=unix:\n") || !strings.Contains(got, "SERVER_PORT=81\n") {
		t.Errorf("environ = %q, want REMOTE_ADDR=unix: and the Host's port", got)
	}
}

var date = regexp.MustCompile(`\r\nDate: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT\r\n`)

// TestOriginForm: responses are HTTP/1.1 with Date and Server; a program's
// own Date and Server are kept and not doubled (RFC 3875 §6.3.4); HEAD has
// no body; a small response that ends at once gets a Content-Length, not
// chunks.
func TestOriginForm(t *testing.T) {
	tests := []struct {
		name, out, method string
		want              []string
		not               []string
	}{
		{"defaults", "Content-Type: text/plain\r\n\r\nhello", "GET",
			[]string{"HTTP/1.1 200 OK\r\n", "\r\nServer: gatewayd/test\r\n", "\r\nContent-Type: text/plain\r\n",
				"\r\nContent-Length: 5\r\n", "\r\n\r\nhello"}, []string{"chunked"}},
		{"program's own Date and Server", "Content-Type: text/plain\r\nDate: Mon, 05 Jun 2006 18:49:54 GMT\r\nServer: S/1\r\n\r\nx", "GET",
			[]string{"\r\nDate: Mon, 05 Jun 2006 18:49:54 GMT\r\n", "\r\nServer: S/1\r\n"}, []string{"gatewayd/test"}},
		{"HEAD", "Content-Type: text/plain\r\n\r\nbody that must not be sent", "HEAD",
			[]string{"HTTP/1.1 200 OK\r\n"}, []string{"must not"}},
		{"status without reason", "Status: 404\r\nContent-Type: text/plain\r\n\r\nnf", "GET",
			[]string{"HTTP/1.1 404 Not Found\r\n"}, nil},
		{"field names in another case (PHP's Content-type)", "Content-type: text/html\r\ndate: Mon, 05 Jun 2006 18:49:54 GMT\r\nX-mixed-Case: kept\r\n\r\nx", "GET",
			[]string{"\r\nContent-Type: text/html\r\n", "\r\nDate: Mon, 05 Jun 2006 18:49:54 GMT\r\n", "\r\nX-mixed-Case: kept\r\n"}, []string{"text/plain"}},
		{"framing fields from the program", "Content-Type: text/plain\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nplain", "GET",
			[]string{"\r\n\r\nplain"}, []string{"chunked"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := start(t, "tcp", "127.0.0.1:0", handler.Config{App: outputApp(tt.out)}, gwhttp.Config{})
			got := exchange(t, "tcp", addr, tt.method+" / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
			if !strings.HasPrefix(tt.name, "program's own Date") && !strings.HasPrefix(tt.name, "field names") && !date.MatchString(got) {
				t.Errorf("response has no Date:\n%q", got)
			}
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("response lacks %q:\n%q", w, got)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(got, n) {
					t.Errorf("response holds %q:\n%q", n, got)
				}
			}
			if strings.Count(got, "\r\nDate: ") != 1 || strings.Count(got, "\r\nServer: ") != 1 {
				t.Errorf("response has not exactly one Date and one Server:\n%q", got)
			}
		})
	}
}

// TestKeepAlive: two requests on one connection, each a body of unknown
// length streamed chunked.
func TestKeepAlive(t *testing.T) {
	app := handler.HTTPApp(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "streamed ")
		w.(nethttp.Flusher).Flush()
		time.Sleep(50 * time.Millisecond) // a pause: the client gets what there is
		io.WriteString(w, r.URL.Path)
	}))
	addr := start(t, "tcp", "127.0.0.1:0", handler.Config{App: app}, gwhttp.Config{})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for _, path := range []string{"/one", "/two"} {
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: h\r\n\r\n", path)
		resp, err := nethttp.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "streamed "+path || len(resp.TransferEncoding) == 0 || resp.TransferEncoding[0] != "chunked" {
			t.Errorf("%s: body %q, transfer encoding %v; want streamed %s, chunked", path, b, resp.TransferEncoding, path)
		}
	}
}

func TestHeaderTooLarge(t *testing.T) {
	addr := start(t, "tcp", "127.0.0.1:0", handler.Config{App: outputApp("Content-Type: text/plain\r\n\r\n")},
		gwhttp.Config{MaxHeaderBytes: 1 << 10})
	got := exchange(t, "tcp", addr, "GET / HTTP/1.1\r\nHost: h\r\nX-Big: "+strings.Repeat("a", 8<<10)+"\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 431 ") {
		t.Errorf("response = %.60q, want 431", got)
	}
}

// TestNPH: an nph- program's output reaches the client unmodified and the
// connection is closed after it (RFC 3875 §5.2).
func TestNPH(t *testing.T) {
	root := t.TempDir()
	const raw = "HTTP/1.0 200 OK\r\nContent-type: text/html\nPragma: no-cache\nCache-control: must-revalidate, no-cache, no-store\nExpires: -1\n\nok\n"
	script := "#!/bin/sh\nprintf '" + strings.NewReplacer("\r", `\r`, "\n", `\n`).Replace(raw) + "'\n"
	if err := os.WriteFile(filepath.Join(root, "nph-probe.cgi"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	r := subprocess.New(subprocess.Config{})
	defer r.Close()
	addr := start(t, "tcp", "127.0.0.1:0", handler.Config{App: r, Root: root}, gwhttp.Config{})
	got := exchange(t, "tcp", addr, "GET /nph-probe.cgi HTTP/1.1\r\nHost: h\r\n\r\n")
	if got != raw {
		t.Errorf("NPH response = %q, want exactly %q", got, raw)
	}
}
