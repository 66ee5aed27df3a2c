//go:build unix

package subprocess

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// setGroup makes the child the leader of a new process group, so that a
// timeout or a client abort can signal everything it started, and where the
// system can, has it killed when gatewayd dies.
func setGroup(cmd *exec.Cmd) { cmd.SysProcAttr = groupAttr() }

// groupAttr is what setGroup sets.
func groupAttr() *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{Setpgid: true}
	setParentDeath(attr)
	return attr
}

// start starts cmd the way the starter starts every child.
func (s *starter) start(cmd *exec.Cmd) error { return s.do(cmd.Start) }

// spawn calls os.StartProcess with what exec.Cmd's Start would give it.
// Going round exec.Cmd saves its work per child that a Runner never needs:
// a copy of the environment without duplicate names, which Environ.List
// cannot have, and the bookkeeping of its I/O goroutines, of which there
// are none for files. A path without a slash is looked up in PATH, as
// exec.Command does.
func (s *starter) spawn(path string, args, env []string, dir string, files []*os.File) (*os.Process, error) {
	argv := append([]string{path}, args...)
	if filepath.Base(path) == path {
		lp, err := exec.LookPath(path)
		if err != nil {
			return nil, err
		}
		path = lp
	}
	attr := &os.ProcAttr{Dir: dir, Env: env, Files: files, Sys: groupAttr()}
	var p *os.Process
	err := s.do(func() (err error) {
		p, err = os.StartProcess(path, argv, attr)
		return err
	})
	return p, err
}

// signalGroup sends sig to the process group led by pid. A group that is
// already gone is not an error.
func signalGroup(pid int, sig syscall.Signal) error {
	if err := syscall.Kill(-pid, sig); err != nil && err != syscall.ESRCH {
		return err
	}
	return nil
}

var (
	sigTerm = syscall.SIGTERM
	sigKill = syscall.SIGKILL
)

// exitSignal names the signal that ended a process, or "".
func exitSignal(ps interface{ Sys() any }) string {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return ws.Signal().String()
	}
	return ""
}

// childPipe returns a pipe of which one end goes to a child: parent is the
// end gatewayd keeps, in the runtime's poller so that reads and writes
// block only their goroutine and Close interrupts them; child is a plain
// blocking descriptor the child inherits, never registered with the poller
// (that would cost two epoll calls per end for nothing). With toChild the
// parent writes (stdin), else it reads (stdout, stderr). A bulk pipe, for
// a body, holds bulkPipeSize bytes where the system allows it.
func childPipe(toChild, bulk bool) (parent, child *os.File, err error) {
	var p [2]int
	if err := pipeCloexec(&p); err != nil {
		return nil, nil, err
	}
	pfd, cfd := p[0], p[1]
	if toChild {
		pfd, cfd = p[1], p[0]
	}
	if bulk {
		growPipe(pfd)
	}
	// A new pipe's end has no status flag to keep: one F_SETFL makes it
	// non-blocking, where syscall.SetNonblock would read the flags first.
	if _, err := fcntl(pfd, syscall.F_SETFL, syscall.O_NONBLOCK); err != nil {
		syscall.Close(pfd)
		syscall.Close(cfd)
		return nil, nil, os.NewSyscallError("setnonblock", err)
	}
	return os.NewFile(uintptr(pfd), "|0"), os.NewFile(uintptr(cfd), "|1"), nil
}

// fcntl is fcntl(2) with an int argument.
func fcntl(fd, cmd, arg int) (int, error) {
	r, _, e := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), uintptr(cmd), uintptr(arg))
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

// wakeRead makes a Read of f that is blocked, or the next one, return at
// once with an error.
func wakeRead(f *os.File) { f.SetReadDeadline(time.Now()) }

// readAvailable reads what the pipe f holds without waiting for more: io.EOF
// when it holds nothing. It works whatever f's read deadline.
func readAvailable(f *os.File, b []byte) (int, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var n int
	var rerr error
	if err := rc.Control(func(fd uintptr) {
		// The parent's end of the pipe is non-blocking (childPipe).
		for {
			n, rerr = syscall.Read(int(fd), b)
			if rerr != syscall.EINTR {
				return
			}
		}
	}); err != nil {
		return 0, err
	}
	switch {
	case rerr == syscall.EAGAIN || n == 0 && rerr == nil:
		return 0, io.EOF
	case rerr != nil:
		return 0, os.NewSyscallError("read", rerr)
	}
	return n, nil
}

// filePipe is the parent's end of a child's stdin pipe, as a handler.Pipe.
type filePipe struct {
	f  *os.File
	rc syscall.RawConn
}

func newFilePipe(f *os.File) filePipe {
	rc, _ := f.SyscallConn() // an *os.File always has one
	return filePipe{f: f, rc: rc}
}

func (p filePipe) Write(b []byte) (int, error) { return p.f.Write(b) }

// TryWrite makes one write to the non-blocking end (childPipe) of as
// many of v's slices as writev takes here (writeVec), never waiting for
// room.
func (p filePipe) TryWrite(v ...[]byte) (int, error) {
	var n int
	var werr error
	if err := p.rc.Write(func(fd uintptr) bool {
		for {
			n, werr = writeVec(int(fd), v)
			if werr != syscall.EINTR {
				return true
			}
		}
	}); err != nil {
		return 0, err
	}
	switch {
	case werr == syscall.EAGAIN:
		return 0, nil
	case werr != nil:
		return 0, os.NewSyscallError("write", werr)
	}
	return n, nil
}
