//go:build unix

package subprocess_test

import (
	"fmt"
	"os/exec"
	"syscall"

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
