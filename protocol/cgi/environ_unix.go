//go:build !windows

package cgi

import (
	"os"

	"gatewayd/environ"
)

// Environ returns this process's environment as the request's CGI
// environment: ReadEnviron(POSIX, os.Environ()), the bytes as they are.
// wsgiref's POSIX rules hold on every system but Windows.
func Environ() environ.Environ { return ReadEnviron(POSIX, os.Environ()) }
