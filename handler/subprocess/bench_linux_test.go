package subprocess_test

import (
	"context"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"

	"gatewayd/environ"
	"gatewayd/handler"
	"gatewayd/handler/subprocess"
)

// BenchmarkRunner runs the smallest static CGI program (musl, one write)
// through Runner.Start, Read and Wait, from parallel goroutines, and
// reports the CPU time per request of the gateway (gatewayd-us/op) and of
// the program (child-us/op), from getrusage.
func BenchmarkRunner(b *testing.B) {
	cc, err := exec.LookPath("musl-gcc")
	if err != nil {
		b.Skip("no musl-gcc")
	}
	prog := filepath.Join(b.TempDir(), "hello.cgi")
	src, _ := filepath.Abs("../../integration/testdata/bench/hello.c")
	if out, err := exec.Command(cc, "-static", "-O2", "-o", prog, src).CombinedOutput(); err != nil {
		b.Fatalf("%v\n%s", err, out)
	}
	r := subprocess.New(subprocess.Config{MaxChildren: 8})
	defer r.Close()
	env := environ.Environ{"PATH": "/usr/bin:/bin", "REQUEST_METHOD": "GET"}
	var self0, child0 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &self0)
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &child0)
	b.ResetTimer()
	var wg sync.WaitGroup
	b.SetParallelism(2)
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, 4096)
		for pb.Next() {
			run, err := r.Start(context.Background(), &handler.Call{Program: prog, Env: env, Body: http.NoBody})
			if err != nil {
				b.Error(err)
				return
			}
			for {
				if _, err := run.Read(buf); err == io.EOF {
					break
				} else if err != nil {
					b.Error(err)
					break
				}
			}
			if ex := run.Wait(); ex.Code != 0 {
				b.Errorf("exit %+v", ex)
			}
		}
	})
	wg.Wait()
	b.StopTimer()
	var self1, child1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &self1)
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &child1)
	us := func(a, b syscall.Rusage) float64 {
		t := func(r syscall.Rusage) float64 {
			return float64(r.Utime.Sec+r.Stime.Sec)*1e6 + float64(r.Utime.Usec+r.Stime.Usec)
		}
		return t(b) - t(a)
	}
	b.ReportMetric(us(self0, self1)/float64(b.N), "gatewayd-us/op")
	b.ReportMetric(us(child0, child1)/float64(b.N), "child-us/op")
}
