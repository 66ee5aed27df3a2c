package accept

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

func TestTemporary(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{timeoutError{}, true},
		{&os.SyscallError{Syscall: "accept4", Err: syscall.EMFILE}, true},
		{fmt.Errorf("accept: %w", syscall.ENFILE), true},
		{syscall.ENOBUFS, true},
		{syscall.ENOMEM, true},
		{syscall.ECONNABORTED, false},
		{io.EOF, false},
		{context.Canceled, false},
	}
	for _, tt := range tests {
		if got := Temporary(tt.err); got != tt.want {
			t.Errorf("Temporary(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	var b Backoff
	quit := make(chan struct{})
	log := hclog.NewNullLogger()
	if b.Retry(errors.New("listener broken"), quit, log) {
		t.Errorf("Retry(permanent error) = true, want false")
	}
	for _, want := range []time.Duration{5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond} {
		if !b.Retry(syscall.EMFILE, quit, log) || b.delay != want {
			t.Errorf("Retry(EMFILE): delay %v, want %v and true", b.delay, want)
		}
	}
	b.delay = 800 * time.Millisecond
	close(quit) // shutting down: no wait, no retry
	if b.Retry(syscall.EMFILE, quit, log) || b.delay != time.Second {
		t.Errorf("Retry after quit: delay %v; want false and the delay capped at 1s", b.delay)
	}
	b.Reset()
	if b.delay != 0 {
		t.Errorf("Reset left delay %v", b.delay)
	}
}

// An accept loop with Backoff: retry what may pass, stop on the rest.
func ExampleBackoff() {
	var b Backoff
	quit := make(chan struct{})
	fmt.Println(b.Retry(syscall.EMFILE, quit, hclog.NewNullLogger()))
	fmt.Println(b.Retry(io.ErrClosedPipe, quit, hclog.NewNullLogger()))
	// Output:
	// true
	// false
}
