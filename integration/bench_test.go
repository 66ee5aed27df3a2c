//go:build unix

package integration

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

// The benchmarks drive the real binary over loopback with keep-alive
// clients, as many at once as the machine has CPUs times four, and report
// requests per second and latency percentiles beside ns/op:
//
//	go test -run '^$' -bench . -benchtime 5s ./integration
func BenchmarkHTTPDemo(b *testing.B) {
	_, url := startGatewayd(b, "serve", "--http", "127.0.0.1:0")
	load(b, url+"/bench?x=1")
}

func BenchmarkHTTPSubprocessShell(b *testing.B) {
	root := b.TempDir()
	script := "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\nhello %s\\n' \"$PATH_INFO\"\n"
	if err := os.WriteFile(filepath.Join(root, "hello.sh"), []byte(script), 0o755); err != nil {
		b.Fatal(err)
	}
	_, url := startGatewayd(b, "serve", "--http", "127.0.0.1:0", "--root", root)
	load(b, url+"/hello.sh/bench")
}

// load sends b.N GETs to url from several clients at once and reports
// throughput and latency.
func load(b *testing.B, url string) {
	workers := 4 * max(1, runtimeCPUs())
	tr := &http.Transport{MaxIdleConnsPerHost: workers}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	get := func() error {
		resp, err := client.Get(url)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return err
		}
		if resp.StatusCode != 200 {
			return &statusError{resp.StatusCode}
		}
		return nil
	}
	if err := get(); err != nil { // warm up
		b.Fatal(err)
	}

	var (
		mu        sync.Mutex
		latencies = make([]time.Duration, 0, b.N)
		next      = make(chan struct{}, b.N)
	)
	for range b.N {
		next <- struct{}{}
	}
	close(next)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range next {
				t := time.Now()
				if err := get(); err != nil {
					b.Error(err)
					return
				}
				d := time.Since(t)
				mu.Lock()
				latencies = append(latencies, d)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(latencies)
	pct := func(p float64) float64 {
		if len(latencies) == 0 {
			return 0
		}
		return float64(latencies[int(p*float64(len(latencies)-1))].Microseconds())
	}
	b.ReportMetric(float64(len(latencies))/elapsed.Seconds(), "req/s")
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
}

type statusError struct{ code int }

func (e *statusError) Error() string { return http.StatusText(e.code) }
