package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/hashicorp/go-hclog"
)

// adminServer is the admin listener (--admin, the admin block): /metrics,
// /status and /healthz, served by a net/http server of its own, on
// goroutines of its own, apart from the front-ends. It stays open through
// the drain, so that /healthz can say so, and closes last.
type adminServer struct {
	addr   string // its ADDR as given
	l      net.Listener
	srv    *http.Server
	probe  *http.Client  // check's, to the listener's own address
	served bool          // serve was called
	done   chan struct{} // closed when it returned
	log    hclog.Logger
}

// adminUnixMode is the mode of an admin unix socket: the metrics and
// status are for the operators, not for every local user.
const adminUnixMode = 0o660

// openAdmin opens addr, to serve h on it once serve is called.
func openAdmin(addr string, h http.Handler, log hclog.Logger) (*adminServer, error) {
	ls, err := listen(addr, adminUnixMode)
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	if len(ls) != 1 {
		closeListeners(ls)
		return nil, fmt.Errorf("admin %s: %d sockets were passed, want one: name it (systemd:NAME)", addr, len(ls))
	}
	a := &adminServer{
		addr: addr, l: ls[0], log: log, done: make(chan struct{}),
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 5 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       60 * time.Second,
			ErrorLog:          log.StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Debug}),
		},
	}
	own := a.l.Addr()
	a.probe = &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, own.Network(), own.String())
		},
		DisableKeepAlives: true,
	}}
	return a, nil
}

// serve serves the admin listener, on a goroutine of its own.
func (a *adminServer) serve() {
	a.served = true
	a.log.Info("serving metrics, status and health", "url", listenURL("http", a.l)+"/metrics")
	go func() {
		defer close(a.done)
		if err := a.srv.Serve(a.l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("admin listener failed", "error", err)
		}
	}()
}

// close stops serving at once: a scrape in flight is cut off. An admin
// server never served is closed too.
func (a *adminServer) close() {
	if !a.served {
		a.l.Close()
		return
	}
	a.srv.Close()
	<-a.done
}

// check asks the admin listener for /healthz, as a client would, and says
// whether it answered (200 while serving, 503 while draining) before ctx
// ended.
func (a *adminServer) check(ctx context.Context) error {
	select {
	case <-a.done:
		return errors.New("admin listener stopped")
	default:
	}
	req, err := http.NewRequestWithContext(ctx, "GET", "http://admin/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := a.probe.Do(req)
	if err != nil {
		return fmt.Errorf("admin listener does not answer: %w", err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusServiceUnavailable {
		return fmt.Errorf("admin listener: /healthz: %s", resp.Status)
	}
	return nil
}
