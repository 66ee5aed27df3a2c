//go:build aix || darwin

package subprocess

import (
	"os"
	"syscall"
)

// pipeCloexec makes a pipe whose ends are closed on exec. There is no pipe2
// here, so no child may be forked between the pipe and the flags, as
// os.Pipe does it.
func pipeCloexec(p *[2]int) error {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	if err := syscall.Pipe(p[:]); err != nil {
		return os.NewSyscallError("pipe", err)
	}
	syscall.CloseOnExec(p[0])
	syscall.CloseOnExec(p[1])
	return nil
}
