package main

import "github.com/hashicorp/go-hclog"

// ignoreHangup does nothing: Windows has no SIGHUP.
func ignoreHangup(hclog.Logger) (stop func()) { return func() {} }
