package scgi_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"

	"gatewayd/handler"
	"gatewayd/protocol/scgi"
)

// TestAbortedResponse: a response cut short by a timeout after its header
// ends in a reset, which the web server can tell from the close that ends
// a whole response.
func TestAbortedResponse(t *testing.T) {
	stall := appFunc(func(ctx context.Context, _ *handler.Call, w io.Writer) error {
		io.WriteString(w, "Content-Type: text/plain\r\n\r\npartial")
		<-ctx.Done()
		return ctx.Err()
	})
	ts := startServer(t, handler.Config{App: stall, Timeout: 200 * time.Millisecond}, scgi.Config{})
	c := dial(t, ts.addr)
	io.WriteString(c, request("", "REQUEST_METHOD", "GET"))
	b, err := io.ReadAll(c)
	if !strings.HasSuffix(string(b), "partial") || !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("response %q ended with %v, want \"partial\" and a reset", b, err)
	}
}
