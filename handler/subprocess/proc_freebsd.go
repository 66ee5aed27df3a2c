package subprocess

import "syscall"

// setParentDeath makes the kernel SIGKILL the child when gatewayd dies,
// however it dies (procctl PROC_PDEATHSIG_CTL). Only the child itself gets
// the signal: what it started lives on, in its process group.
func setParentDeath(attr *syscall.SysProcAttr) { attr.Pdeathsig = syscall.SIGKILL }
