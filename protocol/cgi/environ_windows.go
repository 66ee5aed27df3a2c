package cgi

import (
	"os"

	"gatewayd/environ"
)

// Environ returns this process's environment as the request's CGI
// environment: ReadEnviron(Windows, os.Environ()). Go decodes the UTF-16
// environment to WTF-8 (UTF-8, with a lone surrogate kept as its 3-byte
// form); ReadEnviron applies wsgiref's Windows rules to that.
func Environ() environ.Environ { return ReadEnviron(Windows, os.Environ()) }
