package main

import "syscall"

// closeRangeCloexec marks the descriptors from first up close-on-exec with
// one close_range(2) (CLOSE_RANGE_CLOEXEC, Linux 5.11), and reports
// whether the kernel did.
func closeRangeCloexec(first int) bool {
	const (
		sysCloseRange     = 436 // the same number on every Linux architecture
		closeRangeCloexec = 1 << 2
	)
	_, _, errno := syscall.Syscall(sysCloseRange, uintptr(first), uintptr(^uint32(0)), closeRangeCloexec)
	return errno == 0
}
