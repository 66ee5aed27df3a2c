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
// The number of children is bounded; requests over the bound wait in a
// bounded queue for at most a queue timeout and then get 503 (the cause is
// handler.ErrOverloaded).
package subprocess

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/go-hclog"

	"gatewayd/handler"
)

// Config configures a Runner. The zero value of every field means its default.
type Config struct {
	// MaxChildren bounds the programs running at once. Default: 4 × the
	// number of CPUs.
	MaxChildren int
	// MaxQueue bounds the requests waiting for a free slot; a request beyond
	// it gets 503 at once. Default: 16 × MaxChildren.
	MaxQueue int
	// QueueTimeout is the longest a request waits for a free slot before it
	// gets 503. Default: 10s.
	QueueTimeout time.Duration
	// KillGrace is the time between SIGTERM and SIGKILL when a child is
	// stopped. Default: 2s.
	KillGrace time.Duration
	// MaxStderr bounds the bytes of a child's stderr written to the log per
	// request; the rest is counted and dropped. Default: 64 KiB.
	MaxStderr int
}

const (
	defaultQueueTimeout = 10 * time.Second
	defaultKillGrace    = 2 * time.Second
	defaultMaxStderr    = 64 << 10
	stderrTail          = 1 << 10 // bytes of stderr kept for the failure log line
	maxStderrLine       = 4 << 10 // longer stderr lines are logged in pieces
)

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	if c.MaxChildren <= 0 {
		c.MaxChildren = 4 * runtime.NumCPU()
	}
	if c.MaxQueue <= 0 {
		c.MaxQueue = 16 * c.MaxChildren
	}
	if c.QueueTimeout <= 0 {
		c.QueueTimeout = defaultQueueTimeout
	}
	if c.KillGrace <= 0 {
		c.KillGrace = defaultKillGrace
	}
	if c.MaxStderr <= 0 {
		c.MaxStderr = defaultMaxStderr
	}
	return c
}

// Runner starts CGI programs. It is safe for concurrent use; one Runner is
// shared by every request so that its bounds hold for the whole daemon.
type Runner struct {
	cfg Config

	slots   chan struct{} // a token per running child
	waiting atomic.Int64  // requests queued for a slot

	pumps sync.WaitGroup // stdin pumps still blocked on a request body

	devNull *os.File // the stdin of children without a body, opened once
}

// New returns a Runner with the given configuration.
func New(cfg Config) *Runner {
	cfg = cfg.withDefaults()
	r := &Runner{cfg: cfg, slots: make(chan struct{}, cfg.MaxChildren)}
	// Opened once rather than by os/exec for every child; if it cannot be,
	// os/exec opens it itself.
	r.devNull, _ = os.Open(os.DevNull)
	return r
}

// Limits reports the bounds the Runner enforces, for FastCGI's GET_VALUES.
func (r *Runner) Limits() (maxChildren, maxQueue int) {
	return r.cfg.MaxChildren, r.cfg.MaxQueue
}

// Close waits for stdin pumps that outlived their request — a pump blocked
// on a request body ends when the front-end closes that body's connection —
// and releases what the Runner holds. No Start may follow it.
func (r *Runner) Close() {
	r.pumps.Wait()
	if r.devNull != nil {
		r.devNull.Close()
	}
}

