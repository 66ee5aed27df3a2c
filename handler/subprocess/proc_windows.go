package subprocess

// Windows has no process groups that can be signalled and no SIGTERM. What
// stands in for them here:
//
//   - The group is a Job object. The child starts suspended
//     (CREATE_SUSPENDED) as the root of a new console process group
//     (CREATE_NEW_PROCESS_GROUP), is assigned to a job of its own made with
//     JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE, and only then resumed, so that
//     every process it starts is in the job too. Only gatewayd holds the
//     job's handle, so when gatewayd ends, however it ends, the system
//     closes the handle and kills the job: its programs die with it. If the
//     job cannot be made, the child runs without one until its group is
//     first signalled; a job is made then for the child and every process
//     descended from it (found by parent id, and created after its parent,
//     so that a reused id is not taken for a descendant), and one whose own
//     parent exited earlier is not found and escapes.
//   - SIGTERM, the polite request, is CTRL_BREAK_EVENT sent to the child's
//     console process group while the child still runs: a console program
//     either handles it or is ended by the default handler, as a program is
//     by SIGTERM. It reaches programs only when gatewayd has a console they
//     share; a service or IIS has none, and then the nearest equivalent is
//     just the grace period.
//   - SIGKILL is TerminateJobObject: the child and all of its job end at
//     once, with exit status 1. The job's handle is then closed.
//   - waitExited and exited wait on the process handle. Like a zombie's
//     pid, a Windows process id is not reused while a handle to the process
//     is open, and os/exec holds one until Wait.
//   - A process cannot leave a job that does not allow breakaway, and this
//     one does not, so what keeps a program's stdout open after it exited
//     dies when the job is killed; ending the output without it (wakeRead,
//     readAvailable) is the fallback for a child that runs without a job.
//
// A gatewayd killed between creating a child and resuming it leaves that
// child suspended, never having run.
//
// Only the standard library's syscall is used: the job calls come from
// kernel32.dll directly rather than from golang.org/x/sys/windows.

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"unsafe"
)

var (
	kernel32                     = syscall.NewLazyDLL("kernel32.dll")
	procCreateJobObjectW         = kernel32.NewProc("CreateJobObjectW")
	procSetInformationJobObject  = kernel32.NewProc("SetInformationJobObject")
	procAssignProcessToJobObject = kernel32.NewProc("AssignProcessToJobObject")
	procTerminateJobObject       = kernel32.NewProc("TerminateJobObject")
	procGenerateConsoleCtrlEvent = kernel32.NewProc("GenerateConsoleCtrlEvent")
	procThread32First            = kernel32.NewProc("Thread32First")
	procThread32Next             = kernel32.NewProc("Thread32Next")
	procOpenThread               = kernel32.NewProc("OpenThread")
	procResumeThread             = kernel32.NewProc("ResumeThread")
	procPeekNamedPipe            = kernel32.NewProc("PeekNamedPipe")
	procCancelIoEx               = kernel32.NewProc("CancelIoEx")
)

const (
	processSetQuota                = 0x0100 // PROCESS_SET_QUOTA
	processQueryLimitedInformation = 0x1000 // PROCESS_QUERY_LIMITED_INFORMATION
	jobObjectExtendedLimitInfo     = 9      // JobObjectExtendedLimitInformation
	jobObjectLimitKillOnJobClose   = 0x2000 // JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE
	killedExitCode                 = 1      // the exit status of a terminated job
	createSuspended                = 0x4    // CREATE_SUSPENDED
	threadSuspendResume            = 0x0002 // THREAD_SUSPEND_RESUME
)

// jobObjectExtendedLimitInformation is JOBOBJECT_EXTENDED_LIMIT_INFORMATION.
type jobObjectExtendedLimitInformation struct {
	PerProcessUserTimeLimit int64
	PerJobUserTimeLimit     int64
	LimitFlags              uint32
	MinimumWorkingSetSize   uintptr
	MaximumWorkingSetSize   uintptr
	ActiveProcessLimit      uint32
	Affinity                uintptr
	PriorityClass           uint32
	SchedulingClass         uint32
	_                       [8 - unsafe.Sizeof(uintptr(0))]byte // to 8 bytes where Go aligns uint64 to 4
	IoInfo                  [6]uint64                           // IO_COUNTERS
	ProcessMemoryLimit      uintptr
	JobMemoryLimit          uintptr
	PeakProcessMemoryUsed   uintptr
	PeakJobMemoryUsed       uintptr
}

