//go:build unix

package worker

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"gatewayd/handler"
	"gatewayd/handler/internal/queue"
	"gatewayd/handler/subprocess"
)

// Pool is the App that runs requests on persistent FastCGI worker
// processes it starts and supervises. It is safe for concurrent use.
type Pool struct {
	cfg    Config
	common common
	log    hclog.Logger
	dir    string // private directory of the workers' sockets
	env    []string

	starter subprocess.Starter
	q       queue.Queue
	idle    chan *proc    // workers ready for a request
	halt    chan struct{} // closed by Stop: no request starts, no worker either
	halted  sync.Once
	stopped chan struct{}  // closed once Stop has reaped every worker
	supers  sync.WaitGroup // one supervisor per process slot

	mu      sync.Mutex
	procs   map[*proc]bool // every worker started and not yet reaped
	crashes []time.Time    // within the last minute
	failing error          // set while rapid-fail protection holds the pool
	// refusing is closed when rapid-fail protection begins, waking the
	// requests waiting for a worker; a new one replaces it when it lifts.
	refusing chan struct{}
	gen      int // sockets made, for their names

	restarts atomic.Int64
	states   [numStates]atomic.Int64
}

// NewPool starts cfg.Processes workers and returns once every one of them
// answers FastCGI, or fails, naming the pool and why, with none left
// running: a command that does not exist, exits at once or does not
// answer within the start timeout.
func NewPool(cfg Config) (*Pool, error) {
	cfg = cfg.withDefaults()
	if len(cfg.Command) == 0 {
		return nil, errors.New("worker: no command")
	}
	dir, err := os.MkdirTemp("", "gatewayd-workers-")
	if err != nil {
		return nil, fmt.Errorf("worker %s: %w", cfg.Name, err)
	}
	p := &Pool{
		cfg:      cfg,
		common:   common{Name: cfg.Name, KillGrace: cfg.KillGrace, MaxStderr: cfg.MaxStderr},
		log:      cfg.Logger.With("worker", cfg.Name),
		dir:      dir,
		env:      workerEnv(cfg),
		q:        queue.Queue{Max: cfg.MaxQueue, Timeout: cfg.QueueTimeout, What: "worker"},
		idle:     make(chan *proc, 2*cfg.Processes),
		halt:     make(chan struct{}),
		stopped:  make(chan struct{}),
		procs:    map[*proc]bool{},
		refusing: make(chan struct{}),
	}
	// Start them all at once, and fail if any does not come up.
	first := make([]*proc, cfg.Processes)
	errs := make([]error, cfg.Processes)
	var wg sync.WaitGroup
	for i := range first {
		wg.Go(func() { first[i], errs[i] = p.spawn() })
	}
	wg.Wait()
	if err := joinDistinct(errs); err != nil {
		for _, w := range first {
			if w != nil {
				w.stop(cfg.KillGrace)
			}
		}
		p.starter.Close()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("worker %s: %w", cfg.Name, err)
	}
	for _, w := range first {
		p.supers.Go(func() { p.supervise(w) })
	}
	p.log.Info("workers started", "command", cfg.Command[0], "processes", cfg.Processes)
	return p, nil
}

// joinDistinct joins the errors of workers that failed to start, each
// message once: four workers of a command that does not exist fail alike.
func joinDistinct(errs []error) error {
	var distinct []error
	seen := map[string]bool{}
	for _, err := range errs {
		if err != nil && !seen[err.Error()] {
			seen[err.Error()] = true
			distinct = append(distinct, err)
		}
	}
	return errors.Join(distinct...)
}

// workerEnv is the environment of every worker process: the configured
// one, and the two variables that make php-cgi serve from the one process
// gatewayd supervises (PHP_FCGI_CHILDREN=0: no children of its own) and
// leave recycling to gatewayd. Other programs ignore them.
func workerEnv(cfg Config) []string {
	env := cfg.Env.Clone()
	if env == nil {
		env = map[string]string{}
	}
	env["PHP_FCGI_CHILDREN"] = "0"
	env["PHP_FCGI_MAX_REQUESTS"] = "0" // never: gatewayd recycles
	return env.List()
}

// Limits returns the bounds in force: workers and queue.
func (p *Pool) Limits() (processes, queue int) { return p.cfg.Processes, p.cfg.MaxQueue }

