//go:build unix

package subprocess

import (
	"os/exec"
	"syscall"
)

// setGroup makes the child the leader of a new process group, so that a
// timeout or a client abort can signal everything it started.
func setGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// signalGroup sends sig to the process group led by pid. A group that is
// already gone is not an error.
func signalGroup(pid int, sig syscall.Signal) error {
	if err := syscall.Kill(-pid, sig); err != nil && err != syscall.ESRCH {
		return err
	}
	return nil
}

var (
	sigTerm = syscall.SIGTERM
	sigKill = syscall.SIGKILL
)

// exitSignal names the signal that ended a process, or "".
func exitSignal(ps interface{ Sys() any }) string {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return ws.Signal().String()
	}
	return ""
}
