// Package ops is what a service manager sees of gatewayd: its readiness
// and its state, sent over systemd's notification protocol
// (sd_notify(3)), for a unit of Type=notify or Type=notify-reload.
package ops

import (
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
	log    hclog.Logger
	failed sync.Once
}

// NewNotifier returns a Notifier that logs its failure to log.
func NewNotifier(log hclog.Logger) *Notifier { return &Notifier{log: log} }

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

func (n *Notifier) send(fields ...string) {
	msg := strings.Join(fields, "\n")
	if _, err := daemon.SdNotify(false, msg); err != nil {
		n.failed.Do(func() {
			n.log.Warn("cannot notify the service manager (NOTIFY_SOCKET)", "error", err)
		})
	}
}
