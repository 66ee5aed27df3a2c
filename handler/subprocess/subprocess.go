// Package subprocess is the App that runs a CGI program as a child process,
// one per request (RFC 3875).
//
// Each child gets the environment the pipeline built and nothing else, runs
// in its program's directory and leads its own process group. Its stdin,
// stdout and stderr are pumped concurrently, so no program can deadlock the
// gateway by writing before it reads. Cancelling the request's context — a
// timeout, a client that went away — sends SIGTERM to the whole group, then
// SIGKILL after a grace period, and the child is always reaped. When the
// program exits, whatever it left running in its group is killed: a CGI
// response ends with its program, and a program that wants to leave a
// daemon behind must start it in a session of its own (setsid).
//
// A response ends when its program's stdout reaches EOF, which it does not
// while something the program left behind holds stdout open (a shell
// script's "sleep 100 &" inherits it). So once the program itself has
// exited (noticed within a grace period of quiet output), its output gets a
// further grace period without output to end; if it does not, whatever is
// left in the program's process group is killed with SIGKILL, and the
// response ends with everything read so far. A process that left the group
// and still holds stdout after one more grace period cannot be killed by
// group: the output is ended without it, from what the pipe holds. Either
// way one warning names the group. Noticing that a program has exited but
// not been reaped needs waitid's WNOWAIT (Linux), kqueue (macOS and the
// BSDs) or a process handle (Windows); elsewhere, such a request keeps its
// slot until it is stopped, and what a program leaves in its group lives
// on.
//
// Stop stops every program at once, for a daemon that must exit now. On
// Linux and FreeBSD a child also gets SIGKILL when gatewayd dies, however it
// dies (the parent-death signal); on Windows every child runs in a job
// object that ends with gatewayd. Elsewhere, and on Linux and FreeBSD for
// what a child started itself, the service manager has to end them
// (systemd's default KillMode=control-group does).
//
// A child leaves gatewayd's process group in its first instructions, but
// a signal sent to that whole group in the microseconds before (a Ctrl-C
// in gatewayd's terminal, kill -TERM -PGID) is left pending in it and
// ends it before the program runs: the request gets a 500 whose log line
// has signal=terminated. Go gives no way to start the child with such a
// signal kept blocked, so a graceful stop has to signal gatewayd alone, as
// systemd's KillMode=mixed, in the unit gatewayd ships, does.
//
// The number of children is bounded; requests over the bound wait in a
// bounded queue for at most a queue timeout and then get 503 (the cause is
// handler.ErrOverloaded).
package subprocess

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"gatewayd/handler"
	"gatewayd/handler/internal/queue"
)

// Config configures a Runner. The zero value of every field means its default.
type Config struct {
	// MaxChildren bounds the programs running at once. Default: 4 × the
	// number of CPUs (DefaultMaxChildren).
	MaxChildren int
	// MaxQueue bounds the requests waiting for a free slot; a request beyond
	// it gets 503 at once. Default: 16 × MaxChildren.
	MaxQueue int
	// QueueTimeout is the longest a request waits for a free slot before it
	// gets 503. Default: 10s.
	QueueTimeout time.Duration
	// KillGrace is the time between SIGTERM and SIGKILL when a child is
	// stopped. It is also how long the output of a program that has exited
	// may go quiet before what holds it open is killed. Default: 2s.
	KillGrace time.Duration
	// MaxStderr bounds the bytes of a child's stderr written to the log per
	// request; the rest is counted and dropped. Default: 64 KiB.
	MaxStderr int
}

// Defaults of Config. MaxChildren and MaxQueue are computed from the
// factors: see DefaultMaxChildren.
const (
	DefaultChildrenPerCPU = 4  // MaxChildren: this many per CPU
	DefaultQueuePerChild  = 16 // MaxQueue: this many per MaxChildren
	DefaultQueueTimeout   = 10 * time.Second
	DefaultKillGrace      = 2 * time.Second
	DefaultMaxStderr      = handler.DefaultMaxStderr
)

// DefaultMaxChildren returns the default of Config.MaxChildren on this
// machine: DefaultChildrenPerCPU × runtime.NumCPU().
func DefaultMaxChildren() int { return DefaultChildrenPerCPU * runtime.NumCPU() }

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	if c.MaxChildren <= 0 {
		c.MaxChildren = DefaultMaxChildren()
	}
	if c.MaxQueue <= 0 {
		c.MaxQueue = DefaultQueuePerChild * c.MaxChildren
	}
	if c.QueueTimeout <= 0 {
		c.QueueTimeout = DefaultQueueTimeout
	}
	if c.KillGrace <= 0 {
		c.KillGrace = DefaultKillGrace
	}
	if c.MaxStderr <= 0 {
		c.MaxStderr = DefaultMaxStderr
	}
	return c
}

