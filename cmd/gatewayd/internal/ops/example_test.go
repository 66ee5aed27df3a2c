package ops_test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"

	"gatewayd/cmd/gatewayd/internal/ops"
)

// What a Type=notify unit hears: here the test plays systemd's part and
// listens where NOTIFY_SOCKET points.
func ExampleNotifier() {
	dir, _ := os.MkdirTemp("", "notify")
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "notify")
	systemd, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer systemd.Close()
	os.Setenv("NOTIFY_SOCKET", sock)
	defer os.Unsetenv("NOTIFY_SOCKET")

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
