package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"gatewayd/handler"
	"gatewayd/handler/subprocess"
)

// RemoteConfig configures a Remote. The zero value of every field but
// Network and Address means its default.
type RemoteConfig struct {
	// Network and Address say where the application listens, as net.Dial
	// takes them: "unix" and a socket path, or "tcp" and HOST:PORT.
	Network, Address string
	// MaxConns bounds the connections open at once, busy or idle, and so
	// the requests running at once. Default: subprocess.DefaultMaxChildren().
	MaxConns int
	// MaxQueue bounds the requests waiting for a connection; one beyond it
	// gets 503 at once. Default: 16 × MaxConns.
	MaxQueue int
	// QueueTimeout is the longest a request waits for a connection before
	// it gets 503. Default: subprocess.DefaultQueueTimeout.
	QueueTimeout time.Duration
	// DialTimeout bounds connecting. Default: DefaultDialTimeout.
	DialTimeout time.Duration
	// KillGrace is how long the application has to end a request after
	// FCGI_ABORT_REQUEST before its connection is closed. Default:
	// subprocess.DefaultKillGrace.
	KillGrace time.Duration
	// MaxStderr bounds the FCGI_STDERR bytes logged per request. Default:
	// handler.DefaultMaxStderr.
	MaxStderr int
	// Name names the application in log lines (the mount's prefix).
	Name string
	// Logger receives what is not about one request. Default: none.
	Logger hclog.Logger
}

// DefaultDialTimeout is the default of RemoteConfig.DialTimeout.
const DefaultDialTimeout = 5 * time.Second

// Remote is the App that forwards requests to a FastCGI server that
// gatewayd does not start: php-fpm, a Go net/http/fcgi program. It keeps
// idle connections open for the next request (FCGI_KEEP_CONN) and is safe
// for concurrent use.
type Remote struct {
	cfg    RemoteConfig
	common common
	dialer net.Dialer
	gate   *gate

	mu     sync.Mutex
	idle   []*conn // most recently used last
	closed bool
}

