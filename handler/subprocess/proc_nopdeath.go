//go:build unix && !linux && !freebsd

package subprocess

import "syscall"

// setParentDeath does nothing: there is no parent-death signal here, so a
// gatewayd that dies at once (SIGKILL, a crash) leaves its programs
// running, unless a service manager that tracks the whole service ends
// them.
func setParentDeath(*syscall.SysProcAttr) {}