// acquire takes a child slot, waiting in the queue if all are taken.
func (r *Runner) acquire(ctx context.Context) error {
	select {
	case r.slots <- struct{}{}:
		return nil
	default:
	}
	if r.waiting.Add(1) > int64(r.cfg.MaxQueue) {
		r.waiting.Add(-1)
		return &handler.Error{Status: http.StatusServiceUnavailable,
			Err: fmt.Errorf("%w: queue of %d full", handler.ErrOverloaded, r.cfg.MaxQueue)}
	}
	defer r.waiting.Add(-1)
	t := time.NewTimer(r.cfg.QueueTimeout)
	defer t.Stop()
	select {
	case r.slots <- struct{}{}:
		return nil
	case <-t.C:
		return &handler.Error{Status: http.StatusServiceUnavailable,
			Err: fmt.Errorf("%w: no slot free within %v", handler.ErrOverloaded, r.cfg.QueueTimeout)}
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func (r *Runner) release() { <-r.slots }

// Start runs c.Program with c.Args. It implements handler.App.
func (r *Runner) Start(ctx context.Context, c *handler.Call) (handler.Run, error) {
	if c.Program == "" {
		return nil, errors.New("subprocess: no program")
	}
	if err := r.acquire(ctx); err != nil {
		return nil, err
	}
	run, err := r.start(ctx, c)
	if err != nil {
		r.release()
		return nil, err
	}
	return run, nil
}

func (r *Runner) start(ctx context.Context, c *handler.Call) (*run, error) {
	cmd := exec.Command(c.Program, c.Args...)
	cmd.Env = c.Env.List()
	cmd.Dir = filepath.Dir(c.Program)
	setGroup(cmd)

	stdoutR, stdoutW, err := childPipe(false)
	if err != nil {
		return nil, err
	}
	stderrR, stderrW, err := childPipe(false)
	if err != nil {
		stdoutR.Close()
		stdoutW.Close()
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = stdoutW, stderrW

	// A body in a file (spooled) is handed over as the child's stdin
	// directly; a stream is pumped through a pipe; no body is /dev/null.
	var stdinW *os.File
	switch body := c.Body.(type) {
	case *os.File:
		cmd.Stdin = body
	case nil:
		cmd.Stdin = r.devNull
	default:
		if body == http.NoBody {
			cmd.Stdin = r.devNull
			break
		}
		var stdinR *os.File
		stdinW, stdinR, err = childPipe(true)
		if err != nil {
			stdoutR.Close()
			stdoutW.Close()
			stderrR.Close()
			stderrW.Close()
			return nil, err
		}
		cmd.Stdin = stdinR
		defer stdinR.Close()
	}

	err = cmd.Start()
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

	pid := cmd.Process.Pid
	log := c.Log
	if log == nil {
		log = hclog.NewNullLogger()
	}
	log = log.With("program", c.Program, "pid", pid)
	p := &run{
		r:       r,
		cmd:     cmd,
		stdout:  stdoutR,
		stderr:  stderrR,
		exited:  make(chan struct{}),
		stopped: make(chan struct{}),
		logDone: make(chan struct{}),
		tail:    newTail(stderrTail),
	}
	go p.relayStderr(log, c.Stderr, r.cfg.MaxStderr)
	if stdinW != nil {
		r.pumps.Add(1)
		go func() {
			defer r.pumps.Done()
			pump(stdinW, c.Body)
		}()
	}
	go p.stopOnCancel(ctx, r.cfg.KillGrace)
	return p, nil
}

// pump copies the request body to the child's stdin and closes it. A child
// that exits without reading its body ends the copy with EPIPE.
func pump(w *os.File, body io.Reader) {
	io.Copy(w, body)
	w.Close()
}

// run is one running child. The pipeline reads stdout and then calls Wait;
// relayStderr and stopOnCancel run beside it and end by themselves.
type run struct {
	r      *Runner
	cmd    *exec.Cmd
	stdout *os.File // read by the pipeline
	stderr *os.File // read by logStderr

	exited  chan struct{} // closed once the child has exited; no signal is sent after it
	stopped chan struct{} // closed when stopOnCancel returns
	logDone chan struct{} // closed when relayStderr returns
	killed  atomic.Bool   // the context ended the child

	tail *tail // the end of stderr; written by relayStderr, read after logDone
}

func (p *run) Read(b []byte) (int, error) { return p.stdout.Read(b) }

// stopOnCancel stops the child's process group when ctx ends before the
// child does: SIGTERM, then SIGKILL after grace.
func (p *run) stopOnCancel(ctx context.Context, grace time.Duration) {
	defer close(p.stopped)
	pid := p.cmd.Process.Pid
	select {
	case <-p.exited:
		return
	case <-ctx.Done():
	}
	p.killed.Store(true)
	signalGroup(pid, sigTerm)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.exited:
	case <-t.C:
		signalGroup(pid, sigKill)
	}
}

// Wait implements handler.Run: it waits for the child to exit, kills what
// it left in its process group, reaps it and collects its stderr.
func (p *run) Wait() handler.Exit {
	pid := p.cmd.Process.Pid
	zombie := waitExited(pid) == nil
	if zombie {
		// Until it is reaped its group id cannot be reused, so the group
		// can be signalled safely.
		signalGroup(pid, sigKill)
		close(p.exited)
		<-p.stopped
	}
	err := p.cmd.Wait()
	if !zombie {
		close(p.exited)
		<-p.stopped
	}
	p.stdout.Close()
	p.r.release()

	// Processes that left the group may still hold stderr open.
	select {
	case <-p.logDone:
	case <-time.After(p.r.cfg.KillGrace):
		p.stderr.Close()
		<-p.logDone
	}

	ex := handler.Exit{Pid: pid, Code: -1, Stderr: p.tail.String()}
	if ps := p.cmd.ProcessState; ps != nil {
		ex.Code = ps.ExitCode()
		ex.Signal = exitSignal(ps)
	}
	var exitErr *exec.ExitError
	switch {
	case p.killed.Load():
		ex.Err = errors.New("subprocess: stopped by the gateway")
	case err != nil && !errors.As(err, &exitErr):
		ex.Err = fmt.Errorf("subprocess: wait: %w", err)
	}
	return ex
}

// relayStderr passes the child's stderr line by line to sink, or to the
// log when sink is nil, at most max bytes, and keeps its tail.
func (p *run) relayStderr(log hclog.Logger, sink io.Writer, max int) {
	defer close(p.logDone)
	defer p.stderr.Close()
	br := bufio.NewReaderSize(p.stderr, maxStderrLine)
	logged, dropped := 0, 0
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			p.tail.Write(line)
			switch {
			case logged+len(line) > max:
				dropped += len(line)
			case sink != nil:
				if _, err := sink.Write(line); err != nil {
					sink = io.Discard // the front-end's stream is gone; keep draining
				}
				logged += len(line)
			default:
				log.Warn("stderr: " + printable(line))
				logged += len(line)
			}
		}
		if err != nil && err != bufio.ErrBufferFull {
			break
		}
	}
	if dropped > 0 {
		log.Warn("stderr truncated", "logged_bytes", logged, "dropped_bytes", dropped)
	}
}

// printable returns line without its line ending, with bytes that could
// forge or garble log lines shown as escapes.
func printable(line []byte) string {
	line = bytes.TrimRight(line, "\r\n")
	for i := 0; i < len(line); {
		r, n := utf8.DecodeRune(line[i:])
		if r == utf8.RuneError && n <= 1 || r < 0x20 && r != '\t' || r == 0x7f {
			q := strconv.QuoteToASCII(string(line))
			return q[1 : len(q)-1]
		}
		i += n
	}
	return string(line)
}

// tail keeps the last n bytes written to it.
type tail struct {
	buf []byte
	n   int
}

func newTail(n int) *tail { return &tail{n: n} }

func (t *tail) Write(b []byte) {
	t.buf = append(t.buf, b...)
	if len(t.buf) > 2*t.n {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.n:]...)
	}
}

func (t *tail) String() string {
	b := t.buf
	if len(b) > t.n {
		b = b[len(b)-t.n:]
	}
	return string(bytes.TrimRight(b, "\n"))
}
