package subprocess

import (
	"syscall"
	"unsafe"
)

// waitExited blocks until the process pid has exited, without reaping it.
// While it stays a zombie its pid, and so its process group id, cannot be
// reused, which makes it safe to signal the group afterwards.
func waitExited(pid int) error {
	const (
		pPID    = 1         // P_PID
		wNowait = 0x1000000 // WNOWAIT
	)
	var info [128]byte // siginfo_t
	for {
		_, _, errno := syscall.Syscall6(syscall.SYS_WAITID, pPID, uintptr(pid),
			uintptr(unsafe.Pointer(&info[0])), syscall.WEXITED|wNowait, 0, 0)
		if errno != syscall.EINTR {
			if errno != 0 {
				return errno
			}
			return nil
		}
	}
}
