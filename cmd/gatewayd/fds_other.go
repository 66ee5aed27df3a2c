//go:build unix && !linux

package main

// closeRangeCloexec is not available here: keepFromPrograms lists the
// descriptors instead.
func closeRangeCloexec(int) bool { return false }
