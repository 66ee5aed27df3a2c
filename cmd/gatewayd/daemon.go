package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"gatewayd/cmd/gatewayd/internal/ops"
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
	admin    string        // the admin listener's ADDR (--admin, the admin block); "" for none
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
	mounts  []deployedMount
	maxReqs int            // the programs it may run or queue at once, over all mounts; 0 when unbounded
	grace   time.Duration  // the longest kill grace of any mount
	active  sync.WaitGroup // requests being served by it
	closed  sync.Once
}

// deployedMount is a mount as the status page shows it.
type deployedMount struct {
	prefix, what string
	app          app // nil for the demo app
}

// app is what runs a mount's requests, with its life cycle.
type app interface {
	handler.App
	// Limits returns how many requests may run and wait at once.
	Limits() (running, queue int)
	// Usage returns how many run and wait now, without waiting on any
	// request.
	Usage() (running, waiting int)
	// Stop stops everything running at once, for a daemon that must exit.
	Stop(ctx context.Context) error
	// Close releases the app once no request is served any more.
	Close()
}

// build makes the deployment of p, whose requests obs is told of. Worker
// pools come from pools, which keeps those of unchanged mounts running
// across reloads; with nil pools each pool is the deployment's own. CGI
// programs run only when requests come, workers start now.
func build(p plan, software string, log hclog.Logger, pools *poolSet, obs handler.Observer) (*deployment, error) {
	d := &deployment{}
	var mounts []handler.Mount
	for _, m := range p.mounts {
		cfg := m.handler
		cfg.ServerSoftware = software
		cfg.Logger = log.Named("handler")
		cfg.Observer = obs
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
			running, queue := a.Limits()
			d.maxReqs += running + queue
			cfg.App = a
		} else {
			cfg.App = demo.App{}
		}
		d.mounts = append(d.mounts, deployedMount{prefix: m.prefix, what: m.what, app: a})
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
		for _, m := range d.mounts {
			if m.app != nil {
				m.app.Close()
			}
		}
	})
}

