package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"gatewayd/handler"
	"gatewayd/handler/demo"
	"gatewayd/handler/subprocess"
	"gatewayd/handler/worker"
)

// plan is a whole deployment as the daemon runs it: what the command line
// describes, or a configuration file with the command line over it.
type plan struct {
	listen   []listenSpec // in the order they open
	mounts   []mountPlan
	shutdown time.Duration // the drain's bound (--shutdown-timeout, shutdown_timeout)
}

// listenSpec is one listener: a front-end's protocol and an ADDR.
type listenSpec struct{ protocol, address string }

// mountPlan is one mount: its pipeline's configuration, without App and
// Logger, and the configuration of what runs its requests: CGI programs
// (runner), persistent workers (worker), an external FastCGI server
// (remote), or, when all are nil, the demo app.
type mountPlan struct {
	prefix  string
	handler handler.Config
	runner  *subprocess.Config
	worker  *worker.Config
	remote  *worker.RemoteConfig
	what    string // what it serves, for the log
}

// deployment is what a plan builds: a handler and an app per mount behind
// one handler.Server. Requests in flight hold it (active) so that a reload
// closes it only once they are done.
type deployment struct {
	server  handler.Server
	apps    []app
	maxReqs int            // the programs it may run or queue at once, over all mounts; 0 when unbounded
	grace   time.Duration  // the longest kill grace of any mount
	active  sync.WaitGroup // requests being served by it
	closed  sync.Once
}

// app is what runs a mount's requests, with its life cycle.
type app interface {
	handler.App
	// Limits returns how many requests may run and wait at once.
	Limits() (running, queue int)
	// Stop stops everything running at once, for a daemon that must exit.
	Stop(ctx context.Context) error
	// Close releases the app once no request is served any more.
	Close()
}

// build makes the deployment of p. Worker pools come from pools, which
// keeps those of unchanged mounts running across reloads; with nil pools
// each pool is the deployment's own. CGI programs run only when requests
// come, workers start now.
func build(p plan, software string, log hclog.Logger, pools *poolSet) (*deployment, error) {
	d := &deployment{}
	var mounts []handler.Mount
	for _, m := range p.mounts {
		cfg := m.handler
		cfg.ServerSoftware = software
		cfg.Logger = log.Named("handler")
		var a app
		switch {
		case m.runner != nil:
			d.grace = max(d.grace, cmp.Or(m.runner.KillGrace, subprocess.DefaultKillGrace))
			a = subprocess.New(*m.runner)
		case m.worker != nil:
			d.grace = max(d.grace, cmp.Or(m.worker.KillGrace, subprocess.DefaultKillGrace))
			wc := *m.worker
			wc.Logger = log.Named("worker")
			pool, err := pools.get(wc)
			if err != nil {
				d.close()
				return nil, err
			}
			a = pool
		case m.remote != nil:
			d.grace = max(d.grace, cmp.Or(m.remote.KillGrace, subprocess.DefaultKillGrace))
			rc := *m.remote
			rc.Logger = log.Named("fastcgi")
			a = worker.NewRemote(rc)
		}
		if a != nil {
			d.apps = append(d.apps, a)
			running, queue := a.Limits()
			d.maxReqs += running + queue
			cfg.App = a
		} else {
			cfg.App = demo.App{}
		}
		h, err := handler.New(cfg)
		if err != nil {
			d.close()
			return nil, err
		}
		mounts = append(mounts, handler.Mount{Prefix: m.prefix, Handler: h})
	}
	mux, err := handler.NewMux(mounts, log.Named("handler"))
	if err != nil {
		d.close()
		return nil, err
	}
	d.server = mux
	return d, nil
}

// close releases the apps, once no request is served any more. A reload
// and the drain may both close a deployment; the second does nothing.
func (d *deployment) close() {
	d.closed.Do(func() {
		for _, a := range d.apps {
			a.Close()
		}
	})
}

// stop stops every program of d at once (see subprocess.Runner.Stop).
func (d *deployment) stop(ctx context.Context) error {
	var errs []error
	for _, a := range d.apps {
		errs = append(errs, a.Stop(ctx))
	}
	return errors.Join(errs...)
}

// daemon owns the listeners and the front-ends, and serves every request
// through its current deployment. Start opens and serves; Reload swaps the
// deployment and the set of listeners without closing the ones both plans
// have; Shutdown drains.
type daemon struct {
	opts     serveOptions
	log      hclog.Logger
	software string
	errc     chan error     // a listener that failed
	serving  sync.WaitGroup // one per listener being served

	pools *poolSet // the worker pools of every live deployment

	inflight atomic.Int64 // requests being served
	shutdown atomic.Int64 // the current plan's drain bound, a time.Duration

	mu        sync.RWMutex
	cur       *deployment
	live      map[*deployment]bool    // cur, and the ones still finishing requests
	frontends map[string]frontend     // by protocol, built when first needed
	listeners map[listenSpec][]*bound // an ADDR of "systemd" may stand for several
}

