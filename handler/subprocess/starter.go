package subprocess

import "os/exec"

// Starter starts processes the way a Runner starts its children, for apps
// that keep their own (a pool of persistent workers): each process leads a
// new process group, and on Linux and FreeBSD gets SIGKILL when gatewayd
// dies, however it dies. That parent-death signal is tied to the thread
// that started the process, so a Starter starts every process from one
// goroutine locked to its thread; Close ends that thread, and with it the
// processes it started that still run. On Windows each process runs in a
// job object that ends with gatewayd. The zero Starter is ready to use.
type Starter struct{ s starter }

// Start starts cmd, which must not have started yet. It replaces
// cmd.SysProcAttr.
func (s *Starter) Start(cmd *exec.Cmd) error {
	setGroup(cmd)
	return s.s.start(cmd)
}

// Close ends the Starter's thread. No Start may follow it; calls after the
// first do nothing.
func (s *Starter) Close() { s.s.close() }
