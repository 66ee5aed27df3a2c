package handler_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"gatewayd/environ"
	"gatewayd/handler"
)

// TestPipedBodyIsActivity: a body that is piped, not read, still counts
// as I/O for the idle timeout: an upload slower than the timeout in all
// but its pace is not cut off.
func TestPipedBodyIsActivity(t *testing.T) {
	h, _ := handler.New(handler.Config{App: pipeApp{}, IdleTimeout: 300 * time.Millisecond})
	body := &sender{pieces: strings.Split("a,b,c,d,e,f,g,h", ","), pause: 100 * time.Millisecond}
	req := &handler.Request{
		Env: environ.Environ{"REQUEST_METHOD": "POST", "SERVER_PROTOCOL": "HTTP/1.1", "SCRIPT_NAME": "",
			"CONTENT_LENGTH": "8"},
		Body: body,
	}
	var out strings.Builder
	h.Serve(context.Background(), req, handler.NewGatewayWriter(&out))
	if got := out.String(); !strings.HasPrefix(got, "Status: 200") || !strings.HasSuffix(got, `piped "abcdefgh"`) {
		t.Errorf("an 800 ms upload with a 300 ms idle timeout, moving every 100 ms: %q", got)
	}
}
