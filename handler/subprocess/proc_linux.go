package subprocess

import (
	"runtime"
	"sync"
	"syscall"
	"unsafe"
)

// setParentDeath makes the kernel SIGKILL the child when gatewayd dies,
// however it dies (PR_SET_PDEATHSIG).
//
// The signal fires when the thread that started the child ends, not the
// process (go.dev/issue/27505), and the runtime ends a thread when a
// goroutine locked to it (runtime.LockOSThread) exits without unlocking it.
// Nothing in gatewayd does that today, but a library user or a later
// dependency may, and the thread that ran a request's goroutine may be any
// thread. So children are started from a starter: one goroutine locked to
// its thread from the first Start to Close, which no other goroutine can
// run on and so none can end; Close ends it, and a child still running
// then dies with it. Only the child itself gets the signal: what it
// started lives on, in its process group, unless the service manager kills
// the lot (systemd's KillMode=control-group, the default, does). A program
// that is set-user-ID or has file capabilities loses the setting when it is
// executed.
func setParentDeath(attr *syscall.SysProcAttr) { attr.Pdeathsig = syscall.SIGKILL }

// starter starts children from one locked thread; see setParentDeath.
//
// One thread and os/exec's vfork were measured against the alternatives
// (behind nginx, wrk -c8, a static musl hello, 2 cores): two starter
// threads; a vfork through cgo, without syscall.ForkLock, from one or two
// threads; and waiting for the exit on a pidfd in the poller. Each cost
// gatewayd more CPU per request (about 20 %, 18 % and 6 %), and none
// raised the request rate: the one thread is not what bounds it (two
// gatewayd processes behind one nginx reach the same rate), and every
// thread that has to be woken costs more than the parallel start saves.
// The hand-off to the one thread does cost a little: starting each child
// on the request's own thread instead, with no starter, gave about 6 %
// more requests a second (3,393 against 3,202, the means of 9 alternated
// rounds; ahead in 7) for the same CPU per request. That is not worth the
// guarantee above, which it gives up.
type starter struct {
	once      sync.Once
	closeOnce sync.Once
	reqs      chan startReq // to loop; closed by close
	done      chan struct{} // closed when loop returns
}

type startReq struct {
	start func() error
	err   chan<- error
}

// do runs start, which starts a child, on the starter's thread.
func (s *starter) do(start func() error) error {
	s.once.Do(func() {
		s.reqs, s.done = make(chan startReq), make(chan struct{})
		go s.loop()
	})
	errc := make(chan error, 1)
	s.reqs <- startReq{start, errc}
	return <-errc
}

func (s *starter) loop() {
	defer close(s.done)
	// Never unlocked: when loop returns the thread ends, and with it (by
	// their parent-death signal) any child still running.
	runtime.LockOSThread()
	for req := range s.reqs {
		req.err <- req.start()
	}
}

// close ends the starter's goroutine. No start may follow it; a second
// close does nothing.
func (s *starter) close() {
	s.once.Do(func() {}) // a starter never used has nothing to end
	s.closeOnce.Do(func() {
		if s.reqs != nil {
			close(s.reqs)
			<-s.done
		}
	})
}

// waitExited blocks until the process pid has exited, without reaping it.
// While it stays a zombie its pid, and so its process group id, cannot be
// reused, which makes it safe to signal the group afterwards.
func waitExited(pid int) error {
	_, err := waitid(pid, syscall.WEXITED)
	return err
}

// exited reports, without waiting and without reaping it, whether the
// process pid has exited.
func exited(pid int) (bool, error) {
	return waitid(pid, syscall.WEXITED|syscall.WNOHANG)
}

// waitid calls waitid(P_PID, pid, …, options|WNOWAIT) and reports whether
// the process had a state to report.
func waitid(pid int, options int) (bool, error) {
	const (
		pPID    = 1         // P_PID
		wNowait = 0x1000000 // WNOWAIT
	)
	var info [128]byte // siginfo_t; si_signo, first, is SIGCHLD when pid had a state to report
	for {
		_, _, errno := syscall.Syscall6(syscall.SYS_WAITID, pPID, uintptr(pid),
			uintptr(unsafe.Pointer(&info[0])), uintptr(options|wNowait), 0, 0)
		switch errno {
		case syscall.EINTR:
			continue
		case 0:
			return *(*int32)(unsafe.Pointer(&info[0])) == int32(syscall.SIGCHLD), nil
		default:
			return false, errno
		}
	}
}

// bulkPipeSize is the capacity asked for the pipes that carry a body: four
// times Linux's default of 64 KiB, so that a program streaming a body, and
// gatewayd on the other end, each wait and wake less often. The per-user
// limit of pipe memory (pipe-user-pages-soft, 64 MiB) allows 128 programs
// at once at that size; past it the kernel refuses, and the pipe keeps its
// size.
const bulkPipeSize = 256 << 10

// growPipe asks for bulkPipeSize bytes of capacity for the pipe fd is an
// end of (F_SETPIPE_SZ); a refusal leaves it as it was.
func growPipe(fd int) {
	const fSetPipeSz = 1031 // F_SETPIPE_SZ
	fcntl(fd, fSetPipeSz, bulkPipeSize)
}

// maxVec bounds the slices writeVec passes in one writev: the FastCGI read
// loop hands over the records it holds at once, a few dozen at most.
const maxVec = 32

// writeVec writes as much of v as one writev(2) to fd takes: at most
// maxVec of its slices, and what fits of them when fd is non-blocking.
// An upload arriving in nginx's 8 KiB records costs one system call, one
// take of the pipe's lock and one wake-up of the program for several
// records instead of one each.
func writeVec(fd int, v [][]byte) (int, error) {
	var iov [maxVec]syscall.Iovec
	k := 0
	for _, b := range v {
		if k == len(iov) {
			break
		}
		if len(b) > 0 {
			iov[k].Base = &b[0]
			iov[k].SetLen(len(b))
			k++
		}
	}
	if k == 0 {
		return 0, nil
	}
	n, _, e := syscall.Syscall(syscall.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&iov[0])), uintptr(k))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