// Runner starts CGI programs. It is safe for concurrent use; one Runner is
// shared by every request so that its bounds hold for the whole daemon.
type Runner struct {
	cfg Config

	slots chan struct{} // a token per free child slot
	queue queue.Queue   // requests waiting for a slot

	pumps sync.WaitGroup // stdin pumps still blocked on a request body

	devNull *os.File // the stdin of children without a body, opened once
	starter Starter  // starts every child

	halt    context.Context    // done once Stop was called: every child is stopped, no more start
	haltNow context.CancelFunc // ends halt
	stopMu  sync.Mutex         // serialises Stop, which owns held
	held    int                // slots Stop has taken for good
}

// New returns a Runner with the given configuration.
func New(cfg Config) *Runner {
	cfg = cfg.withDefaults()
	r := &Runner{cfg: cfg, slots: make(chan struct{}, cfg.MaxChildren),
		queue: queue.Queue{Max: cfg.MaxQueue, Timeout: cfg.QueueTimeout, What: "slot"}}
	for range cfg.MaxChildren {
		r.slots <- struct{}{}
	}
	// Opened once rather than for every child; if it cannot be, start
	// opens it for each.
	r.devNull, _ = os.Open(os.DevNull)
	r.halt, r.haltNow = context.WithCancel(context.Background())
	return r
}

// Limits reports the bounds the Runner enforces, for FastCGI's GET_VALUES.
func (r *Runner) Limits() (maxChildren, maxQueue int) {
	return r.cfg.MaxChildren, r.cfg.MaxQueue
}

// Usage returns how many program slots are taken and how many requests
// wait for one, now. It takes no lock: the status page calls it while
// every slot is busy. Once Stop has begun, the slots it took count as
// taken.
func (r *Runner) Usage() (running, waiting int) {
	return r.cfg.MaxChildren - len(r.slots), r.queue.Waiting()
}

// Close waits for stdin pumps that outlived their request — a pump blocked
// on a request body ends when the front-end closes that body's connection —
// and releases what the Runner holds. No Start may follow it.
func (r *Runner) Close() {
	r.pumps.Wait()
	r.starter.Close()
	if r.devNull != nil {
		r.devNull.Close()
	}
}

// errStopped is the cause of the 503 a request gets once Stop was called.
var errStopped = errors.New("subprocess: stopping")

// Stop stops every program still running as a cancelled request stops it:
// SIGTERM to its process group, SIGKILL after KillGrace. Requests waiting
// for a slot, and every Start from now on, get 503. Stop returns once every
// program has exited and been reaped — that is, once the pipeline has read
// what it wrote and called Wait — or returns ctx's error when ctx ends
// first, as it does when a client that stopped reading holds up a response;
// its programs are still killed.
func (r *Runner) Stop(ctx context.Context) error {
	r.haltNow()
	r.stopMu.Lock()
	defer r.stopMu.Unlock()
	// A slot comes back when its child has been reaped.
	for ; r.held < r.cfg.MaxChildren; r.held++ {
		select {
		case <-r.slots:
		case <-ctx.Done():
			return fmt.Errorf("subprocess: stop: %d programs not reaped: %w",
				r.cfg.MaxChildren-r.held, ctx.Err())
		}
	}
	return nil
}

// stopping reports whether Stop was called.
func (r *Runner) stopping() bool {
	select {
	case <-r.halt.Done():
		return true
	default:
		return false
	}
}

// acquire takes a child slot, waiting in the queue if all are taken.
func (r *Runner) acquire(ctx context.Context) error {
	_, err := queue.Take(ctx, &r.queue, r.slots, r.halt.Done(), errStopped, nil)
	return err
}

func (r *Runner) release() { r.slots <- struct{}{} }

