//go:build unix

package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// gatewayd is the binary built for these tests.
var gatewayd string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gatewayd-integration-")
	if err != nil {
		panic(err)
	}
	gatewayd = filepath.Join(dir, "gatewayd")
	if out, err := exec.Command("go", "build", "-o", gatewayd, "../cmd/gatewayd").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build gatewayd: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var servingURL = regexp.MustCompile(`url="?((?:http|fastcgi|scgi)(?:\+unix)?:[^\s"]+)`)

// startGatewayd runs gatewayd with args until the test or benchmark ends
// and returns the process and the URL of its first listener, as it logs it
// (http://127.0.0.1:PORT, fastcgi+unix:/path, …).
func startGatewayd(tb testing.TB, args ...string) (*process, string) {
	tb.Helper()
	p := startProcess(tb, "gatewayd", exec.Command(gatewayd, args...))
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if m := servingURL.FindStringSubmatch(p.output()); m != nil {
			return p, m[1]
		}
		select {
		case <-p.exited:
			tb.Fatalf("gatewayd %v exited before serving:\n%s", args, p.output())
		case <-time.After(10 * time.Millisecond):
		}
	}
	tb.Fatalf("gatewayd %v did not start serving:\n%s", args, p.output())
	return nil, ""
}