// bound is an open listener.
type bound struct {
	spec    listenSpec
	p       *protocol
	l       net.Listener
	removed atomic.Bool // closed by a reload, not failed
}

func newDaemon(o serveOptions, log hclog.Logger, software string) *daemon {
	return &daemon{
		opts: o, log: log, software: software,
		errc:      make(chan error, 16),
		pools:     newPoolSet(),
		live:      map[*deployment]bool{},
		frontends: map[string]frontend{},
		listeners: map[listenSpec][]*bound{},
	}
}

// Serve implements handler.Server for the front-ends: each request is
// served through the deployment current when it arrives, to its end.
func (d *daemon) Serve(ctx context.Context, req *handler.Request, w handler.ResponseWriter) handler.Result {
	d.mu.RLock()
	dep := d.cur
	dep.active.Add(1)
	d.mu.RUnlock()
	d.inflight.Add(1)
	defer d.inflight.Add(-1)
	defer dep.active.Done()
	return dep.server.Serve(ctx, req, w)
}

// Start builds p's deployment, opens every listener of p before serving any
// (a bad ADDR stops the start with nothing running), and serves them.
func (d *daemon) Start(p plan) error {
	dep, err := build(p, d.software, d.log, d.pools)
	if err != nil {
		return err
	}
	opened, err := d.open(p.listen, nil)
	if err != nil {
		dep.close()
		return err
	}
	d.mu.Lock()
	d.cur = dep
	d.live[dep] = true
	d.mu.Unlock()
	d.shutdown.Store(int64(p.shutdown))
	if err := d.serve(opened, p, dep); err != nil {
		return err
	}
	return nil
}

// Reload applies p: new requests are served by its deployment at once,
// those in flight finish under the old one, which is closed after them.
// Listeners in both plans stay open, new ones open and removed ones close
// (their connections in flight finish). A plan that cannot be built or
// whose listeners cannot open changes nothing.
func (d *daemon) Reload(p plan) error {
	dep, err := build(p, d.software, d.log, d.pools)
	if err != nil {
		return err
	}
	d.mu.RLock()
	have := d.listeners
	d.mu.RUnlock()
	opened, err := d.open(p.listen, have)
	if err != nil {
		dep.close()
		return err
	}
	d.shutdown.Store(int64(p.shutdown))
	d.mu.Lock()
	old := d.cur
	d.cur = dep
	d.live[dep] = true
	var removed []*bound
	for spec, bs := range d.listeners {
		if !slices.Contains(p.listen, spec) {
			removed = append(removed, bs...)
			delete(d.listeners, spec)
		}
	}
	d.mu.Unlock()
	for _, b := range removed {
		b.removed.Store(true)
		b.l.Close()
		d.log.Info("listener closed by reload", "url", listenURL(b.p.scheme, b.l))
	}
	go func() {
		old.active.Wait()
		old.close()
		d.mu.Lock()
		delete(d.live, old)
		d.mu.Unlock()
	}()
	return d.serve(opened, p, dep)
}

// open opens the listeners of specs that have does not hold, all or none.
func (d *daemon) open(specs []listenSpec, have map[listenSpec][]*bound) ([]*bound, error) {
	var opened []*bound
	for _, spec := range specs {
		if have[spec] != nil {
			continue
		}
		p := protocolNamed(spec.protocol)
		if p == nil {
			closeAll(opened)
			return nil, fmt.Errorf("listen %s: unknown protocol %q", spec.address, spec.protocol)
		}
		ls, err := listen(spec.address, p.unixMode)
		if err != nil {
			closeAll(opened)
			return nil, err
		}
		for _, l := range ls {
			opened = append(opened, &bound{spec: spec, p: p, l: l})
		}
	}
	return opened, nil
}

func closeAll(bs []*bound) {
	for _, b := range bs {
		b.l.Close()
	}
}

// serve serves the listeners just opened, building the front-ends they
// need.
func (d *daemon) serve(opened []*bound, p plan, dep *deployment) error {
	what := describe(p)
	for i, b := range opened {
		fe, err := d.frontend(b.p, dep)
		if err != nil {
			closeAll(opened[i:])
			return err
		}
		d.mu.Lock()
		d.listeners[b.spec] = append(d.listeners[b.spec], b)
		d.mu.Unlock()
		d.log.Info("serving "+what, "url", listenURL(b.p.scheme, b.l), "cpus", runtime.NumCPU())
		d.serving.Go(func() {
			if err := fe.Serve(b.l); err != nil && !b.p.closed(err) && !b.removed.Load() {
				d.errc <- fmt.Errorf("serve %s: %w", b.l.Addr(), err)
			}
		})
	}
	return nil
}

