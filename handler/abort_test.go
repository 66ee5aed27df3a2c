package handler_test

import (
	"strings"
	"testing"
	"time"

	"gatewayd/handler"
)

// TestTimeoutAfterHeader: a program stopped by a timeout after its header
// went out is a failed request, logged with its reason, and its response
// is marked aborted so that no front-end ends it as if it were whole.
func TestTimeoutAfterHeader(t *testing.T) {
	out, res, logs := run(t, handler.Config{App: stall{head: "Content-Type: text/plain\r\n\r\npartial"},
		Timeout: 200 * time.Millisecond, IdleTimeout: time.Minute}, request())
	if !strings.HasSuffix(out, "partial") {
		t.Errorf("output = %q, want the header and what the program wrote", out)
	}
	if !res.Aborted || res.Err == nil || res.Status != 200 {
		t.Errorf("Result = %+v, want status 200, an error and Aborted", res)
	}
	if !strings.Contains(logs, "request failed") || !strings.Contains(logs, "timed out") {
		t.Errorf("log does not say the request failed on its timeout:\n%s", logs)
	}
}

// TestErrorPageNotAborted: an error page is a whole response.
func TestErrorPageNotAborted(t *testing.T) {
	_, res, _ := run(t, handler.Config{App: output("garbage")}, request())
	if res.Aborted || res.Status != 500 || res.Err == nil {
		t.Errorf("Result = %+v, want a 500 that is not aborted", res)
	}
}