// jobs holds the job of each child, by the child's pid, until its group is
// killed.
var jobs = struct {
	sync.Mutex
	m map[int]syscall.Handle
}{m: map[int]syscall.Handle{}}

// setGroup makes the child the root of a new console process group, the
// unit CTRL_BREAK_EVENT is sent to. It also keeps the child out of the
// Ctrl+C of gatewayd's console, as a new process group does on POSIX. The
// child starts suspended: starter.start resumes it once it is in its job.
func setGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{CreationFlags: syscall.CREATE_NEW_PROCESS_GROUP | createSuspended}
}

// starter starts children in jobs of their own.
type starter struct{}

// start starts cmd, suspended by setGroup, puts it in a new job and resumes
// it. A child that cannot be resumed is killed and reaped.
func (*starter) start(cmd *exec.Cmd) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	pid := cmd.Process.Pid
	if job, err := newJob(); err == nil {
		if assign(job, pid) {
			jobs.Lock()
			jobs.m[pid] = job
			jobs.Unlock()
		} else {
			syscall.CloseHandle(job)
		}
	}
	if err := resume(pid); err != nil {
		signalGroup(pid, sigKill)
		cmd.Process.Kill()
		cmd.Wait()
		return fmt.Errorf("resume: %w", err)
	}
	return nil
}

func (*starter) close() {}

// spawn starts the program through an exec.Cmd, which adds the variables
// every Windows program needs (SYSTEMROOT) to env and resolves path's
// extension.
func (s *starter) spawn(path string, args, env []string, dir string, files []*os.File) (*os.Process, error) {
	cmd := exec.Command(path, args...)
	cmd.Env, cmd.Dir = env, dir
	cmd.Stdin, cmd.Stdout, cmd.Stderr = files[0], files[1], files[2]
	setGroup(cmd)
	if err := s.start(cmd); err != nil {
		return nil, err
	}
	return cmd.Process, nil
}

// assign puts the process pid in job.
func assign(job syscall.Handle, pid int) bool {
	h, err := syscall.OpenProcess(processSetQuota|syscall.PROCESS_TERMINATE, false, uint32(pid))
	if err != nil {
		return false
	}
	defer syscall.CloseHandle(h)
	r, _, _ := procAssignProcessToJobObject.Call(uintptr(job), uintptr(h))
	return r != 0
}

// threadEntry32 is THREADENTRY32.
type threadEntry32 struct {
	Size           uint32
	Usage          uint32
	ThreadID       uint32
	OwnerProcessID uint32
	BasePri        int32
	DeltaPri       int32
	Flags          uint32
}

// resume resumes the threads of the process pid; os/exec does not keep the
// handle of its first thread, so they are found in a snapshot.
func resume(pid int) error {
	snap, err := syscall.CreateToolhelp32Snapshot(syscall.TH32CS_SNAPTHREAD, 0)
	if err != nil {
		return err
	}
	defer syscall.CloseHandle(snap)
	e := threadEntry32{Size: uint32(unsafe.Sizeof(threadEntry32{}))}
	resumed := 0
	r, _, err := procThread32First.Call(uintptr(snap), uintptr(unsafe.Pointer(&e)))
	for ; r != 0; r, _, err = procThread32Next.Call(uintptr(snap), uintptr(unsafe.Pointer(&e))) {
		if e.OwnerProcessID != uint32(pid) {
			continue
		}
		h, _, oerr := procOpenThread.Call(threadSuspendResume, 0, uintptr(e.ThreadID))
		if h == 0 {
			return oerr
		}
		n, _, rerr := procResumeThread.Call(h)
		syscall.CloseHandle(syscall.Handle(h))
		if uint32(n) == ^uint32(0) { // (DWORD)-1
			return rerr
		}
		resumed++
	}
	if resumed == 0 {
		if err == nil || err == syscall.ERROR_NO_MORE_FILES {
			err = errors.New("subprocess: no thread to resume")
		}
		return err
	}
	return nil
}