// Usage returns how many requests workers are running and how many wait
// for one, now. It takes no lock: the status page calls it while every
// worker is busy.
func (p *Pool) Usage() (running, waiting int) {
	return int(p.states[stateBusy].Load()), p.q.Waiting()
}

// Start runs c on an idle worker, waiting for one up to the queue timeout.
// It implements handler.App.
func (p *Pool) Start(ctx context.Context, c *handler.Call) (handler.Run, error) {
	for {
		// Under rapid-fail protection a request gets 503 at once, unless
		// a worker is idle; one that waits gets it when protection begins.
		refusing, failing := p.protection()
		if failing != nil && len(p.idle) == 0 {
			return nil, failing
		}
		w, err := queue.Take(ctx, &p.q, p.idle, p.halt, errClosed, refusing)
		if err != nil {
			if _, failing := p.protection(); failing != nil {
				return nil, failing
			}
			if err == queue.ErrRefused {
				continue // lifted meanwhile
			}
			return nil, err
		}
		if w.gone() {
			continue // died while idle; its supervisor starts another
		}
		return w.start(ctx, c)
	}
}

// protection returns the channel closed when rapid-fail protection next
// begins, and its 503 while it holds, or nil.
func (p *Pool) protection() (<-chan struct{}, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failing == nil {
		return p.refusing, nil
	}
	return p.refusing, &handler.Error{Status: http.StatusServiceUnavailable, Err: p.failing}
}

// Stop stops the pool: no request starts any more, idle workers get
// SIGTERM and then SIGKILL after the kill grace, and workers still serving
// a request get the same at once. It returns when every worker is reaped,
// or ctx's error when ctx ends first. Stop may be called again, and by
// several goroutines: each waits for the same end.
func (p *Pool) Stop(ctx context.Context) error {
	p.halted.Do(func() {
		close(p.halt)
		p.mu.Lock()
		all := make([]*proc, 0, len(p.procs))
		for w := range p.procs {
			all = append(all, w)
		}
		p.mu.Unlock()
		go func() {
			var wg sync.WaitGroup
			for _, w := range all {
				wg.Go(func() { w.stop(p.cfg.KillGrace) })
			}
			wg.Wait()
			p.supers.Wait()
			p.starter.Close()
			os.RemoveAll(p.dir)
			close(p.stopped)
		}()
	})
	select {
	case <-p.stopped:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("worker %s: stop: %w", p.cfg.Name, ctx.Err())
	}
}

// Close stops the pool (Stop) once the requests served by it are done.
// The daemon calls it after the last request of a deployment ended.
func (p *Pool) Close() { p.Stop(context.Background()) }

// supervise keeps one worker slot filled: it waits for its worker to
// exit and starts the next, after a back-off when workers crash.
func (p *Pool) supervise(w *proc) {
	fails := 0
	for {
		<-w.exited
		p.forget(w)
		p.sweep()
		select {
		case <-p.halt:
			return
		default:
		}
		if w.retired.Load() {
			fails = 0
		} else {
			fails++
			if time.Since(w.started) > stableAfter || w.served.Load() > 0 {
				fails = 1
			}
			p.crashed(w)
		}
		for {
			if !p.sleep(p.delay(fails)) {
				return
			}
			next, err := p.spawn()
			if err == nil {
				w = next
				p.recovered()
				break
			}
			fails++
			p.log.Error("worker did not start", "error", err)
			p.crashedAt(time.Now(), err)
		}
	}
}

// stableAfter is how long a worker must run for its crash not to count
// as one of a series.
const stableAfter = 10 * time.Second

// delay is the back-off before the next start after fails crashes in a
// row: none for the first, then 100ms doubling to 10s; while rapid-fail
// protection holds, until it lifts.
func (p *Pool) delay(fails int) time.Duration {
	p.mu.Lock()
	failing := p.failing != nil
	var until time.Duration
	if failing && len(p.crashes) > 0 {
		until = time.Until(p.crashes[0].Add(rapidWindow))
	}
	p.mu.Unlock()
	if failing {
		return max(until, 100*time.Millisecond)
	}
	if fails <= 1 {
		return 0
	}
	return min(100*time.Millisecond<<min(fails-2, 7), 10*time.Second)
}

