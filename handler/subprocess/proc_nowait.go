//go:build unix && !linux && !darwin && !dragonfly && !freebsd && !netbsd && !openbsd

package subprocess

import "errors"

// waitExited is not available here: the process is reaped without first
// clearing what it left in its group.
func waitExited(int) error { return errors.ErrUnsupported }

// exited is not available here: a program that exits while something it
// left behind holds its stdout open keeps its request until the request is
// stopped (a timeout, a client abort).
func exited(int) (bool, error) { return false, errors.ErrUnsupported }
