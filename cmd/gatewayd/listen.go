package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"
)

// listen opens a listening socket for ADDR: HOST:PORT, or unix:PATH
// created with mode.
func listen(addr string, mode os.FileMode) (net.Listener, error) {
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		return listenUnix(path, mode)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, usageError{fmt.Errorf("listen %q: want HOST:PORT or unix:PATH", addr)}
	}
	return net.Listen("tcp", addr)
}

// listenUnix listens on a unix socket at path, replacing a stale socket file
// left by a process that is gone, but never a live socket or another kind
// of file.
func listenUnix(path string, mode os.FileMode) (net.Listener, error) {
	if path == "" {
		return nil, usageError{errors.New("listen unix: empty path")}
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("listen unix %s: file exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("listen unix %s: another process is listening on it", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("listen unix %s: remove stale socket: %w", path, err)
		}
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	l.(*net.UnixListener).SetUnlinkOnClose(true)
	if err := os.Chmod(path, mode); err != nil {
		l.Close()
		return nil, fmt.Errorf("listen unix %s: %w", path, err)
	}
	return l, nil
}

// listenURL is how the log names a listener of scheme.
func listenURL(scheme string, l net.Listener) string {
	if l.Addr().Network() == "unix" {
		return scheme + "+unix:" + l.Addr().String()
	}
	return scheme + "://" + l.Addr().String()
}