// sleep waits d, or until the pool stops; it reports whether to go on.
func (p *Pool) sleep(d time.Duration) bool {
	if d <= 0 {
		select {
		case <-p.halt:
			return false
		default:
			return true
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-p.halt:
		return false
	}
}

// rapidWindow is the window of rapid-fail protection.
const rapidWindow = time.Minute

// crashed records that w ended by itself.
func (p *Pool) crashed(w *proc) {
	err := fmt.Errorf("worker pid %d %s", w.pid, w.status())
	if t := w.tail(); t != "" {
		err = fmt.Errorf("%w; its last output: %s", err, t)
	}
	p.log.Error("worker exited; starting another", "pid", w.pid, "status", w.status(), "served", w.served.Load(), "output_tail", w.tail())
	p.crashedAt(time.Now(), err)
}

// crashedAt counts a crash at t and turns rapid-fail protection on when
// there were RapidFails of them within a minute.
func (p *Pool) crashedAt(t time.Time, why error) {
	p.restarts.Add(1)
	p.mu.Lock()
	defer p.mu.Unlock()
	keep := p.crashes[:0]
	for _, c := range p.crashes {
		if t.Sub(c) < rapidWindow {
			keep = append(keep, c)
		}
	}
	p.crashes = append(keep, t)
	if len(p.crashes) >= p.cfg.RapidFails && p.failing == nil {
		p.failing = fmt.Errorf("worker %s: %d worker failures within %v, requests refused until workers start again; last: %w",
			p.cfg.Name, len(p.crashes), rapidWindow, why)
		p.log.Error("rapid-fail protection: requests get 503 until workers start again",
			"failures", len(p.crashes), "window", rapidWindow, "last", why.Error())
		close(p.refusing)
	}
}

// recovered lifts rapid-fail protection once a worker started.
func (p *Pool) recovered() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failing != nil {
		p.failing = nil
		p.crashes = p.crashes[:0]
		p.refusing = make(chan struct{})
		p.log.Info("workers start again; rapid-fail protection lifted")
	}
}

// sweep drops the workers that died while idle from the idle ones.
func (p *Pool) sweep() {
	for range len(p.idle) {
		select {
		case w := <-p.idle:
			if !w.gone() {
				p.idle <- w // room enough: no more than Processes workers live
			}
		default:
			return
		}
	}
}

func (p *Pool) forget(w *proc) {
	p.mu.Lock()
	delete(p.procs, w)
	p.mu.Unlock()
	os.Remove(w.sock)
}

// spawn starts a worker and waits until it answers FastCGI; a worker that
// does not is stopped and its error returned.
func (p *Pool) spawn() (*proc, error) {
	select {
	case <-p.halt:
		return nil, errClosed
	default:
	}
	p.mu.Lock()
	p.gen++
	sock := filepath.Join(p.dir, fmt.Sprintf("w%d.sock", p.gen))
	p.mu.Unlock()
	l, err := listenSocket(sock)
	if err != nil {
		return nil, err
	}
	w, err := p.exec(l, sock)
	l.Close() // the worker holds its own copy
	if err != nil {
		os.Remove(sock)
		return nil, err
	}
	if err := w.ready(p.cfg.StartTimeout); err != nil {
		w.stop(p.cfg.KillGrace)
		<-w.exited
		p.forget(w)
		if t := w.tail(); t != "" {
			err = fmt.Errorf("%w; its output: %s", err, t)
		}
		return nil, err
	}
	w.setState(stateIdle)
	p.idle <- w
	return w, nil
}

// listenSocket makes the listening unix socket a worker gets as fd 0.
func listenSocket(path string) (*os.File, error) {
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, err
	}
	l.SetUnlinkOnClose(false)
	// File duplicates the socket; the exec puts the copy in blocking
	// mode, as FastCGI programs expect their listening socket to be.
	f, err := l.File()
	l.Close()
	if err != nil {
		os.Remove(path)
		return nil, err
	}
	return f, nil
}

// exec starts a worker process on the listening socket l.
func (p *Pool) exec(l *os.File, sock string) (*proc, error) {
	cmd := exec.Command(p.cfg.Command[0], p.cfg.Command[1:]...)
	cmd.Env = p.env
	cmd.Dir = p.cfg.Dir
	cmd.Stdin = l
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = outW, outW
	err = p.starter.Start(cmd)
	outW.Close()
	if err != nil {
		outR.Close()
		return nil, fmt.Errorf("start %s: %w", p.cfg.Command[0], err)
	}
	w := &proc{p: p, cmd: cmd, pid: cmd.Process.Pid, sock: sock, started: time.Now(), exited: make(chan struct{}), logDone: make(chan struct{})}
	w.state.Store(stateGone)
	w.setState(stateStarting)
	go w.relayOutput(outR)
	go w.reap()
	p.mu.Lock()
	p.procs[w] = true
	p.mu.Unlock()
	if p.stopping() {
		// Stop may have listed the workers before this one.
		go w.stop(p.cfg.KillGrace)
	}
	return w, nil
}

