//go:build unix && !aix && !darwin

package subprocess

import (
	"os"
	"syscall"
)

// pipeCloexec makes a pipe whose ends are closed on exec.
func pipeCloexec(p *[2]int) error {
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
		return os.NewSyscallError("pipe2", err)
	}
	return nil
}