// Start runs c.Program with c.Args. It implements handler.App.
func (r *Runner) Start(ctx context.Context, c *handler.Call) (handler.Run, error) {
	if c.Program == "" {
		return nil, errors.New("subprocess: no program")
	}
	if err := r.acquire(ctx); err != nil {
		return nil, err
	}
	if r.stopping() {
		// Stop came while this request waited; the slot is for Stop.
		r.release()
		return nil, &handler.Error{Status: http.StatusServiceUnavailable, Err: errStopped}
	}
	run, err := r.start(ctx, c)
	if err != nil {
		r.release()
		return nil, err
	}
	return run, nil
}

func (r *Runner) start(ctx context.Context, c *handler.Call) (*run, error) {
	stdoutR, stdoutW, err := childPipe(false, true)
	if err != nil {
		return nil, err
	}
	stderrR, stderrW, err := childPipe(false, false)
	if err != nil {
		stdoutR.Close()
		stdoutW.Close()
		return nil, err
	}
	files := []*os.File{nil, stdoutW, stderrW}

	// A body in a file (spooled) is handed over as the child's stdin
	// directly; a stream is pumped through a pipe; no body is /dev/null.
	var stdinW *os.File
	switch body := c.Body.(type) {
	case *os.File:
		files[0] = body
	case nil:
		files[0] = r.devNull
	default:
		if body == http.NoBody {
			files[0] = r.devNull
			break
		}
		var stdinR *os.File
		stdinW, stdinR, err = childPipe(true, true)
		if err != nil {
			closeFiles(stdoutR, stdoutW, stderrR, stderrW)
			return nil, err
		}
		files[0] = stdinR
		defer stdinR.Close()
	}
	if files[0] == nil {
		// No shared /dev/null (New could not open it): a child must never
		// start with fd 0 closed, where the next file it opened would land.
		f, err := os.Open(os.DevNull)
		if err != nil {
			closeFiles(stdoutR, stdoutW, stderrR, stderrW)
			return nil, err
		}
		files[0] = f
		defer f.Close()
	}

	proc, err := r.starter.s.spawn(c.Program, c.Args, c.Env.List(), filepath.Dir(c.Program), files)
	// The child holds its own copies of these ends now.
	stdoutW.Close()
	stderrW.Close()
	if err != nil {
		stdoutR.Close()
		stderrR.Close()
		if stdinW != nil {
			stdinW.Close()
		}
		return nil, fmt.Errorf("subprocess: start %s: %w", c.Program, err)
	}

	pid := proc.Pid
	log := c.Log
	if log == nil {
		log = hclog.NewNullLogger()
	}
	p := &run{
		r:       r,
		proc:    proc,
		program: c.Program,
		log:     log,
		stdout:  stdoutR,
		stderr:  stderrR,
		exited:  make(chan struct{}),
		stopped: make(chan struct{}),
		logDone: make(chan struct{}),
		errLog:  handler.NewStderrLog(c, r.cfg.MaxStderr, "program", c.Program, "pid", pid),
	}
	p.mu.Lock()
	p.stateAt = time.Now()
	p.watch = time.AfterFunc(r.cfg.KillGrace, p.checkLeftovers)
	p.mu.Unlock()
	go p.relayStderr()
	if stdinW != nil {
		r.pumps.Add(1)
		go func() {
			defer r.pumps.Done()
			pump(stdinW, c.Body)
		}()
	}
	// No goroutine waits for a stop: most requests never need one.
	p.unwatchCtx = context.AfterFunc(ctx, func() { p.stop(false) })
	p.unwatchHalt = context.AfterFunc(r.halt, func() { p.stop(true) })
	return p, nil
}

// closeFiles closes each of fs.
func closeFiles(fs ...*os.File) {
	for _, f := range fs {
		f.Close()
	}
}

// pump copies the request body to the child's stdin and closes it. A child
// that exits without reading its body ends the copy with EPIPE. A body
// that can write itself into the pipe (handler.PipeBody) does.
func pump(w *os.File, body io.Reader) {
	if pb, ok := body.(handler.PipeBody); ok {
		pb.PipeTo(newFilePipe(w))
		w.Close()
		return
	}
	bp := pumpBuffers.Get().(*[]byte)
	io.CopyBuffer(struct{ io.Writer }{w}, body, *bp)
	pumpBuffers.Put(bp)
	w.Close()
}

