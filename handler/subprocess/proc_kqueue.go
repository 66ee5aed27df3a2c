//go:build darwin || dragonfly || freebsd || netbsd || openbsd

package subprocess

import (
	"os"
	"syscall"
)

// waitExited blocks until the process pid has exited, without reaping it:
// kqueue's EVFILT_PROC NOTE_EXIT tells of the exit and leaves the zombie.
// While it stays a zombie its pid, and so its process group id, cannot be
// reused, which makes it safe to signal the group afterwards.
func waitExited(pid int) error {
	_, err := procExit(pid, nil)
	return err
}

// exited reports, without waiting and without reaping it, whether the
// process pid has exited.
func exited(pid int) (bool, error) {
	return procExit(pid, &syscall.Timespec{})
}

// procExit waits up to timeout (nil: for ever) for pid to exit and reports
// whether it has. A pid the kernel no longer finds (ESRCH) has exited: it is
// a zombie, as only its parent, gatewayd, reaps it and it has not.
func procExit(pid int, timeout *syscall.Timespec) (bool, error) {
	kq, err := syscall.Kqueue()
	if err != nil {
		return false, os.NewSyscallError("kqueue", err)
	}
	defer syscall.Close(kq)
	var ev [1]syscall.Kevent_t
	for {
		syscall.SetKevent(&ev[0], pid, syscall.EVFILT_PROC, syscall.EV_ADD|syscall.EV_ONESHOT)
		ev[0].Fflags = syscall.NOTE_EXIT
		n, err := syscall.Kevent(kq, ev[:], ev[:], timeout)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.ESRCH:
			return true, nil
		case err != nil:
			return false, os.NewSyscallError("kevent", err)
		case n == 0:
			return false, nil
		case ev[0].Flags&syscall.EV_ERROR != 0:
			if errno := syscall.Errno(ev[0].Data); errno != syscall.ESRCH {
				return false, os.NewSyscallError("kevent", errno)
			}
			return true, nil
		default:
			return ev[0].Fflags&syscall.NOTE_EXIT != 0, nil
		}
	}
}
