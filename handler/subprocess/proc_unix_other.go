//go:build unix && !linux

package subprocess

import "syscall"

// starter starts children from whichever thread runs the request: no
// parent-death signal here is tied to a thread.
type starter struct{}

func (*starter) do(start func() error) error { return start() }
func (*starter) close()                      {}

// growPipe does nothing: pipes keep the system's size.
func growPipe(int) {}

// writeVec writes what one write(2) to fd takes of v's first non-empty
// slice: a caller of TryWrite takes a short write in its stride.
func writeVec(fd int, v [][]byte) (int, error) {
	for _, b := range v {
		if len(b) > 0 {
			return syscall.Write(fd, b)
		}
	}
	return 0, nil
}