// The two steps of stopping a group; signalGroup says what they mean here.
var (
	sigTerm = syscall.SIGTERM
	sigKill = syscall.SIGKILL
)

// signalGroup puts the child pid and its descendants in a job, then asks
// them to stop (sigTerm: CTRL_BREAK_EVENT) or ends them (sigKill:
// TerminateJobObject). A group that is already gone is not an error.
func signalGroup(pid int, sig syscall.Signal) error {
	jobs.Lock()
	defer jobs.Unlock()
	job, ok := jobs.m[pid]
	if !ok {
		var err error
		if job, err = newJob(); err != nil {
			if sig == sigKill {
				terminate(pid) // the child at least
			}
			return err
		}
		jobs.m[pid] = job
	}
	running := sweep(job, pid)
	if sig != sigKill {
		if running {
			// Best effort: it fails when gatewayd has no console.
			procGenerateConsoleCtrlEvent.Call(syscall.CTRL_BREAK_EVENT, uintptr(pid))
		}
		return nil
	}
	delete(jobs.m, pid)
	r, _, err := procTerminateJobObject.Call(uintptr(job), killedExitCode)
	syscall.CloseHandle(job) // KILL_ON_JOB_CLOSE ends what termination missed
	if r == 0 {
		return err
	}
	return nil
}

// terminate ends the process pid, if it still runs.
func terminate(pid int) {
	h, err := syscall.OpenProcess(syscall.PROCESS_TERMINATE, false, uint32(pid))
	if err != nil {
		return
	}
	syscall.TerminateProcess(h, killedExitCode)
	syscall.CloseHandle(h)
}

// newJob creates a job whose processes are killed when its last handle is
// closed.
func newJob() (syscall.Handle, error) {
	r, _, err := procCreateJobObjectW.Call(0, 0)
	if r == 0 {
		return 0, err
	}
	job := syscall.Handle(r)
	info := jobObjectExtendedLimitInformation{LimitFlags: jobObjectLimitKillOnJobClose}
	r, _, err = procSetInformationJobObject.Call(uintptr(job), jobObjectExtendedLimitInfo,
		uintptr(unsafe.Pointer(&info)), unsafe.Sizeof(info))
	if r == 0 {
		syscall.CloseHandle(job)
		return 0, err
	}
	return job, nil
}

// sweep assigns pid and its living descendants to job and reports whether
// pid itself still runs.
func sweep(job syscall.Handle, pid int) (running bool) {
	const access = processSetQuota | syscall.PROCESS_TERMINATE | processQueryLimitedInformation | syscall.SYNCHRONIZE
	h, err := syscall.OpenProcess(access, false, uint32(pid))
	if err != nil {
		return false
	}
	defer syscall.CloseHandle(h)
	if ev, _ := syscall.WaitForSingleObject(h, 0); ev == syscall.WAIT_TIMEOUT {
		running = true
		procAssignProcessToJobObject.Call(uintptr(job), uintptr(h))
	}
	born := created(h)
	children := childrenByParent()
	type proc struct {
		pid  uint32
		born int64
	}
	queue := []proc{{uint32(pid), born}}
	seen := map[uint32]bool{uint32(pid): true}
	for len(queue) > 0 {
		parent := queue[0]
		queue = queue[1:]
		for _, c := range children[parent.pid] {
			if seen[c] {
				continue
			}
			seen[c] = true
			ch, err := syscall.OpenProcess(access, false, c)
			if err != nil {
				continue
			}
			// A process older than its parent has a parent id that was
			// reused: it is not a descendant.
			if b := created(ch); b >= parent.born {
				procAssignProcessToJobObject.Call(uintptr(job), uintptr(ch))
				queue = append(queue, proc{c, b})
			}
			syscall.CloseHandle(ch)
		}
	}
	return running
}

