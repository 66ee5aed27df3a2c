package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	nethttp "net/http"
	"os"
	"slices"
	"strings"

	"github.com/hashicorp/go-hclog"

	"gatewayd/handler"
	"gatewayd/protocol/fastcgi"
	gwhttp "gatewayd/protocol/http"
	"gatewayd/protocol/scgi"
)

// frontend is a protocol server: it serves listeners until Shutdown, which
// waits for the requests in flight.
type frontend interface {
	Serve(net.Listener) error
	Shutdown(context.Context) error
}

// frontendEnv is what a front-end is built from.
type frontendEnv struct {
	handler  handler.Server
	opts     serveOptions
	software string
	log      hclog.Logger
	maxReqs  int // the programs that may run or queue at once; 0 when unbounded
}

// protocol describes one front-end of `gatewayd serve`.
type protocol struct {
	name     string      // its flag, --NAME ADDR
	usage    string      // the flag's help
	scheme   string      // how the log names its listeners
	unixMode os.FileMode // mode of its unix sockets
	build    func(frontendEnv) (frontend, error)
	closed   func(error) bool // Serve's error after Shutdown
}

// protocols are the front-ends, in the order their listeners start.
var protocols = []protocol{
	{
		name:     "http",
		usage:    "serve HTTP on `ADDR` (repeatable)",
		scheme:   "http",
		unixMode: 0o660,
		build: func(e frontendEnv) (frontend, error) {
			return gwhttp.New(gwhttp.Config{
				Handler:           e.handler,
				ServerSoftware:    e.software,
				PassAuthorization: e.opts.passAuth,
				Logger:            e.log.Named("http"),
			}), nil
		},
		closed: func(err error) bool { return errors.Is(err, nethttp.ErrServerClosed) },
	},
	{
		name:     "fastcgi",
		usage:    "serve FastCGI on `ADDR` (repeatable; fd:0 is a listening socket on stdin, as spawn-fcgi gives it)",
		scheme:   "fastcgi",
		unixMode: 0o660,
		build: func(e frontendEnv) (frontend, error) {
			cfg := fastcgi.Config{
				Handler:       e.handler,
				StderrRecords: e.opts.fastcgiStderr,
				MaxBody:       e.opts.maxBody,
				Logger:        e.log.Named("fastcgi"),
			}
			cfg.MaxReqs = e.maxReqs
			if addrs := os.Getenv("FCGI_WEB_SERVER_ADDRS"); addrs != "" {
				cfg.WebServerAddrs = strings.Split(addrs, ",")
			}
			return fastcgi.New(cfg)
		},
		closed: func(err error) bool { return errors.Is(err, fastcgi.ErrServerClosed) },
	},
	{
		name:     "scgi",
		usage:    "serve SCGI on `ADDR` (repeatable)",
		scheme:   "scgi",
		unixMode: 0o660,
		build: func(e frontendEnv) (frontend, error) {
			return scgi.New(scgi.Config{
				Handler: e.handler,
				Logger:  e.log.Named("scgi"),
			}), nil
		},
		closed: func(err error) bool { return errors.Is(err, scgi.ErrServerClosed) },
	},
}

// protocolNamed returns the front-end called name, or nil.
func protocolNamed(name string) *protocol {
	for i := range protocols {
		if protocols[i].name == name {
			return &protocols[i]
		}
	}
	return nil
}

func listenerFlags() string {
	var names []string
	for _, p := range protocols {
		names = append(names, "--"+p.name+" ADDR")
	}
	return strings.Join(names, " or ")
}

// listeners counts the ADDRs given.
func (o serveOptions) listeners() int {
	n := 0
	for _, addrs := range o.listen {
		n += len(addrs)
	}
	return n
}

// addrList is a repeatable ADDR flag that appends to its protocol's list.
type addrList struct {
	m    map[string][]string
	name string
}

func (a *addrList) String() string { return strings.Join(a.m[a.name], ",") }
func (a *addrList) Type() string   { return "ADDR" }
func (a *addrList) Set(v string) error {
	if slices.Contains(a.m[a.name], v) {
		return fmt.Errorf("%s given twice", v)
	}
	a.m[a.name] = append(a.m[a.name], v)
	return nil
}