// deathWait is how long a worker whose connection broke has to be seen to
// exit before it is taken back as idle.
const deathWait = 100 * time.Millisecond

// Worker states, for the status and the metrics.
const (
	stateStarting = iota
	stateIdle
	stateBusy
	stateStopping
	numStates
	stateGone = -1
)

// proc is one worker process.
type proc struct {
	p       *Pool
	cmd     *exec.Cmd
	pid     int
	sock    string
	started time.Time
	served  atomic.Int64
	retired atomic.Bool // gatewayd ended it (recycled, stuck, stopped): not a crash

	// c is the connection to it, nil until the first request and after
	// one that left it unusable. Whoever holds the worker uses it; stop
	// takes it away to close it.
	c atomic.Pointer[conn]

	exited  chan struct{} // closed once reaped
	logDone chan struct{} // closed when relayOutput returns
	sigMu   sync.Mutex    // held while signalling, so that no signal follows the reap
	reaped  bool

	request atomic.Pointer[string] // the id of the request it serves, for its output lines
	state   atomic.Int32

	tailMu sync.Mutex
	output handler.Tail // the end of its output; guarded by tailMu
}

func (w *proc) setState(s int32) {
	old := w.state.Swap(s)
	if old >= 0 && old < numStates {
		w.p.states[old].Add(-1)
	}
	if s >= 0 {
		w.p.states[s].Add(1)
	}
}

func (w *proc) gone() bool {
	select {
	case <-w.exited:
		return true
	default:
		return false
	}
}

// reap waits for the process and records its end.
func (w *proc) reap() {
	w.cmd.Wait()
	w.sigMu.Lock()
	w.reaped = true
	w.sigMu.Unlock()
	<-w.logDone
	w.setState(stateGone)
	close(w.exited)
}

// signal sends sig to the worker's process group, unless it is reaped.
func (w *proc) signal(sig syscall.Signal) {
	w.sigMu.Lock()
	defer w.sigMu.Unlock()
	if !w.reaped {
		syscall.Kill(-w.pid, sig)
	}
}

// stop ends the worker: SIGTERM to its group, SIGKILL after grace. Its
// connection is closed first: php-cgi does not act on SIGTERM while it
// waits on a kept connection.
func (w *proc) stop(grace time.Duration) {
	w.retired.Store(true)
	w.setState(stateStopping)
	if c := w.c.Swap(nil); c != nil {
		c.close()
	}
	w.signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-w.exited:
	case <-t.C:
		w.signal(syscall.SIGKILL)
		<-w.exited
	}
}

// kill ends the worker at once.
func (w *proc) kill() {
	w.retired.Store(true)
	w.setState(stateStopping)
	w.signal(syscall.SIGKILL)
}

// status says how the worker ended.
func (w *proc) status() string {
	ps := w.cmd.ProcessState
	if ps == nil {
		return "still running"
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return fmt.Sprintf("killed by signal %d (%v)", int(ws.Signal()), ws.Signal())
	}
	return "exited with status " + strconv.Itoa(ps.ExitCode())
}

