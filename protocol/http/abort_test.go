package http_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	nethttp "net/http"
	"strings"
	"testing"
	"time"

	"gatewayd/handler"
	gwhttp "gatewayd/protocol/http"
)

// stallApp writes head and then nothing until its request is stopped.
type stallApp string

func (a stallApp) Start(ctx context.Context, _ *handler.Call) (handler.Run, error) {
	return &stallRun{ctx: ctx, head: strings.NewReader(string(a))}, nil
}

type stallRun struct {
	ctx  context.Context
	head *strings.Reader
}

func (r *stallRun) Read(p []byte) (int, error) {
	if r.head.Len() > 0 {
		return r.head.Read(p)
	}
	<-r.ctx.Done()
	return 0, io.EOF
}

func (*stallRun) Wait() handler.Exit { return handler.Exit{} }

// TestAbortedResponse: a response cut short by a timeout after its header
// reaches the client incomplete, not as a short body that looks whole.
func TestAbortedResponse(t *testing.T) {
	addr := start(t, "tcp", "127.0.0.1:0",
		handler.Config{App: stallApp("Content-Type: text/plain\r\n\r\npartial"), Timeout: 200 * time.Millisecond}, gwhttp.Config{})
	resp, err := nethttp.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if !errors.Is(err, io.ErrUnexpectedEOF) || string(b) != "partial" {
		t.Errorf("body = %q, %v; want \"partial\" and io.ErrUnexpectedEOF", b, err)
	}
}

// TestUnreadBodyClosesConnection: a program that answers without reading
// its whole body gets "Connection: close" on its response, so that a
// client does not send its next request on a connection about to close;
// one that read its body keeps the connection.
func TestUnreadBodyClosesConnection(t *testing.T) {
	tests := []struct {
		name      string
		app       handler.App
		wantClose bool
	}{
		{"body unread", outputApp("Content-Type: text/plain\r\n\r\nok"), true},
		{"body read", envApp{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := start(t, "tcp", "127.0.0.1:0", handler.Config{App: tt.app}, gwhttp.Config{})
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			body := strings.Repeat("x", 1<<20)
			go io.WriteString(c, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1048576\r\n\r\n"+body)
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			resp, err := nethttp.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			if resp.Close != tt.wantClose {
				t.Errorf("response Connection %q: Close = %v, want %v", resp.Header.Get("Connection"), resp.Close, tt.wantClose)
			}
		})
	}
}

// TestUnreadBodyNextRequest: a client that reuses its connection after a
// program ignored a large body gets every next request answered.
func TestUnreadBodyNextRequest(t *testing.T) {
	addr := start(t, "tcp", "127.0.0.1:0", handler.Config{App: outputApp("Content-Type: text/plain\r\n\r\nok")}, gwhttp.Config{})
	client := &nethttp.Client{Transport: &nethttp.Transport{MaxIdleConnsPerHost: 1}}
	defer client.CloseIdleConnections()
	big := strings.Repeat("x", 1<<20)
	for i := range 40 {
		for _, body := range []string{big, "small"} {
			resp, err := client.Post("http://"+addr+"/", "text/plain", strings.NewReader(body))
			if err != nil {
				t.Fatalf("round %d: POST of %d bytes: %v", i, len(body), err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
}
