//go:build unix

package subprocess_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"syscall"

	"gatewayd/environ"
	"gatewayd/handler"
	"gatewayd/handler/subprocess"
)

// A long-lived process started as the Runner starts its children: the
// leader of its own process group, so that it can be signalled with
// everything it starts.
func ExampleStarter() {
	var s subprocess.Starter
	defer s.Close()
	cmd := exec.Command("/bin/sh", "-c", "echo worker running")
	out, _ := cmd.StdoutPipe()
	if err := s.Start(cmd); err != nil {
		fmt.Println(err)
		return
	}
	pgid, _ := syscall.Getpgid(cmd.Process.Pid)
	b := make([]byte, 64)
	n, _ := out.Read(b)
	cmd.Wait()
	fmt.Printf("%sleads its group: %v\n", b[:n], pgid == cmd.Process.Pid)
	// Output:
	// worker running
	// leads its group: true
}

// Usage is what the status page shows: one of two slots is taken while a
// program runs, and none once it has been waited for.
func ExampleRunner_Usage() {
	r := subprocess.New(subprocess.Config{MaxChildren: 2})
	defer r.Close()
	run, err := r.Start(context.Background(), &handler.Call{Program: "/bin/sh",
		Args: []string{"-c", "printf 'Content-Type: text/plain\\r\\n\\r\\nhi'"}, Env: environ.Environ{}, Body: http.NoBody})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(r.Usage())
	io.Copy(io.Discard, run)
	run.Wait()
	fmt.Println(r.Usage())
	// Output:
	// 1 0
	// 0 0
}