// pumpBuffers are pump's, 64 KiB: a quarter of the bulk pipe, and more
// than io.Copy's 32 KiB (os.File's ReadFrom would take that path; the
// wrapper in pump keeps it off).
var pumpBuffers = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// run is one running child. The pipeline reads stdout and then calls Wait;
// relayStderr runs beside it and ends by itself, stop runs when the
// request's context ends or Stop is called, and checkLeftovers runs on a
// timer until Wait.
type run struct {
	r       *Runner
	proc    *os.Process
	program string
	log     hclog.Logger // the request's, without the program's fields
	stdout  *os.File     // read by the pipeline
	stderr  *os.File     // read by logStderr

	exited  chan struct{} // closed once the child has exited; no signal is sent after it
	stopped chan struct{} // closed when a stop that began returns
	logDone chan struct{} // closed when relayStderr returns
	killed  atomic.Bool   // the context or Stop ended the child
	halted  atomic.Bool   // Stop ended the child

	unwatchCtx, unwatchHalt func() bool // from context.AfterFunc, for stop
	stopping                atomic.Bool // a stop has begun

	waitingSince atomic.Int64 // UnixNano since when a Read has waited for output, or 0 outside Read
	ended        atomic.Bool  // checkLeftovers ended the output: Read returns what the pipe holds, then io.EOF

	mu       sync.Mutex  // held by checkLeftovers; guards the fields below
	watch    *time.Timer // runs checkLeftovers
	reaping  bool        // Wait has begun: the group may no longer be signalled from the watch
	leftover leftover    // how far checkLeftovers has gone
	stateAt  time.Time   // when leftover last changed, or the start

	errLog *handler.StderrLog // written by relayStderr, read after logDone
}

// leftover is what checkLeftovers found of a program that exited while its
// stdout stayed open.
type leftover int

const (
	leftoverNone   leftover = iota // the program runs, or its output ended by itself
	leftoverExited                 // it exited and stdout stays open
	leftoverKilled                 // the rest of its group was killed
	leftoverEnded                  // stdout still stayed open: the output was ended
)

// Read reads the program's stdout. Once checkLeftovers has ended the output
// it returns only what the pipe still holds, then io.EOF. Output that ends
// because Stop ended the program is not complete: its end is a 503 error,
// not io.EOF, as the pipeline cannot tell otherwise.
func (p *run) Read(b []byte) (int, error) {
	n, err := p.read(b)
	if err == io.EOF && p.halted.Load() {
		return n, &handler.Error{Status: http.StatusServiceUnavailable, Err: errStopped}
	}
	return n, err
}

func (p *run) read(b []byte) (int, error) {
	if p.ended.Load() {
		return readAvailable(p.stdout, b)
	}
	p.waitingSince.Store(time.Now().UnixNano())
	n, err := p.stdout.Read(b)
	p.waitingSince.Store(0)
	if n > 0 {
		return n, nil
	}
	if err != nil && err != io.EOF && p.ended.Load() {
		return readAvailable(p.stdout, b) // woken by checkLeftovers
	}
	return n, err
}

// checkLeftovers runs each time the output has been quiet for KillGrace,
// until Wait. Quiet means the pipeline has waited in Read that long: while
// it is busy elsewhere, writing to a slow client say, the output has not
// been given a chance to end. Once the program has exited and its stdout has
// stayed open and quiet for another KillGrace, checkLeftovers kills what is
// left in the program's group, which then closes stdout; if stdout stays
// open and quiet for one more KillGrace, a process outside the group holds
// it, and the output is ended here.
func (p *run) checkLeftovers() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.reaping {
		return
	}
	grace := p.r.cfg.KillGrace
	now := time.Now()
	since := p.waitingSince.Load()
	if since == 0 {
		p.watch.Reset(grace)
		return
	}
	quiet := min(now.Sub(time.Unix(0, since)), now.Sub(p.stateAt))
	if quiet < grace {
		p.watch.Reset(grace - quiet)
		return
	}
	pid := p.proc.Pid
	switch p.leftover {
	case leftoverNone:
		done, err := exited(pid)
		if errors.Is(err, errors.ErrUnsupported) {
			return // nothing to watch for here
		}
		if !done {
			p.watch.Reset(grace)
			return
		}
		p.leftover = leftoverExited
	case leftoverExited:
		// The program is a zombie until Wait, which cannot begin while mu
		// is held: its group id is still its own.
		signalGroup(pid, sigKill)
		p.leftover = leftoverKilled
	case leftoverKilled:
		p.leftover = leftoverEnded
		p.ended.Store(true)
		wakeRead(p.stdout)
	case leftoverEnded:
		// A Read still waits: it began before ended was set, on a system
		// that cannot wake a Read that had not begun (Windows).
		wakeRead(p.stdout)
	}
	p.stateAt = now
	p.watch.Reset(grace)
}

