package subprocess

// Windows has no process groups that can be signalled and no SIGTERM. What
// stands in for them here:
//
//   - The group is a Job object. The child starts as the root of a new
//     console process group (CREATE_NEW_PROCESS_GROUP). The first time its
//     group is signalled, a job is created with
//     JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE and the child and every process
//     descended from it (found by parent id, and created after its parent,
//     so that a reused id is not taken for a descendant) are assigned to
//     it; whatever they start from then on is in the job too.
//   - SIGTERM, the polite request, is CTRL_BREAK_EVENT sent to the child's
//     console process group while the child still runs: a console program
//     either handles it or is ended by the default handler, as a program is
//     by SIGTERM. It reaches programs only when gatewayd has a console they
//     share; a service or IIS has none, and then the nearest equivalent is
//     just the grace period.
//   - SIGKILL is TerminateJobObject: the child and all of its job end at
//     once, with exit status 1. The job's handle is then closed.
//   - waitExited waits on the process handle. Like a zombie's pid, a
//     Windows process id is not reused while a handle to the process is
//     open, and os/exec holds one until Wait.
//
// The job is made when the group is first signalled: when the pipeline
// stops the program, or after the program has exited, when the runner kills
// what it left behind. Until then nothing holds the program's descendants
// together, so one whose own parent exited earlier (its parent id then
// names no process) is not found and escapes. Creating the job at start,
// with the child created suspended (CREATE_SUSPENDED) and resumed once in
// its job, would close that gap and make gatewayd's own death end its
// programs; it needs a hook after exec.Cmd.Start that the runner does not
// have.
//
// Only the standard library's syscall is used: the job calls come from
// kernel32.dll directly rather than from golang.org/x/sys/windows.

import (
	"errors"
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
)

const (
	processSetQuota                = 0x0100 // PROCESS_SET_QUOTA
	processQueryLimitedInformation = 0x1000 // PROCESS_QUERY_LIMITED_INFORMATION
	jobObjectExtendedLimitInfo     = 9      // JobObjectExtendedLimitInformation
	jobObjectLimitKillOnJobClose   = 0x2000 // JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE
	killedExitCode                 = 1      // the exit status of a terminated job
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

// jobs holds the job of each child whose group has been signalled, by the
// child's pid, until the group is killed.
var jobs = struct {
	sync.Mutex
	m map[int]syscall.Handle
}{m: map[int]syscall.Handle{}}

// setGroup makes the child the root of a new console process group, the
// unit CTRL_BREAK_EVENT is sent to. It also keeps the child out of the
// Ctrl+C of gatewayd's console, as a new process group does on POSIX.
func setGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{CreationFlags: syscall.CREATE_NEW_PROCESS_GROUP}
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

// exitSignal names the signal that ended a process: none on Windows, where
// a process ends with an exit status only.
func exitSignal(interface{ Sys() any }) string { return "" }

// childPipe returns a pipe of which one end goes to a child: parent is the
// end gatewayd keeps, child the end the child inherits. With toChild the
// parent writes (stdin), else it reads (stdout, stderr). Windows' anonymous
// pipes are what os.Pipe makes.
func childPipe(toChild bool) (parent, child *os.File, err error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	if toChild {
		return w, r, nil
	}
	return r, w, nil
}
