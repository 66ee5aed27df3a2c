package integration

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
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

var servingURL = regexp.MustCompile(`url=(http://\S+)`)

// startGatewayd runs gatewayd with args until the test or benchmark ends
// and returns the URL it serves. Its log goes to the test log only when the
// test fails.
func startGatewayd(tb testing.TB, args ...string) string {
	tb.Helper()
	cmd := exec.Command(gatewayd, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	urls := make(chan string, 1)
	exited := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := servingURL.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case urls <- m[1]:
				default:
				}
			}
		}
		cmd.Wait()
		close(exited)
	}()
	tb.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
			tb.Errorf("gatewayd did not stop on SIGTERM")
		}
	})
	select {
	case u := <-urls:
		return u
	case <-exited:
		tb.Fatalf("gatewayd %v exited before serving", args)
	case <-time.After(30 * time.Second):
		tb.Fatalf("gatewayd %v did not start serving", args)
	}
	return ""
}
