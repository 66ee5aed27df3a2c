package ops_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"gatewayd/cmd/gatewayd/internal/ops"
)

// TestWatchdogCheck: no WATCHDOG=1 goes out while the self-check fails,
// the failure is logged once, and feeding resumes when it passes.
func TestWatchdogCheck(t *testing.T) {
	systemd, done, err := fakeSystemd()
	if err != nil {
		t.Fatal(err)
	}
	defer done()

	var logs syncBuffer
	n := ops.NewNotifier(hclog.New(&hclog.LoggerOptions{Output: &logs}))
	var calls, fedAfter atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		n.Watchdog(ctx, 5*time.Millisecond, func(context.Context) error {
			if calls.Add(1) <= 3 {
				return errors.New("listeners no longer accept: http://127.0.0.1:1")
			}
			return nil
		})
	}()
	b := make([]byte, 64)
	k, err := systemd.Read(b)
	fedAfter.Store(calls.Load())
	cancel()
	<-ended
	if err != nil || string(b[:k]) != "WATCHDOG=1" {
		t.Fatalf("first message = %q, %v; want WATCHDOG=1", b[:k], err)
	}
	if fedAfter.Load() < 4 {
		t.Errorf("WATCHDOG=1 sent after %d checks, 3 of which failed", fedAfter.Load())
	}
	log := logs.String()
	if strings.Count(log, "self-check failed") != 1 || !strings.Contains(log, "listeners no longer accept") ||
		strings.Count(log, "self-check passes again") != 1 {
		t.Errorf("log = %q, want the failure once and its end once", log)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
