package fastcgi

import (
	"bytes"
	"io"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"gatewayd/handler"
	"gatewayd/handler/subprocess"
)

// The piped benchmarks move 64 MiB through the FastCGI server, the
// pipeline and the subprocess runner to and from a real program (the C
// programs of integration's body benchmark): the path an upload or a
// download takes behind nginx, without nginx. Besides MB/s they report the
// CPU time per MiB of this process (server and client) and of the program,
// from getrusage, which the machine's other load disturbs less than the
// rate.

// BenchmarkPipedUpload sends the body in 8 KiB STDIN records, as nginx
// does with fastcgi_request_buffering off, to a program that drains stdin.
func BenchmarkPipedUpload(b *testing.B) {
	const size = 64 << 20
	addr := serveProgram(b, "drain")
	body := make([]byte, size)
	b.SetBytes(size)
	cpu := startCPU(b)
	for range b.N {
		params := map[string]string{"REQUEST_METHOD": "POST", "CONTENT_LENGTH": strconv.Itoa(size)}
		bulkRequest(b, addr, params, recordSized{bytes.NewReader(body)})
	}
	cpu.report(size)
}

// BenchmarkPipedDownload reads a program that writes 64 MiB to stdout,
// 64 KiB at a time.
func BenchmarkPipedDownload(b *testing.B) {
	const size = 64 << 20
	addr := serveProgram(b, "gen")
	b.SetBytes(size)
	cpu := startCPU(b)
	for range b.N {
		params := map[string]string{"REQUEST_METHOD": "GET", "QUERY_STRING": strconv.Itoa(size >> 20)}
		if n := bulkRequest(b, addr, params, nil); n < size {
			b.Fatalf("%d bytes, want %d", n, size)
		}
	}
	cpu.report(size)
}

// recordSized reads at most 8 KiB at a time, so that the client sends
// records of nginx's size.
type recordSized struct{ r io.Reader }

func (s recordSized) Read(p []byte) (int, error) { return s.r.Read(p[:min(len(p), 8<<10)]) }

// serveProgram serves the C program name of integration's body
// benchmark, built with cc, through a subprocess Runner.
func serveProgram(b *testing.B, name string) string {
	cc, err := exec.LookPath("cc")
	if err != nil {
		b.Skip("no cc")
	}
	prog := filepath.Join(b.TempDir(), name)
	src, _ := filepath.Abs("../../integration/testdata/bench/" + name + ".c")
	if out, err := exec.Command(cc, "-O2", "-o", prog, src).CombinedOutput(); err != nil {
		b.Fatalf("%v\n%s", err, out)
	}
	r := subprocess.New(subprocess.Config{})
	b.Cleanup(r.Close)
	addr, _ := serve(b, handler.Config{App: r, Program: prog, NoAccessLog: true}, Config{MaxBody: 256 << 20})
	return addr
}

// cpuClock measures the CPU time of this process and of its reaped
// children from its start.
type cpuClock struct {
	b            *testing.B
	self, child0 float64
}

func startCPU(b *testing.B) *cpuClock {
	self, child := rusage()
	b.ResetTimer()
	return &cpuClock{b: b, self: self, child0: child}
}

// report adds the CPU time per MiB moved, size bytes a request.
func (c *cpuClock) report(size int64) {
	c.b.StopTimer()
	self, child := rusage()
	mib := float64(size) / (1 << 20) * float64(c.b.N)
	c.b.ReportMetric((self-c.self)/mib, "gatewayd-us/MiB")
	c.b.ReportMetric((child-c.child0)/mib, "child-us/MiB")
}

// rusage returns the CPU µs of this process and of its reaped children.
func rusage() (self, children float64) {
	us := func(who int) float64 {
		var r syscall.Rusage
		syscall.Getrusage(who, &r)
		return float64(r.Utime.Sec+r.Stime.Sec)*1e6 + float64(r.Utime.Usec+r.Stime.Usec)
	}
	return us(syscall.RUSAGE_SELF), us(syscall.RUSAGE_CHILDREN)
}
