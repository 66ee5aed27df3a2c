package ops_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"gatewayd/cmd/gatewayd/internal/ops"
	"gatewayd/handler"
)

// What a Type=notify unit hears: here the test plays systemd's part and
// listens where NOTIFY_SOCKET points.
func ExampleNotifier() {
	systemd, done, err := fakeSystemd()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer done()

	n := ops.NewNotifier(hclog.NewNullLogger())
	n.Ready("serving 2 mounts on 1 listeners")
	n.Stopping(77 * time.Second)

	b := make([]byte, 512)
	for range 2 {
		k, _ := systemd.Read(b)
		fmt.Printf("%s\n--\n", b[:k])
	}
	// Output:
	// READY=1
	// STATUS=serving 2 mounts on 1 listeners
	// --
	// STOPPING=1
	// STATUS=finishing the requests in flight
	// EXTEND_TIMEOUT_USEC=77000000
	// --
}

// Without NOTIFY_SOCKET, not started by systemd, a Notifier does nothing.
func ExampleNewNotifier() {
	os.Unsetenv("NOTIFY_SOCKET")
	n := ops.NewNotifier(hclog.NewNullLogger())
	n.Ready("serving")
	n.Status("still serving")
	fmt.Println("nothing sent")
	// Output: nothing sent
}

// WatchdogSec=10 in a unit makes systemd set WATCHDOG_USEC=10000000:
// gatewayd then feeds the watchdog every 5s.
func ExampleWatchdogInterval() {
	os.Setenv("WATCHDOG_USEC", "10000000")
	defer os.Unsetenv("WATCHDOG_USEC")
	fmt.Println(ops.WatchdogInterval())
	// Output: 5s
}

// The watchdog is fed while the self-check passes.
func ExampleNotifier_Watchdog() {
	systemd, done, err := fakeSystemd()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer done()

	n := ops.NewNotifier(hclog.NewNullLogger())
	ctx, cancel := context.WithCancel(context.Background())
	go n.Watchdog(ctx, time.Second, func(context.Context) error { return nil })
	b := make([]byte, 64)
	k, _ := systemd.Read(b)
	cancel()
	fmt.Printf("%s\n", b[:k])
	// Output: WATCHDOG=1
}

// Metrics counts what the pipeline observes; the admin handler exports
// it with the daemon's state.
func ExampleMetrics_Handler() {
	m := ops.NewMetrics(func() ops.State {
		return ops.State{Started: time.Now(), Mounts: []ops.MountState{{Prefix: "/", MaxRunning: 8, MaxQueue: 128}}}
	})
	m.Observe(handler.Outcome{Mount: "/", Frontend: "fastcgi", Status: 200, Duration: 4 * time.Millisecond})
	m.Observe(handler.Outcome{Mount: "/", Frontend: "fastcgi", Status: 504, Duration: time.Minute, Stop: handler.StopTimeout})

	rec := httptest.NewRecorder()
	m.Handler(hclog.NewNullLogger()).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		if l := sc.Text(); strings.HasPrefix(l, "gatewayd_requests_total") || strings.HasPrefix(l, "gatewayd_programs_max") ||
			strings.HasPrefix(l, `gatewayd_program_stops_total{mount="/",reason="timeout"}`) {
			fmt.Println(l)
		}
	}
	// Unordered output:
	// gatewayd_requests_total{code="200",frontend="fastcgi",mount="/"} 1
	// gatewayd_requests_total{code="504",frontend="fastcgi",mount="/"} 1
	// gatewayd_program_stops_total{mount="/",reason="timeout"} 1
	// gatewayd_programs_max 8
}

// The status page's content, as /status sends it in JSON.
func ExampleMetrics_Status() {
	m := ops.NewMetrics(func() ops.State {
		return ops.State{Started: time.Now(), Accepted: 1, InFlight: 1,
			Mounts: []ops.MountState{{Prefix: "/", Serves: "scripts under /srv/cgi-bin", Running: 1, MaxRunning: 8, MaxQueue: 128}}}
	})
	st := m.Status()
	fmt.Println(st.State, st.InFlight, st.Running, st.MaxRunning, st.Mounts[0].Serves)
	// Output: serving 1 1 8 scripts under /srv/cgi-bin
}

// fakeSystemd plays systemd's part: it listens where it points
// NOTIFY_SOCKET. done closes the socket and unsets NOTIFY_SOCKET.
func fakeSystemd() (systemd *net.UnixConn, done func(), err error) {
	dir, err := os.MkdirTemp("", "notify")
	if err != nil {
		return nil, nil, err
	}
	sock := filepath.Join(dir, "notify")
	systemd, err = net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	os.Setenv("NOTIFY_SOCKET", sock)
	return systemd, func() {
		os.Unsetenv("NOTIFY_SOCKET")
		systemd.Close()
		os.RemoveAll(dir)
	}, nil
}

// Outside systemd nothing listens, and a daemon can skip what it would
// only tell the service manager.
func ExampleNotifier_Enabled() {
	os.Unsetenv("NOTIFY_SOCKET")
	fmt.Println(ops.NewNotifier(hclog.NewNullLogger()).Enabled())
	// Output: false
}