// stop stops the child's process group, when the request's context ends
// before the child does or Stop is called (halt): SIGTERM, then SIGKILL
// after KillGrace. Only the first call does anything.
func (p *run) stop(halt bool) {
	if !p.stopping.CompareAndSwap(false, true) {
		return
	}
	defer close(p.stopped)
	select {
	case <-p.exited:
		return
	default:
	}
	if halt {
		p.halted.Store(true)
	}
	pid := p.proc.Pid
	// A child that had already exited (it crashed, and its output ended
	// with it) ended by itself: what it left in its group is stopped all
	// the same. One still exiting — its output closes before the kernel
	// makes it a zombie — is told apart by Wait, from its signal.
	if done, _ := exited(pid); !done {
		p.killed.Store(true)
	}
	signalGroup(pid, sigTerm)
	t := time.NewTimer(p.r.cfg.KillGrace)
	defer t.Stop()
	select {
	case <-p.exited:
	case <-t.C:
		signalGroup(pid, sigKill)
	}
}

// endStop keeps stop from beginning, or waits for the one that began to
// return. exited is closed first, so a stop that began returns at once.
func (p *run) endStop() {
	ctxStopped, haltStopped := p.unwatchCtx(), p.unwatchHalt()
	if !ctxStopped || !haltStopped {
		<-p.stopped
	}
}

// Wait implements handler.Run: it waits for the child to exit, kills what
// it left in its process group, reaps it and collects its stderr.
func (p *run) Wait() handler.Exit {
	pid := p.proc.Pid
	p.mu.Lock()
	p.reaping = true
	p.watch.Stop()
	left := p.leftover
	p.mu.Unlock()
	switch left {
	case leftoverKilled:
		p.log.Warn("program exited but processes it left in its group kept stdout open; killed them", "program", p.program, "pid", pid, "pgid", pid)
	case leftoverEnded:
		p.log.Warn("program exited but a process outside its group kept stdout open; killed its group and ended the output", "program", p.program, "pid", pid, "pgid", pid)
	}
	zombie := waitExited(pid) == nil
	if zombie {
		// Until it is reaped its group id cannot be reused, so the group
		// can be signalled safely.
		signalGroup(pid, sigKill)
		close(p.exited)
		p.endStop()
	}
	ps, err := p.proc.Wait()
	if !zombie {
		close(p.exited)
		p.endStop()
	}
	p.stdout.Close()
	p.r.release()

	// Processes that left the group may still hold stderr open. Most
	// programs' stderr has ended with them: no timer for those.
	select {
	case <-p.logDone:
	default:
		t := time.NewTimer(p.r.cfg.KillGrace)
		select {
		case <-p.logDone:
		case <-t.C:
			p.stderr.Close()
			<-p.logDone
		}
		t.Stop()
	}

	ex := handler.Exit{Pid: pid, Code: -1, Stderr: p.errLog.Tail()}
	if ps != nil {
		ex.Code = ps.ExitCode()
		ex.Signal = exitSignal(ps)
	}
	switch {
	case p.killed.Load() && !foreignSignal(ex.Signal):
		ex.Err = errors.New("subprocess: stopped by the gateway")
	case err != nil:
		ex.Err = fmt.Errorf("subprocess: wait: %w", err)
	}
	return ex
}

// foreignSignal reports whether sig, a name from exitSignal, is one the
// gateway does not send: a program it ended was a crash, whether or not a
// stop had begun (a stop cannot change how a dying process dies).
func foreignSignal(sig string) bool {
	return sig != "" && sig != sigTerm.String() && sig != sigKill.String()
}

// relayStderr passes the child's stderr on through errLog.
func (p *run) relayStderr() {
	defer close(p.logDone)
	defer p.stderr.Close()
	bp := stderrBuffers.Get().(*[]byte)
	defer stderrBuffers.Put(bp)
	for {
		n, err := p.stderr.Read(*bp)
		p.errLog.Write((*bp)[:n])
		if err != nil {
			break
		}
	}
	p.errLog.Close()
}

// stderrBuffers are relayStderr's, 4 KiB. A buffer on the goroutine's
// own stack would make the runtime grow and copy that stack on every
// request.
var stderrBuffers = sync.Pool{New: func() any { b := make([]byte, 4<<10); return &b }}
