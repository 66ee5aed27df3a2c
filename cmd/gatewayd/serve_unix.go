//go:build unix

package main

import (
	"os"
	"os/signal"
	"syscall"

	"github.com/hashicorp/go-hclog"
)

// ignoreHangup catches SIGHUP, whose default action would end gatewayd at
// once and leave its programs running, and logs each one: SIGHUP is for
// reloading the configuration, which gatewayd does not do yet. The
// function it returns stops catching SIGHUP.
func ignoreHangup(log hclog.Logger) (stop func()) {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range c {
			log.Warn("SIGHUP received: reload is not supported yet; ignoring")
		}
	}()
	return func() {
		signal.Stop(c) // no signal reaches c after it
		close(c)
		<-done
	}
}