// created returns the creation time of the process h, in 100 ns units.
func created(h syscall.Handle) int64 {
	var c, e, k, u syscall.Filetime
	if syscall.GetProcessTimes(h, &c, &e, &k, &u) != nil {
		return 0
	}
	return int64(c.HighDateTime)<<32 | int64(c.LowDateTime)
}

// childrenByParent maps each process id to the ids of the processes that
// name it as their parent.
func childrenByParent() map[uint32][]uint32 {
	snap, err := syscall.CreateToolhelp32Snapshot(syscall.TH32CS_SNAPPROCESS, 0)
	if err != nil {
		return nil
	}
	defer syscall.CloseHandle(snap)
	m := map[uint32][]uint32{}
	e := syscall.ProcessEntry32{Size: uint32(unsafe.Sizeof(syscall.ProcessEntry32{}))}
	for err = syscall.Process32First(snap, &e); err == nil; err = syscall.Process32Next(snap, &e) {
		if e.ProcessID != e.ParentProcessID {
			m[e.ParentProcessID] = append(m[e.ParentProcessID], e.ProcessID)
		}
	}
	return m
}

// waitExited blocks until the process pid has exited. Its id cannot be
// reused while os/exec holds the process's handle, which it does until
// Wait, so the group can be signalled safely afterwards.
func waitExited(pid int) error {
	h, err := syscall.OpenProcess(syscall.SYNCHRONIZE, false, uint32(pid))
	if err != nil {
		return err
	}
	defer syscall.CloseHandle(h)
	ev, err := syscall.WaitForSingleObject(h, syscall.INFINITE)
	if ev != syscall.WAIT_OBJECT_0 {
		if err == nil {
			err = errors.New("subprocess: wait for exit failed")
		}
		return err
	}
	return nil
}

// exited reports, without waiting, whether the process pid has exited.
func exited(pid int) (bool, error) {
	h, err := syscall.OpenProcess(syscall.SYNCHRONIZE, false, uint32(pid))
	if err != nil {
		return false, err
	}
	defer syscall.CloseHandle(h)
	ev, err := syscall.WaitForSingleObject(h, 0)
	switch ev {
	case syscall.WAIT_OBJECT_0:
		return true, nil
	case syscall.WAIT_TIMEOUT:
		return false, nil
	}
	return false, err
}

// wakeRead makes a Read of f that is blocked return at once with an error,
// as far as the system can cancel it (CancelIoEx).
func wakeRead(f *os.File) {
	procCancelIoEx.Call(f.Fd(), 0)
}

// readAvailable reads what the pipe f holds without waiting for more: io.EOF
// when it holds nothing.
func readAvailable(f *os.File, b []byte) (int, error) {
	var avail uint32
	r, _, _ := procPeekNamedPipe.Call(f.Fd(), 0, 0, 0, uintptr(unsafe.Pointer(&avail)), 0)
	if r == 0 || avail == 0 || len(b) == 0 {
		return 0, io.EOF
	}
	return f.Read(b[:min(len(b), int(avail))])
}

// exitSignal names the signal that ended a process: none on Windows, where
// a process ends with an exit status only.
func exitSignal(interface{ Sys() any }) string { return "" }

// childPipe returns a pipe of which one end goes to a child: parent is the
// end gatewayd keeps, child the end the child inherits. With toChild the
// parent writes (stdin), else it reads (stdout, stderr). Windows' anonymous
// pipes are what os.Pipe makes.
func childPipe(toChild, _ bool) (parent, child *os.File, err error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	if toChild {
		return w, r, nil
	}
	return r, w, nil
}

// filePipe is the parent's end of a child's stdin pipe, as a handler.Pipe.
// Its pipes are blocking, so TryWrite never writes: the body's own
// goroutine writes it all.
type filePipe struct{ f *os.File }

func newFilePipe(f *os.File) filePipe { return filePipe{f} }

func (p filePipe) Write(b []byte) (int, error)   { return p.f.Write(b) }
func (filePipe) TryWrite(...[]byte) (int, error) { return 0, nil }