// NewRemote returns a Remote for cfg.
func NewRemote(cfg RemoteConfig) *Remote {
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = subprocess.DefaultMaxChildren()
	}
	if cfg.MaxQueue <= 0 {
		cfg.MaxQueue = subprocess.DefaultQueuePerChild * cfg.MaxConns
	}
	if cfg.QueueTimeout <= 0 {
		cfg.QueueTimeout = subprocess.DefaultQueueTimeout
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.KillGrace <= 0 {
		cfg.KillGrace = subprocess.DefaultKillGrace
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	return &Remote{
		cfg:    cfg,
		common: common{Name: cfg.Name, KillGrace: cfg.KillGrace, MaxStderr: cfg.MaxStderr},
		dialer: net.Dialer{Timeout: cfg.DialTimeout},
		gate:   newGate(cfg.MaxConns, cfg.MaxQueue, cfg.QueueTimeout),
	}
}

// Limits returns the bounds in force: connections and queue.
func (r *Remote) Limits() (conns, queue int) { return r.cfg.MaxConns, r.cfg.MaxQueue }

// Usage returns how many requests are forwarded and how many wait for a
// connection, now. It takes no lock.
func (r *Remote) Usage() (running, waiting int) { return r.gate.usage() }

// errClosed is the cause once a Remote or a Pool is closed.
var errClosed = errors.New("worker: closed")

// Start forwards c to the application. It fails with 503 when no
// connection comes free in time and with 502 when the application cannot
// be reached.
func (r *Remote) Start(ctx context.Context, c *handler.Call) (handler.Run, error) {
	if err := r.gate.enter(ctx); err != nil {
		return nil, err
	}
	rr := &remoteRun{r: r, ctx: ctx, call: c}
	if err := rr.start(); err != nil {
		r.gate.leave()
		return nil, err
	}
	return rr, nil
}

// remoteRun is a request on a Remote. A connection kept from an earlier
// request may have been closed by the application meanwhile (php-fpm's
// pm.max_requests ends a process after a response); a request without a
// body that fails on such a connection before any response byte arrives
// is sent once more, on a new connection.
type remoteRun struct {
	r     *Remote
	ctx   context.Context
	call  *handler.Call
	f     *forward
	retry bool // the connection was kept and the request has no body
	again bool // the request is being sent again: its slot stays taken
}

// release is the release of the request on c: c goes back to the idle
// ones or is closed, and the request's slot is free once the connection
// is, which after an abort is up to a kill grace after Wait.
func (rr *remoteRun) release(c *conn) func(outcome) {
	put := rr.r.put(c)
	return func(o outcome) {
		put(o)
		if !rr.again {
			rr.r.gate.leave()
		}
	}
}

func (rr *remoteRun) start() error {
	c, kept, err := rr.r.conn(rr.ctx)
	if err != nil {
		return err
	}
	rr.retry = kept && (rr.call.Body == nil || rr.call.Body == http.NoBody)
	f, err := startForward(rr.ctx, c, rr.call, &rr.r.common, 0, rr.release(c))
	if err != nil && kept {
		// The write of the request failed: the kept connection is gone.
		c.close()
		if c, err = rr.r.dial(rr.ctx); err != nil {
			return err
		}
		rr.retry = false
		f, err = startForward(rr.ctx, c, rr.call, &rr.r.common, 0, rr.release(c))
	}
	if err != nil {
		c.close()
		return rr.r.unreachable(err)
	}
	rr.f = f
	return nil
}

func (rr *remoteRun) Read(p []byte) (int, error) {
	if rr.f == nil {
		return 0, errClosed
	}
	n, err := rr.f.Read(p)
	if err != nil && err != io.EOF && rr.retry && !rr.f.got && rr.ctx.Err() == nil {
		rr.retry = false
		rr.again = true
		rr.f.Wait() // closes the broken connection, keeping the slot
		rr.again = false
		c, derr := rr.r.dial(rr.ctx)
		if derr == nil {
			var f *forward
			if f, derr = startForward(rr.ctx, c, rr.call, &rr.r.common, 0, rr.release(c)); derr == nil {
				rr.f = f
				return rr.f.Read(p)
			}
			c.close()
			derr = rr.r.unreachable(derr)
		}
		rr.f = nil
		return 0, derr
	}
	return n, err
}

func (rr *remoteRun) Wait() handler.Exit {
	if rr.f == nil {
		// Sending the request again failed: nothing runs.
		rr.r.gate.leave()
		return handler.Exit{}
	}
	return rr.f.Wait()
}

// conn returns an idle connection, or a new one.
func (r *Remote) conn(ctx context.Context) (c *conn, kept bool, err error) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, false, &handler.Error{Status: http.StatusServiceUnavailable, Err: errClosed}
	}
	if n := len(r.idle); n > 0 {
		c = r.idle[n-1]
		r.idle = r.idle[:n-1]
		r.mu.Unlock()
		return c, true, nil
	}
	r.mu.Unlock()
	c, err = r.dial(ctx)
	return c, false, err
}

func (r *Remote) dial(ctx context.Context) (*conn, error) {
	nc, err := r.dialer.DialContext(ctx, r.cfg.Network, r.cfg.Address)
	if err != nil {
		return nil, r.unreachable(err)
	}
	return newConn(nc), nil
}

// unreachable is the 502 of an application that cannot be reached.
func (r *Remote) unreachable(err error) error {
	return &handler.Error{Status: http.StatusBadGateway,
		Err: fmt.Errorf("worker: FastCGI server %s:%s: %w", r.cfg.Network, r.cfg.Address, err)}
}

// put returns the release of a request on c: c is kept for the next
// request when the application allows it.
func (r *Remote) put(c *conn) func(outcome) {
	return func(o outcome) {
		if o.err != nil || !o.end.Reusable {
			c.close()
			return
		}
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			c.close()
			return
		}
		r.idle = append(r.idle, c)
		r.mu.Unlock()
	}
}

// Stop closes the idle connections, as Close does: requests still running
// end with their context, which the front-ends cancel when they stop.
func (r *Remote) Stop(context.Context) error {
	r.Close()
	return nil
}

// Close closes the idle connections; requests that start afterwards get
// 503, and connections of requests still running close when they end.
func (r *Remote) Close() {
	r.mu.Lock()
	r.closed = true
	idle := r.idle
	r.idle = nil
	r.mu.Unlock()
	for _, c := range idle {
		c.close()
	}
}