// ready waits until the worker answers FCGI_GET_VALUES.
func (w *proc) ready(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := w.probe(deadline)
		if err == nil {
			return nil
		}
		if w.gone() {
			return fmt.Errorf("%s %s before it answered FastCGI", w.p.cfg.Command[0], w.status())
		}
		if time.Now().After(deadline) {
			if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
				return fmt.Errorf("%s did not answer FastCGI within %v", w.p.cfg.Command[0], timeout)
			}
			return fmt.Errorf("%s did not answer FastCGI within %v: %w", w.p.cfg.Command[0], timeout, err)
		}
		select {
		case <-w.exited:
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// probe asks the worker for FCGI_MPXS_CONNS on a connection of its own,
// which it then closes: php-cgi closes a connection on which no request
// began within 5s, so the one for requests is made when the first comes.
func (w *proc) probe(deadline time.Time) error {
	nc, err := net.DialTimeout("unix", w.sock, time.Until(deadline))
	if err != nil {
		return err
	}
	c := newConn(nc)
	defer c.close()
	nc.SetDeadline(deadline)
	_, err = c.fcgi.GetValues("FCGI_MPXS_CONNS")
	return err
}

// start runs c on the worker, which its caller took from the idle ones.
func (w *proc) start(ctx context.Context, c *handler.Call) (handler.Run, error) {
	cn := w.c.Load()
	if cn == nil {
		// The first request, or the last left the connection unusable.
		nc, err := net.DialTimeout("unix", w.sock, w.p.cfg.StartTimeout)
		if err != nil {
			w.kill()
			return nil, fmt.Errorf("worker %s: pid %d: %w", w.p.cfg.Name, w.pid, err)
		}
		cn = newConn(nc)
		w.c.Store(cn)
	}
	w.setState(stateBusy)
	id := c.ID
	w.request.Store(&id)
	f, err := startForward(ctx, cn, c, &w.p.common, w.pid, w.release)
	if err != nil {
		w.release(outcome{err: err})
		return nil, fmt.Errorf("worker %s: pid %d: %w", w.p.cfg.Name, w.pid, err)
	}
	return f, nil
}

// release takes the worker back after a request and decides its fate:
// idle again, a new connection, recycled, or killed.
func (w *proc) release(o outcome) {
	w.request.Store(nil)
	n := w.served.Add(1)
	if o.err != nil || !o.end.Reusable {
		if c := w.c.Swap(nil); c != nil {
			c.close()
		}
	}
	p := w.p
	if o.err != nil && !o.stuck {
		// A connection that broke mostly means a worker that died: give
		// its exit a moment to show, rather than hand it to a request.
		select {
		case <-w.exited:
		case <-time.After(deathWait):
		}
	}
	switch {
	case o.stuck:
		p.log.Warn("worker did not end an aborted request; killed", "pid", w.pid)
		w.kill()
		return
	case w.gone():
		return
	case p.stopping():
		go w.stop(p.cfg.KillGrace)
		return
	case p.cfg.MaxRequests > 0 && n >= int64(p.cfg.MaxRequests):
		p.log.Debug("worker recycled", "pid", w.pid, "served", n)
		go w.stop(p.cfg.KillGrace)
		return
	case p.cfg.MaxRSS > 0:
		if rss, err := residentBytes(w.pid); err == nil && rss > p.cfg.MaxRSS {
			p.log.Info("worker recycled: resident memory over max_rss", "pid", w.pid, "rss", rss, "max_rss", p.cfg.MaxRSS)
			go w.stop(p.cfg.KillGrace)
			return
		}
	}
	w.setState(stateIdle)
	p.idle <- w
}

func (p *Pool) stopping() bool {
	select {
	case <-p.halt:
		return true
	default:
		return false
	}
}

// relayOutput logs what the worker writes on its stdout and stderr, line
// by line, tagged with its pid and the request it serves, and keeps the
// tail for the error when it fails to start or exits.
func (w *proc) relayOutput(r *os.File) {
	defer close(w.logDone)
	defer r.Close()
	log := w.p.log.With("pid", w.pid)
	br := bufio.NewReaderSize(r, 4<<10)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			w.keepTail(line)
			if id := w.request.Load(); id != nil {
				log.Warn("worker output: "+handler.Printable(line), "request_id", *id)
			} else {
				log.Warn("worker output: " + handler.Printable(line))
			}
		}
		if err != nil && err != bufio.ErrBufferFull {
			return
		}
	}
}

func (w *proc) keepTail(b []byte) {
	w.tailMu.Lock()
	defer w.tailMu.Unlock()
	w.output.Write(b)
}

func (w *proc) tail() string {
	w.tailMu.Lock()
	defer w.tailMu.Unlock()
	return handler.Printable([]byte(w.output.String()))
}

// Status returns a snapshot of the pool.
func (p *Pool) Status() Status {
	st := Status{
		Starting: int(p.states[stateStarting].Load()),
		Idle:     int(p.states[stateIdle].Load()),
		Busy:     int(p.states[stateBusy].Load()),
		Stopping: int(p.states[stateStopping].Load()),
		Restarts: p.restarts.Load(),
		Waiting:  p.q.Waiting(),
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for w := range p.procs {
		if s := w.state.Load(); s == stateIdle || s == stateBusy {
			st.Pids = append(st.Pids, w.pid)
		}
	}
	slices.Sort(st.Pids)
	if p.failing != nil {
		st.Failing = p.failing.Error()
	}
	return st
}
