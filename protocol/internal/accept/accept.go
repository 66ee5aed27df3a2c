// Package accept is what the FastCGI and SCGI servers' accept loops share:
// which errors from Accept may pass, and the back-off before the next try.
package accept

import (
	"errors"
	"net"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Temporary reports whether an error from Accept may pass: a timeout, or
// the process or system out of descriptors, buffers or memory. Any other
// error ends the listener.
func Temporary(err error) bool {
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		return true
	}
	for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// Backoff spaces the retries of a failing Accept: 5ms, doubling up to 1s,
// and back to the start after a success. The zero value is ready to use.
type Backoff struct {
	delay time.Duration
}

// Retry reports whether Accept should be tried again after err. For a
// Temporary error it logs the failure once and waits the next delay, and
// reports true; it reports false at once for any other error, or when quit
// is closed before the delay is over (the server is shutting down).
func (b *Backoff) Retry(err error, quit <-chan struct{}, log hclog.Logger) bool {
	if !Temporary(err) {
		return false
	}
	b.delay = min(max(2*b.delay, 5*time.Millisecond), time.Second)
	log.Warn("accept failed; retrying", "error", err, "delay", b.delay)
	t := time.NewTimer(b.delay)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-quit:
		return false
	}
}

// Reset starts the delays again, after a successful Accept.
func (b *Backoff) Reset() { b.delay = 0 }
