// Package ops is what a service manager and a monitoring system see of
// gatewayd: its readiness and its state, sent over systemd's notification
// protocol (sd_notify(3)) for a unit of Type=notify or Type=notify-reload,
// with the watchdog; and the admin listener's endpoints, /metrics
// (Prometheus), /status (JSON) and /healthz.
//
// The request pipeline reports each request's end through
// handler.Observer, which Metrics implements; this package alone knows
// Prometheus. Gauges (programs running, queue, workers) are read from the
// daemon's state at each scrape, never pushed by the request path.
package ops

import (
	"context"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/hashicorp/go-hclog"
)

// Notifier tells the service manager what gatewayd is doing: ready, reloading,
// stopping. Without NOTIFY_SOCKET (not started by systemd) it does
// nothing. A message that cannot be sent is logged, once: the service
// goes on serving whatever its manager thinks. It is safe for concurrent
// use.
type Notifier struct {
	log     hclog.Logger
	enabled bool
	failed  sync.Once
}

// NewNotifier returns a Notifier that logs its failure to log.
func NewNotifier(log hclog.Logger) *Notifier {
	return &Notifier{log: log, enabled: os.Getenv("NOTIFY_SOCKET") != ""}
}

// Enabled reports whether a service manager listens (NOTIFY_SOCKET was
// set when n was made): what is only ever told to it need not be worked
// out otherwise.
func (n *Notifier) Enabled() bool { return n.enabled }

// Ready says that every listener serves: at start, and when a reload is
// done (READY=1), with status as the unit's status line.
func (n *Notifier) Ready(status string) { n.send("READY=1", "STATUS="+status) }

// Reloading says that a reload begins (RELOADING=1), with the monotonic
// time that Type=notify-reload wants; Ready follows when it is done,
// whether or not the new configuration took.
func (n *Notifier) Reloading() {
	n.send("RELOADING=1", strings.TrimSuffix(daemon.SdNotifyMonotonicUsec(), "\n"), "STATUS=reloading the configuration")
}

// Stopping says that the drain begins (STOPPING=1) and that it may take
// up to bound: systemd then waits that long before it kills what is left
// (EXTEND_TIMEOUT_USEC), rather than its own stop timeout if that is
// shorter.
func (n *Notifier) Stopping(bound time.Duration) {
	n.send("STOPPING=1", "STATUS=finishing the requests in flight",
		"EXTEND_TIMEOUT_USEC="+strconv.FormatInt(bound.Microseconds(), 10))
}

// Status sets the unit's status line (STATUS=).
func (n *Notifier) Status(status string) { n.send("STATUS=" + status) }

// WatchdogInterval returns how often the service manager wants to hear
// that gatewayd is alive: half the WATCHDOG_USEC it set (WatchdogSec=), or
// 0 when it set none for this process.
func WatchdogInterval() time.Duration {
	usec, err := daemon.SdWatchdogEnabled(false)
	if err != nil || usec <= 0 {
		return 0
	}
	return usec / 2
}

// Watchdog feeds the service manager's watchdog until ctx ends: every
// interval it runs check, with interval as its deadline, and sends
// WATCHDOG=1 only when check passes. A check that fails is logged when it
// begins to fail and when it passes again; meanwhile nothing is sent, so
// that the service manager restarts a gatewayd that no longer serves.
func (n *Notifier) Watchdog(ctx context.Context, interval time.Duration, check func(context.Context) error) {
	t := time.NewTicker(interval)
	defer t.Stop()
	failing := false
	for {
		cctx, cancel := context.WithTimeout(ctx, interval)
		err := check(cctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil && !failing:
			n.log.Error("self-check failed: not feeding the watchdog (WATCHDOG=1)", "error", err)
		case err == nil && failing:
			n.log.Info("self-check passes again: feeding the watchdog")
		}
		failing = err != nil
		if !failing {
			n.send("WATCHDOG=1")
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}

func (n *Notifier) send(fields ...string) {
	msg := strings.Join(fields, "\n")
	if _, err := daemon.SdNotify(false, msg); err != nil {
		n.failed.Do(func() {
			n.log.Warn("cannot notify the service manager (NOTIFY_SOCKET)", "error", err)
		})
	}
}
