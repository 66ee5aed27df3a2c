//go:build unix

package integration

import (
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// phpBenchConf is the gatewayd file of BenchmarkPHPWorkers: php-cgi run
// as a CGI program per request under /exec, and four php-cgi workers
// under /worker, on one FastCGI socket.
const phpBenchConf = `listen "fastcgi" {
  address = "unix:{{.Sock}}"
}
log {
  access = false
}
mount "/exec" {
  program = ["{{.PHP}}"]
}
mount "/worker" {
  root = "{{.Root}}"
  worker {
    command   = ["{{.PHP}}"]
    processes = 4
  }
}
`

// BenchmarkPHPWorkers puts the same PHP hello script behind one nginx,
// three ways, under the wrk load of BenchmarkNginxFastCGI, and prints the
// table:
//
//	make bench   (or: go test -run '^$' -bench PHPWorkers -benchtime 1x ./integration)
//
// exec: gatewayd runs php-cgi as a CGI program for every request (nginx
// sends SCRIPT_FILENAME and REDIRECT_STATUS, which php-cgi wants as CGI).
// worker: gatewayd's four persistent php-cgi workers. fpm: nginx straight
// to a static php-fpm pool of four. Figures are printed, never asserted.
func BenchmarkPHPWorkers(b *testing.B) {
	wrk := requirePeer(b, "wrk")
	phpCGI := requirePHPCGI(b)
	fpm := requirePHPFPM(b)
	dur := benchDuration()

	dir := b.TempDir()
	www := phpScripts(b, dir)
	hello := filepath.Join(www, "hello.php")
	_, fpmSock := startFPM(b, fpm, dir)
	sock := filepath.Join(dir, "gatewayd.sock")
	conf := writeTemplate(b, dir, "bench.hcl", phpBenchConf, map[string]any{"Sock": sock, "PHP": phpCGI, "Root": www})
	// Without its access log, as php-fpm has none.
	gw := startProcess(b, "gatewayd", exec.Command(gatewayd, "serve", "--config", conf, "--log-level", "warn"))
	waitPort(b, "unix", sock, gw)

	var locations strings.Builder
	for _, l := range []struct{ path, upstream string }{
		{"/exec/hello.php", "unix:" + sock},
		{"/worker/hello.php", "unix:" + sock},
		{"/fpm/hello.php", "unix:" + fpmSock},
	} {
		fmt.Fprintf(&locations, `location = %s {
	include /etc/nginx/fastcgi_params;
	fastcgi_param SCRIPT_FILENAME %s;
	fastcgi_pass %s;
}
`, l.path, hello, l.upstream)
	}
	port, _ := startNginx(b, "", locations.String())

	rows := []struct{ name, path string }{
		{"php-cgi exec per request", "/exec/hello.php"},
		{"php-cgi workers ×4", "/worker/hello.php"},
		{"php-fpm static ×4", "/fpm/hello.php"},
	}
	results := map[string]phpBenchResult{}
	for _, row := range rows {
		url := fmt.Sprintf("http://127.0.0.1:%d%s", port, row.path)
		// Each way must answer the script's output before it is timed.
		resp, err := phpClient().Get(url)
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "hello\n" {
			b.Fatalf("GET %s = %d %q, want 200 hello", url, resp.StatusCode, body)
		}
		b.Run(strings.ReplaceAll(row.name, " ", "/"), func(b *testing.B) {
			var r phpBenchResult
			for range b.N {
				r = runWrkLatency(b, wrk, url, dur)
			}
			results[row.name] = r
			b.ReportMetric(r.rps, "req/s")
			b.ReportMetric(float64(r.p50.Microseconds()), "p50-µs")
			b.ReportMetric(float64(r.p99.Microseconds()), "p99-µs")
			b.ReportMetric(0, "ns/op")
		})
	}

	round := func(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }
	var t strings.Builder
	fmt.Fprintf(&t, "\n%-28s %10s %10s %10s %8s\n", "nginx → … hello.php", "req/s", "p50", "p99", "non-2xx")
	for _, row := range rows {
		r := results[row.name]
		fmt.Fprintf(&t, "%-28s %10.0f %10v %10v %8d\n", row.name, r.rps, round(r.p50), round(r.p99), r.errors)
	}
	cgi, work, fpmR := results[rows[0].name], results[rows[1].name], results[rows[2].name]
	ratio := func(a, c float64) string {
		if c == 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.2f×", a/c)
	}
	fmt.Fprintf(&t, "workers / exec: %s req/s\n", ratio(work.rps, cgi.rps))
	fmt.Fprintf(&t, "workers / php-fpm: %s req/s, p99 %s (%v vs %v)\n",
		ratio(work.rps, fpmR.rps), ratio(float64(work.p99), float64(fpmR.p99)), round(work.p99), round(fpmR.p99))
	fmt.Print(t.String()) // the table is the point: shown without -v
}

// phpBenchResult is runWrk's result with the median latency.
type phpBenchResult struct {
	wrkResult
	p50 time.Duration
}

var wrkP50 = regexp.MustCompile(`\n\s+50%\s+([0-9.]+)(us|ms|s)\n`)

// runWrkLatency is runWrk (1 thread, 8 connections, for d), also reading
// the median from wrk's latency distribution.
func runWrkLatency(tb testing.TB, wrk, url string, d time.Duration) phpBenchResult {
	tb.Helper()
	out, err := exec.Command(wrk, "-t1", "-c8", fmt.Sprintf("-d%ds", max(1, int(d.Seconds()))), "--latency", url).CombinedOutput()
	if err != nil {
		tb.Fatalf("wrk %s: %v\n%s", url, err, out)
	}
	m, p50, p99 := wrkRPS.FindSubmatch(out), wrkP50.FindSubmatch(out), wrkP99.FindSubmatch(out)
	if m == nil || p50 == nil || p99 == nil {
		tb.Fatalf("wrk output not understood:\n%s", out)
	}
	var r phpBenchResult
	r.rps, _ = strconv.ParseFloat(string(m[1]), 64)
	r.p50, r.p99 = wrkDuration(p50), wrkDuration(p99)
	if n := wrkNon2xx.FindSubmatch(out); n != nil {
		r.errors, _ = strconv.Atoi(string(n[1]))
	}
	if r.errors > 0 {
		tb.Errorf("%s: %d responses were not 2xx/3xx", url, r.errors)
	}
	return r
}

// wrkDuration is a latency wrk printed, as the submatches value and unit.
func wrkDuration(m [][]byte) time.Duration {
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[string(m[2])]
	return time.Duration(v * float64(unit))
}
