package subprocess_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"gatewayd/environ"
	"gatewayd/handler"
	"gatewayd/handler/subprocess"
)

// leftoverBody is the body of the leave-stdout modes: more than a pipe holds,
// so that the program exits only once the gateway has read most of it.
var leftoverBody = strings.Repeat("0123456789abcdef", 12800) + "end\n"

func init() {
	moreModes["pipe-size"] = func() {
		// F_GETPIPE_SZ of stdin, stdout and stderr.
		size := func(fd uintptr) uintptr { n, _, _ := syscall.Syscall(syscall.SYS_FCNTL, fd, 1032, 0); return n }
		io.Copy(io.Discard, os.Stdin)
		fmt.Fprintf(os.Stdout, "Content-Type: text/plain\r\n\r\n%d %d %d", size(0), size(1), size(2))
	}
	moreModes["leave-stdout"] = func() { leaveStdout(false) }
	moreModes["leave-stdout-setsid"] = func() { leaveStdout(true) }
	moreModes["gateway"] = gateway
	moreModes["partial"] = func() {
		fmt.Fprint(os.Stdout, "Content-Type: text/plain\r\n\r\npart")
		writePid(os.Getenv("PIDFILE"))
		time.Sleep(time.Minute)
	}
}

// leaveStdout writes a whole response and exits, leaving behind a process
// that holds stdout open and sleeps: in the program's process group, or in
// a session of its own.
func leaveStdout(setsid bool) {
	fmt.Fprint(os.Stdout, "Content-Type: text/plain\r\n\r\n")
	child := exec.Command(os.Args[0])
	child.Env = append(os.Environ(), "GATEWAYD_TEST_CGI=grandchild")
	child.Stdout = os.Stdout
	child.SysProcAttr = &syscall.SysProcAttr{Setsid: setsid}
	if err := child.Start(); err != nil {
		os.Exit(1)
	}
	os.Stdout.WriteString(leftoverBody)
}

// gateway is a small gateway: it runs the sleep mode through a Runner and
// waits for it.
func gateway() {
	exe, _ := os.Executable()
	r := subprocess.New(subprocess.Config{})
	run, err := r.Start(context.Background(), &handler.Call{
		Program: exe,
		Body:    http.NoBody,
		Env:     environ.Environ{"GATEWAYD_TEST_CGI": "sleep", "PIDFILE": os.Getenv("PIDFILE")},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	io.Copy(io.Discard, run)
	run.Wait()
}

// TestLeftoverHoldsStdout: a program that exits but leaves a process
// holding its stdout gets its whole response through soon after, not at the
// timeout; what it left in its group is killed and one warning names the
// group.
func TestLeftoverHoldsStdout(t *testing.T) {
	for _, tt := range []struct {
		name   string
		mode   string
		killed bool // the leftover is in the program's group, so it is killed
		warn   string
	}{
		{"in the program's group", "leave-stdout", true, "kept stdout open; killed them"},
		{"in a session of its own", "leave-stdout-setsid", false, "outside its group kept stdout open"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pidfile := filepath.Join(t.TempDir(), "pid")
			h, logs := setup(t, tt.mode, handler.Config{
				Timeout: time.Minute, Env: environ.Environ{"PIDFILE": pidfile},
			}, subprocess.Config{KillGrace: 300 * time.Millisecond})
			start := time.Now()
			out, res := serve(h, get())
			took := time.Since(start)
			leftover := readPid(t, pidfile+".grandchild")
			t.Cleanup(func() { syscall.Kill(leftover, syscall.SIGKILL) })

			want := "Status: 200 OK\r\nContent-Type: text/plain\r\n"
			if res.Status != 200 || res.Err != nil || !strings.HasPrefix(out, want) || !strings.HasSuffix(out, "\r\n\r\n"+leftoverBody) {
				t.Errorf("Serve = %d (%v), %d bytes; want 200 and the whole body", res.Status, res.Err, len(out))
			}
			if took > 20*time.Second {
				t.Errorf("Serve took %v; want it to end soon after the program, not at the 1m timeout", took)
			}
			if n := strings.Count(logs.String(), "kept stdout open"); n != 1 {
				t.Errorf("%d warnings about stdout held open, want 1:\n%s", n, logs)
			}
			pgid := fmt.Sprintf("pgid=%d", res.Exit.Pid)
			var line string
			for l := range strings.Lines(logs.String()) {
				if strings.Contains(l, "kept stdout open") {
					line = l
				}
			}
			if !strings.Contains(line, tt.warn) || !strings.Contains(line, pgid) {
				t.Errorf("warning %q lacks %q and %s", line, tt.warn, pgid)
			}
			if tt.killed {
				waitGone(t, leftover)
			}
		})
	}
}

// waitGone waits a few seconds for pid to be gone and fails if it is not.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for alive(pid) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if alive(pid) {
		t.Errorf("process %d still running", pid)
	}
}

// TestGatewayDeathKillsProgram: a gateway that dies at once (SIGKILL, a
// crash) takes its programs with it.
func TestGatewayDeathKillsProgram(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	pidfile := filepath.Join(t.TempDir(), "pid")
	gw := exec.Command(exe)
	gw.Env = append(os.Environ(), "GATEWAYD_TEST_CGI=gateway", "PIDFILE="+pidfile)
	if err := gw.Start(); err != nil {
		t.Fatal(err)
	}
	program := readPid(t, pidfile)
	// What the program started in its group outlives it: only the program
	// itself gets the parent-death signal.
	t.Cleanup(func() { syscall.Kill(-program, syscall.SIGKILL) })
	gw.Process.Kill()
	gw.Wait()
	waitGone(t, program)
}

