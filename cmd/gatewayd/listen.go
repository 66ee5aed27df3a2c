package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// listen opens the listening sockets of ADDR: HOST:PORT, unix:PATH
// created with mode, fd:N, a listening socket inherited as file descriptor
// N, or systemd and systemd:NAME, sockets systemd passed (listenActivated).
// Only systemd may stand for more than one.
func listen(addr string, mode os.FileMode) ([]net.Listener, error) {
	one := func(l net.Listener, err error) ([]net.Listener, error) {
		if err != nil {
			return nil, err
		}
		return []net.Listener{l}, nil
	}
	switch {
	case addr == "systemd" || strings.HasPrefix(addr, "systemd:"):
		return listenActivated(addr)
	case strings.HasPrefix(addr, "unix:"):
		return one(listenUnix(strings.TrimPrefix(addr, "unix:"), mode))
	case strings.HasPrefix(addr, "fd:"):
		return one(listenFD(strings.TrimPrefix(addr, "fd:")))
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, usageError{fmt.Errorf("listen %q: want HOST:PORT, unix:PATH, fd:N, systemd or systemd:NAME", addr)}
	}
	return one(net.Listen("tcp", addr))
}

// listenFD takes over an inherited listening socket: the FastCGI
// convention is descriptor 0, as spawn-fcgi and Apache mod_fcgid pass it.
func listenFD(s string) (net.Listener, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return nil, usageError{fmt.Errorf("listen fd:%s: want a descriptor number", s)}
	}
	f := os.NewFile(uintptr(n), "fd:"+s)
	if f == nil {
		return nil, fmt.Errorf("listen fd:%s: no such descriptor", s)
	}
	defer f.Close() // FileListener holds its own duplicate
	l, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("listen fd:%s: not a listening socket: %w", s, err)
	}
	return l, nil
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