// frontend returns the front-end of protocol p, building it the first time.
// Its own settings (FastCGI's FCGI_MAX_REQS among them) are fixed then.
func (d *daemon) frontend(p *protocol, dep *deployment) (frontend, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if fe, ok := d.frontends[p.name]; ok {
		return fe, nil
	}
	fe, err := p.build(frontendEnv{handler: d, opts: d.opts, software: d.software, log: d.log, maxReqs: dep.maxReqs})
	if err != nil {
		return nil, err
	}
	d.frontends[p.name] = fe
	return fe, nil
}

// describe says what a plan serves, for the log.
func describe(p plan) string {
	if len(p.mounts) == 1 && p.mounts[0].prefix == "/" {
		return p.mounts[0].what
	}
	return fmt.Sprintf("%d mounts", len(p.mounts))
}

// Shutdown stops every front-end at once and lets the requests in flight
// finish, for at most the shutdown timeout (--shutdown-timeout). When that
// passes, or ctx ends first, the drain is cut short: the front-ends close
// their connections, every program still running is stopped, and Shutdown
// returns errDrainTimeout or ctx's error. Whichever way the drain ends, no
// program is left running when it returns, unless a program's pipeline
// cannot finish its response within the kill grace and 10s more (a client
// that stopped reading); then the failure is logged and its program, which
// has been sent SIGKILL, is left to be reaped by whoever inherits it.
func (d *daemon) Shutdown(ctx context.Context) error {
	d.mu.Lock()
	running := make([]frontend, 0, len(d.frontends))
	for _, fe := range d.frontends {
		running = append(running, fe)
	}
	grace := d.graceLocked()
	inflight := d.inflight.Load()
	d.mu.Unlock()
	if inflight > 0 {
		d.log.Info("waiting for the requests in flight", "requests", inflight, "shutdown_timeout", d.shutdownTimeout())
	}
	drain, cancel := context.WithTimeout(ctx, d.shutdownTimeout())
	defer cancel()
	var wg sync.WaitGroup
	for _, fe := range running {
		// An error is the drain's deadline or ctx, which are checked
		// below.
		wg.Go(func() { fe.Shutdown(drain) })
	}
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-drain.Done(): // cut short, or the deadline
	}
	cut := d.inflight.Load() // the requests the drain did not see finish
	// After a whole drain nothing runs any more. After a cut or at the
	// deadline, FastCGI and SCGI close their connections, which stops their
	// requests' programs, but net/http's Shutdown leaves its requests
	// running: every program still running is stopped here.
	stop, cancelStop := context.WithTimeout(context.Background(), grace+10*time.Second)
	defer cancelStop()
	d.mu.Lock()
	live := make([]*deployment, 0, len(d.live))
	for dep := range d.live {
		live = append(live, dep)
	}
	d.mu.Unlock()
	for _, dep := range live {
		if err := dep.stop(stop); err != nil {
			d.log.Error("programs not reaped after the drain", "error", err)
		}
	}
	<-done
	d.serving.Wait()
	for _, dep := range live {
		dep.active.Wait()
		dep.close()
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if drain.Err() != nil && cut > 0 {
		return fmt.Errorf("%w: %d requests were still running after %v", errDrainTimeout, cut, d.shutdownTimeout())
	}
	return nil
}

// errDrainTimeout is why gatewayd exits with status 1 when requests were
// still running at the end of the shutdown timeout.
var errDrainTimeout = errors.New("serve: the requests in flight did not finish within --shutdown-timeout")

func (d *daemon) shutdownTimeout() time.Duration {
	return cmp.Or(time.Duration(d.shutdown.Load()), defaultShutdownTimeout)
}

// graceLocked returns the longest kill grace of the live deployments;
// d.mu is held.
func (d *daemon) graceLocked() (grace time.Duration) {
	for dep := range d.live {
		grace = max(grace, dep.grace)
	}
	return grace
}

// DrainBound is the longest Shutdown may take: the drain, then stopping
// what is left (see Shutdown).
func (d *daemon) DrainBound() time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.shutdownTimeout() + d.graceLocked() + 10*time.Second
}

// errDrainCut is why gatewayd exits with status 1 after a second signal.
var errDrainCut = errors.New("serve: drain cut short by a second signal")
