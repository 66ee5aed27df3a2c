package main

import "os"

// notifyHangup delivers nothing: Windows has no SIGHUP.
func notifyHangup() (c <-chan os.Signal, stop func()) { return nil, func() {} }