// stop stops every program of d at once (see subprocess.Runner.Stop).
func (d *deployment) stop(ctx context.Context) error {
	var errs []error
	for _, m := range d.mounts {
		if m.app != nil {
			errs = append(errs, m.app.Stop(ctx))
		}
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

	pools   *poolSet     // the worker pools of every live deployment
	metrics *ops.Metrics // what the admin listener shows
	started time.Time

	inflight atomic.Int64  // requests being served
	accepted atomic.Uint64 // requests served or being served, since the start
	draining atomic.Bool   // Shutdown has begun
	shutdown atomic.Int64  // the current plan's drain bound, a time.Duration

	mu        sync.RWMutex
	cur       *deployment
	live      map[*deployment]bool    // cur, and the ones still finishing requests
	frontends map[string]frontend     // by protocol, built when first needed
	listeners map[listenSpec][]*bound // an ADDR of "systemd" may stand for several
	admin     *adminServer            // nil without one
}

// bound is an open listener.
type bound struct {
	spec    listenSpec
	p       *protocol
	l       net.Listener
	removed atomic.Bool // closed by a reload, not failed
	ended   atomic.Bool // its front-end's Serve returned
}

func newDaemon(o serveOptions, log hclog.Logger, software string) *daemon {
	d := &daemon{
		opts: o, log: log, software: software,
		errc:      make(chan error, 16),
		pools:     newPoolSet(),
		started:   time.Now(),
		live:      map[*deployment]bool{},
		frontends: map[string]frontend{},
		listeners: map[listenSpec][]*bound{},
	}
	d.metrics = ops.NewMetrics(d.state)
	return d
}

// Serve implements handler.Server for the front-ends: each request is
// served through the deployment current when it arrives, to its end.
func (d *daemon) Serve(ctx context.Context, req *handler.Request, w handler.ResponseWriter) handler.Result {
	d.mu.RLock()
	dep := d.cur
	dep.active.Add(1)
	d.mu.RUnlock()
	d.accepted.Add(1)
	d.inflight.Add(1)
	defer d.inflight.Add(-1)
	defer dep.active.Done()
	return dep.server.Serve(ctx, req, w)
}

// Start builds p's deployment, opens every listener of p before serving any
// (a bad ADDR stops the start with nothing running), and serves them.
func (d *daemon) Start(p plan) error {
	dep, err := build(p, d.software, d.log, d.pools, d.metrics)
	if err != nil {
		return err
	}
	opened, err := d.open(p.listen, nil)
	if err != nil {
		dep.close()
		return err
	}
	var admin *adminServer
	if p.admin != "" {
		if admin, err = d.openAdmin(p.admin); err != nil {
			closeAll(opened)
			dep.close()
			return err
		}
	}
	d.mu.Lock()
	d.cur = dep
	d.live[dep] = true
	d.admin = admin
	d.mu.Unlock()
	d.shutdown.Store(int64(p.shutdown))
	if err := d.serve(opened, p, dep); err != nil {
		return err
	}
	if admin != nil {
		admin.serve()
	}
	return nil
}

// Reload applies p: new requests are served by its deployment at once,
// those in flight finish under the old one, which is closed after them.
// Listeners in both plans stay open, new ones open and removed ones close
// (their connections in flight finish). A plan that cannot be built or
// whose listeners cannot open changes nothing.
func (d *daemon) Reload(p plan) error {
	dep, err := build(p, d.software, d.log, d.pools, d.metrics)
	if err != nil {
		return err
	}
	d.mu.RLock()
	have, admin := d.listeners, d.admin
	d.mu.RUnlock()
	opened, err := d.open(p.listen, have)
	if err != nil {
		dep.close()
		return err
	}
	// The admin listener moves when its ADDR changes: the new one opens
	// first, so that a bad ADDR changes nothing.
	var oldAdmin, newAdmin *adminServer
	if admin == nil || admin.addr != p.admin {
		oldAdmin = admin
		if p.admin != "" {
			if newAdmin, err = d.openAdmin(p.admin); err != nil {
				closeAll(opened)
				dep.close()
				return err
			}
		}
		admin = newAdmin
	}
	d.shutdown.Store(int64(p.shutdown))
	d.mu.Lock()
	old := d.cur
	d.cur = dep
	d.live[dep] = true
	d.admin = admin
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
	if oldAdmin != nil {
		oldAdmin.close()
		d.log.Info("admin listener closed by reload", "url", listenURL("http", oldAdmin.l))
	}
	go func() {
		old.active.Wait()
		old.close()
		d.mu.Lock()
		delete(d.live, old)
		d.mu.Unlock()
	}()
	if err := d.serve(opened, p, dep); err != nil {
		return err
	}
	if newAdmin != nil {
		newAdmin.serve()
	}
	return nil
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
			defer b.ended.Store(true)
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
	d.draining.Store(true)
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
	d.mu.Lock()
	admin := d.admin
	d.admin = nil
	d.mu.Unlock()
	if admin != nil {
		admin.close()
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

// openAdmin opens the admin listener at addr.
func (d *daemon) openAdmin(addr string) (*adminServer, error) {
	log := d.log.Named("admin")
	return openAdmin(addr, d.metrics.Handler(log), log)
}

// state is what the admin listener shows of d now. It holds d.mu only to
// read the current deployment, and waits on no request.
func (d *daemon) state() ops.State {
	d.mu.RLock()
	dep := d.cur
	d.mu.RUnlock()
	st := ops.State{
		Started:  d.started,
		Draining: d.draining.Load(),
		Accepted: d.accepted.Load(),
		InFlight: d.inflight.Load(),
	}
	if dep == nil {
		return st
	}
	for _, m := range dep.mounts {
		ms := ops.MountState{Prefix: m.prefix, Serves: m.what}
		if m.app != nil {
			ms.MaxRunning, ms.MaxQueue = m.app.Limits()
		}
		if pool, ok := m.app.(interface{ Status() worker.Status }); ok {
			// One snapshot, so that busy workers and requests running
			// agree.
			ws := pool.Status()
			ms.Workers = &ws
			ms.Running, ms.Queued = ws.Busy, ws.Waiting
		} else if m.app != nil {
			ms.Running, ms.Queued = m.app.Usage()
		}
		st.Mounts = append(st.Mounts, ms)
	}
	return st
}

// counts is what the unit's status line adds to what d serves: the
// requests in flight and queued, when there are any.
func (d *daemon) counts() string {
	st := d.state()
	queued := 0
	for _, m := range st.Mounts {
		queued += m.Queued
	}
	if st.InFlight == 0 && queued == 0 {
		return ""
	}
	return fmt.Sprintf(": %d in flight, %d queued", st.InFlight, queued)
}

// check is the watchdog's self-check: every listener's accept loop still
// runs, and the admin listener, if there is one, answers.
func (d *daemon) check(ctx context.Context) error {
	d.mu.RLock()
	var ended []string
	for _, bs := range d.listeners {
		for _, b := range bs {
			if b.ended.Load() && !b.removed.Load() {
				ended = append(ended, listenURL(b.p.scheme, b.l))
			}
		}
	}
	admin := d.admin
	d.mu.RUnlock()
	if len(ended) > 0 {
		slices.Sort(ended)
		return fmt.Errorf("listeners no longer accept: %s", strings.Join(ended, ", "))
	}
	if admin != nil {
		return admin.check(ctx)
	}
	return nil
}
