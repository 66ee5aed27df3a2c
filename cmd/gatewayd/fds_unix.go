//go:build unix

package main

import (
	"os"
	"strconv"
	"syscall"
)

// keepFromPrograms marks every descriptor gatewayd inherited above
// stderr close-on-exec, so that none reaches the programs it runs. A
// shell, a supervisor or a web server that starts gatewayd may leave
// descriptors open without the flag (a pipe of its own, sockets passed
// for another process); every CGI program would otherwise get them, and
// a pipe held open by a program can keep its owner waiting for an end.
// Descriptors gatewayd hands a program on purpose (its stdio, a worker's
// listening socket) are duplicated onto the program's own numbers when it
// starts, which clears the flag there.
func keepFromPrograms() {
	if !closeRangeCloexec(3) {
		markListed()
	}
}

// markListed marks close-on-exec each descriptor above stderr that the
// system lists as open, where close_range(2) cannot.
func markListed() {
	for _, dir := range []string{"/proc/self/fd", "/dev/fd"} {
		f, err := os.Open(dir)
		if err != nil {
			continue
		}
		names, _ := f.Readdirnames(-1)
		f.Close()
		for _, name := range names {
			if fd, err := strconv.Atoi(name); err == nil && fd > 2 {
				syscall.CloseOnExec(fd)
			}
		}
		return
	}
}