// TestThreadExitKeepsProgram: a program started from a goroutine locked to
// its thread lives on when that goroutine exits and so ends the thread,
// although the parent-death signal fires when the thread that started a
// child ends.
func TestThreadExitKeepsProgram(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	r := subprocess.New(subprocess.Config{KillGrace: 200 * time.Millisecond})
	t.Cleanup(r.Close)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var run handler.Run
	for run == nil && err == nil {
		started := make(chan struct{})
		go func() {
			defer close(started)
			runtime.LockOSThread()
			if syscall.Gettid() == os.Getpid() {
				// The main thread does not end with its goroutine.
				runtime.UnlockOSThread()
				return
			}
			// Never unlocked: the thread ends with the goroutine.
			run, err = r.Start(ctx, &handler.Call{
				Program: exe,
				Body:    http.NoBody,
				Env:     environ.Environ{"GATEWAYD_TEST_CGI": "ignore-term"},
			})
		}()
		<-started
	}
	if err != nil {
		t.Fatal(err)
	}
	ended := make(chan handler.Exit, 1)
	go func() {
		io.Copy(io.Discard, run)
		ended <- run.Wait()
	}()
	// The parent-death signal is sent as the thread ends: a program it hit
	// is dead within moments. This one runs until cancelled.
	select {
	case ex := <-ended:
		t.Fatalf("program died with the thread that started it: %+v", ex)
	case <-time.After(time.Second):
	}
	cancel()
	if ex := <-ended; ex.Signal != "killed" {
		t.Errorf("program ended with %+v, want it killed by the gateway", ex)
	}
}

// TestStop: Stop ends the running programs at once, whether they have sent
// their header or not, and no process of theirs is left; a request still
// waiting for a slot and every later one get 503. A response Stop cut short
// is not taken for a complete one.
func TestStop(t *testing.T) {
	for _, tt := range []struct {
		name   string
		mode   string
		status int // of the stopped request
	}{
		{"before the header", "ignore-term", 503},
		{"mid-body", "partial", 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pidfile := filepath.Join(t.TempDir(), "pid")
			exe, _ := os.Executable()
			r := subprocess.New(subprocess.Config{MaxChildren: 1, MaxQueue: 1, KillGrace: 200 * time.Millisecond})
			t.Cleanup(r.Close)
			h, err := handler.New(handler.Config{
				App: r, Program: exe, Timeout: time.Minute,
				Env: environ.Environ{"GATEWAYD_TEST_CGI": tt.mode, "PIDFILE": pidfile},
			})
			if err != nil {
				t.Fatal(err)
			}
			stopped, queued := make(chan handler.Result, 1), make(chan handler.Result, 1)
			go func() { stopped <- h.Serve(context.Background(), get(), handler.NewGatewayWriter(io.Discard)) }()
			pid := readPid(t, pidfile)
			go func() { queued <- h.Serve(context.Background(), get(), handler.NewGatewayWriter(io.Discard)) }()

			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := r.Stop(ctx); err != nil {
				t.Fatalf("Stop = %v, want nil", err)
			}
			if err := syscall.Kill(-pid, 0); !errors.Is(err, syscall.ESRCH) {
				t.Errorf("kill(-%d, 0) = %v after Stop, want ESRCH: the group is gone", pid, err)
			}
			if res := <-stopped; res.Status != tt.status || res.Err == nil {
				t.Errorf("stopped request = %d (%v), want %d and an error", res.Status, res.Err, tt.status)
			}
			if res := <-queued; res.Status != 503 {
				t.Errorf("queued request = %d (%v), want 503", res.Status, res.Err)
			}
			if _, res := serve(h, get()); res.Status != 503 {
				t.Errorf("Serve after Stop = %d, want 503", res.Status)
			}
		})
	}
}

// TestCrashEndsByItself: a program that crashed ended by itself, even
// though the pipeline, finding no response in its output, stops the
// request before it waits: its Exit names the signal and no stop by the
// gateway (what the metrics count as a crash, not a bad response). That
// holds too when the stop's TERM reached it first, as it does when its
// output closes while it is still exiting; the second program makes that
// window wide: it closes stdout, ignores TERM and crashes later.
func TestCrashEndsByItself(t *testing.T) {
	r := subprocess.New(subprocess.Config{})
	defer r.Close()
	for _, script := range []string{
		"kill -SEGV $$",
		"trap '' TERM; exec >&-; sleep 0.2; kill -SEGV $$",
	} {
		ctx, cancel := context.WithCancel(context.Background())
		run, err := r.Start(ctx, &handler.Call{Program: "/bin/sh", Args: []string{"-c", script},
			Env: environ.Environ{}, Body: http.NoBody})
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, run)
		cancel()
		time.Sleep(20 * time.Millisecond) // the stop would have begun by now
		if ex := run.Wait(); ex.Signal != "segmentation fault" || ex.Err != nil {
			t.Errorf("%s: Exit = %+v, want the segmentation fault and no stop by the gateway", script, ex)
		}
	}
}

// TestBulkPipes: the pipes that carry a body, stdin and stdout, hold 256
// KiB, so that a program streaming one wakes gatewayd four times less
// often than with Linux's 64 KiB; stderr keeps the default.
func TestBulkPipes(t *testing.T) {
	h, _ := setup(t, "pipe-size", handler.Config{}, subprocess.Config{})
	req := get("CONTENT_LENGTH", "5")
	req.Body = strings.NewReader("hello") // a stream: pumped through a pipe
	out, _ := serve(h, req)
	if _, body, _ := strings.Cut(out, "\r\n\r\n"); body != "262144 262144 65536" {
		t.Errorf("pipe sizes (stdin, stdout, stderr) = %q, want 262144 262144 65536", body)
	}
}
