package main

import (
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/coreos/go-systemd/v22/activation"
)

// The sockets systemd passed (socket activation, sd_listen_fds(3)), taken
// once: LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES are then removed from
// gatewayd's environment and the descriptors marked close-on-exec, so that
// no program inherits them, whether or not an ADDR names them. The files
// stay open for gatewayd's life: a listener of "systemd" or "systemd:NAME"
// is a duplicate of one, made anew each time a reload adds it, and closing
// it never unlinks an activated unix socket, which is systemd's.
var activated struct {
	once  sync.Once
	files []*os.File
	err   error
}

// takeActivated takes the sockets systemd passed, if any, and says what is
// wrong with LISTEN_PID and LISTEN_FDS when they are set but not for this
// process or not a count. Serve calls it first, before any program starts;
// the error matters only to an ADDR that asks for activated sockets, as
// sd_listen_fds(3) ignores variables meant for another process.
func takeActivated() ([]*os.File, error) {
	activated.once.Do(func() {
		pid, fds := os.Getenv("LISTEN_PID"), os.Getenv("LISTEN_FDS")
		if fds == "" && pid == "" {
			return
		}
		n, err := strconv.Atoi(fds)
		switch {
		case err != nil || n < 0:
			activated.err = fmt.Errorf("socket activation: LISTEN_FDS=%q is not a number of sockets", fds)
		case pid != strconv.Itoa(os.Getpid()):
			activated.err = fmt.Errorf("socket activation: LISTEN_PID=%q is not gatewayd's pid %d", pid, os.Getpid())
		}
		files := activation.Files(true) // unsets the variables whatever they hold
		if activated.err == nil {
			activated.files = files
		}
	})
	return activated.files, activated.err
}

// listenActivated returns listeners on the activated sockets that ADDR
// names: every one for "systemd", those whose FileDescriptorName is NAME
// for "systemd:NAME".
func listenActivated(addr string) ([]net.Listener, error) {
	files, err := takeActivated()
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("listen %s: no sockets were passed (LISTEN_FDS): start gatewayd from a systemd socket unit, or under systemd-socket-activate", addr)
	}
	name, named := strings.CutPrefix(addr, "systemd:")
	var ls []net.Listener
	var names []string
	for _, f := range files {
		names = append(names, f.Name())
		if named && f.Name() != name {
			continue
		}
		l, err := net.FileListener(f)
		if err != nil {
			closeListeners(ls)
			return nil, fmt.Errorf("listen %s: socket %s is not a listening stream socket: %w", addr, f.Name(), err)
		}
		ls = append(ls, l)
	}
	if len(ls) == 0 {
		slices.Sort(names)
		return nil, fmt.Errorf("listen %s: no socket named %q was passed (FileDescriptorName); passed: %s",
			addr, name, strings.Join(slices.Compact(names), ", "))
	}
	return ls, nil
}

func closeListeners(ls []net.Listener) {
	for _, l := range ls {
		l.Close()
	}
}
