//go:build unix && !linux

package subprocess

import "os/exec"

// starter starts children from whichever thread runs the request: no
// parent-death signal here is tied to a thread.
type starter struct{}

func (*starter) start(cmd *exec.Cmd) error { return cmd.Start() }
func (*starter) close()                    {}

// growPipe does nothing: pipes keep the system's size.
func growPipe(int) {}
