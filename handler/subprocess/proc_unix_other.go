//go:build unix && !linux

package subprocess

import "errors"

// waitExited is not available here: the process is reaped without first
// clearing what it left in its group.
func waitExited(int) error { return errors.ErrUnsupported }
