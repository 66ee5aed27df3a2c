//go:build unix

package main

import (
	"os"
	"os/signal"
	"syscall"
)

// notifyHangup catches SIGHUP, whose default action would end gatewayd at
// once and leave its programs running, and delivers it on c for a reload.
// stop stops catching it.
func notifyHangup() (c <-chan os.Signal, stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	return ch, func() { signal.Stop(ch) }
}
