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

// listen opens a listening socket for ADDR: HOST:PORT, unix:PATH created
// with mode, or fd:N, a listening socket inherited as file descriptor N.
func listen(addr string, mode os.FileMode) (net.Listener, error) {
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		return listenUnix(path, mode)
	}
	if fd, ok := strings.CutPrefix(addr, "fd:"); ok {
		return listenFD(fd)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, usageError{fmt.Errorf("listen %q: want HOST:PORT, unix:PATH or fd:N", addr)}
	}
	return net.Listen("tcp", addr)
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
