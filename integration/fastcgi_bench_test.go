//go:build unix

package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkNginxFastCGI puts gatewayd beside fcgiwrap behind the same nginx,
// on the same programs, under the same wrk load, and prints the table:
//
//	make bench   (or: go test -run '^$' -bench NginxFastCGI -benchtime 1x ./integration)
//
// Programs: one C hello built twice, with musl-gcc -static (cheap to start)
// and gcc -static (glibc's static start-up is dearer). Each is served by
// gatewayd --root and by fcgiwrap -c 2 and -c 4. Then gatewayd's in-process
// demo app against a 30-line net/http/fcgi program printing the same page.
// The spawn rate of each build from a C posix_spawn loop on two threads is
// the ceiling any fork-per-request gateway is read against.
func BenchmarkNginxFastCGI(b *testing.B) {
	wrk := requirePeer(b, "wrk")
	fcgiwrap := requirePeer(b, "fcgiwrap", "/usr/sbin/fcgiwrap")
	musl := requirePeer(b, "musl-gcc")
	gcc := requirePeer(b, "gcc")
	dur := benchDuration()

	dir := b.TempDir()
	src := func(name string) string { p, _ := filepath.Abs(filepath.Join("testdata", "bench", name)); return p }
	bin := filepath.Join(dir, "cgi-bin")
	os.MkdirAll(bin, 0o755)
	build := func(args ...string) {
		b.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			b.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	build(musl, "-static", "-O2", "-o", filepath.Join(bin, "musl.cgi"), src("hello.c"))
	build(gcc, "-static", "-O2", "-o", filepath.Join(bin, "glibc.cgi"), src("hello.c"))
	build(gcc, "-O2", "-pthread", "-o", filepath.Join(dir, "spawn"), src("spawn.c"))
	build("go", "build", "-o", filepath.Join(dir, "fcgihello"), "./testdata/bench/fcgihello")

	spawnRate := map[string]float64{}
	for _, prog := range []string{"musl", "glibc"} {
		out, err := exec.Command(filepath.Join(dir, "spawn"), filepath.Join(bin, prog+".cgi"), fmt.Sprint(dur.Seconds())).Output()
		if err != nil {
			b.Fatal(err)
		}
		spawnRate[prog], _ = strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	}

	// The upstreams, each on its own unix socket.
	sock := func(name string) string { return filepath.Join(dir, name+".sock") }
	// gatewayd without its access log, as fcgiwrap has none.
	for name, extra := range map[string][]string{"gatewayd": {"--root", bin}, "demo": nil} {
		args := append([]string{"serve", "--fastcgi", "unix:" + sock(name), "--log-level", "warn"}, extra...)
		p := startProcess(b, "gatewayd "+name, exec.Command(gatewayd, args...))
		waitPort(b, "unix", sock(name), p)
	}
	for _, c := range []string{"2", "4"} {
		p := startProcess(b, "fcgiwrap -c "+c, exec.Command(fcgiwrap, "-c", c, "-s", "unix:"+sock("fcgiwrap"+c)))
		waitPort(b, "unix", sock("fcgiwrap"+c), p)
	}
	goPort := freePort(b)
	p := startProcess(b, "fcgihello", exec.Command(filepath.Join(dir, "fcgihello"), fmt.Sprintf("127.0.0.1:%d", goPort)))
	waitPort(b, "tcp", fmt.Sprintf("127.0.0.1:%d", goPort), p)

	var locations strings.Builder
	for name, upstream := range map[string]string{
		"gatewayd": "unix:" + sock("gatewayd"), "fcgiwrap2": "unix:" + sock("fcgiwrap2"),
		"fcgiwrap4": "unix:" + sock("fcgiwrap4"), "demo": "unix:" + sock("demo"),
		"gofcgi": fmt.Sprintf("127.0.0.1:%d", goPort),
	} {
		fmt.Fprintf(&locations, `location ~ ^/%s/(.*)$ {
	include /etc/nginx/fastcgi_params;
	fastcgi_param SCRIPT_FILENAME %s/$1;
	fastcgi_pass %s;
}
`, name, bin, upstream)
	}
	// The program's name comes from the path: /gatewayd/musl.cgi → musl.cgi.
	port, _ := startNginx(b, "", locations.String())
	rows := []struct{ name, path string }{
		{"musl gatewayd", "/gatewayd/musl.cgi"},
		{"musl fcgiwrap-c2", "/fcgiwrap2/musl.cgi"},
		{"musl fcgiwrap-c4", "/fcgiwrap4/musl.cgi"},
		{"glibc gatewayd", "/gatewayd/glibc.cgi"},
		{"glibc fcgiwrap-c2", "/fcgiwrap2/glibc.cgi"},
		{"glibc fcgiwrap-c4", "/fcgiwrap4/glibc.cgi"},
		{"demo gatewayd-in-process", "/demo/page"},
		{"demo net-http-fcgi", "/gofcgi/page"},
	}
	results := map[string]wrkResult{}
	for _, row := range rows {
		b.Run(strings.ReplaceAll(row.name, " ", "/"), func(b *testing.B) {
			url := fmt.Sprintf("http://127.0.0.1:%d%s", port, row.path)
			var r wrkResult
			for range b.N {
				r = runWrk(b, wrk, url, dur)
			}
			results[row.name] = r
			b.ReportMetric(r.rps, "req/s")
			b.ReportMetric(float64(r.p99.Microseconds()), "p99-µs")
			b.ReportMetric(0, "ns/op")
		})
	}

	var t strings.Builder
	fmt.Fprintf(&t, "\n%-26s %10s %10s %8s\n", "nginx → …", "req/s", "p99", "non-2xx")
	for _, row := range rows {
		r := results[row.name]
		fmt.Fprintf(&t, "%-26s %10.0f %10v %8d\n", row.name, r.rps, r.p99.Round(10*time.Microsecond), r.errors)
	}
	ratio := func(a, c string) string {
		if results[c].rps == 0 {
			return "n/a"
		}
		return fmt.Sprintf("%.2f× req/s, p99 %v vs %v", results[a].rps/results[c].rps,
			results[a].p99.Round(10*time.Microsecond), results[c].p99.Round(10*time.Microsecond))
	}
	fmt.Fprintf(&t, "spawn rate (posix_spawn, 2 threads): musl %.0f/s, glibc %.0f/s\n", spawnRate["musl"], spawnRate["glibc"])
	fmt.Fprintf(&t, "musl: gatewayd / fcgiwrap -c4 = %s (target ≥ 1.5×, lower p99)\n", ratio("musl gatewayd", "musl fcgiwrap-c4"))
	fmt.Fprintf(&t, "glibc: gatewayd / fcgiwrap -c4 = %s (target ≥ 1.1×)\n", ratio("glibc gatewayd", "glibc fcgiwrap-c4"))
	fmt.Fprintf(&t, "demo: gatewayd in-process / net/http/fcgi = %s (target ≥ 1.5×)\n", ratio("demo gatewayd-in-process", "demo net-http-fcgi"))
	fmt.Fprintf(&t, "musl gatewayd at %.0f%% of the spawn rate, fcgiwrap -c4 at %.0f%%\n",
		100*results["musl gatewayd"].rps/spawnRate["musl"], 100*results["musl fcgiwrap-c4"].rps/spawnRate["musl"])
	fmt.Print(t.String()) // the table is the point: shown without -v
}

// benchDuration is how long each load runs: GATEWAYD_BENCH_SECONDS, or 5.
func benchDuration() time.Duration {
	if s, err := strconv.ParseFloat(os.Getenv("GATEWAYD_BENCH_SECONDS"), 64); err == nil && s > 0 {
		return time.Duration(s * float64(time.Second))
	}
	return 5 * time.Second
}

type wrkResult struct {
	rps    float64
	p99    time.Duration
	errors int
}

var (
	wrkRPS    = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkP99    = regexp.MustCompile(`\n\s+99%\s+([0-9.]+)(us|ms|s)\n`)
	wrkNon2xx = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
)

// runWrk loads url with wrk (1 thread, 8 connections) for d.
func runWrk(tb testing.TB, wrk, url string, d time.Duration) wrkResult {
	tb.Helper()
	out, err := exec.Command(wrk, "-t1", "-c8", fmt.Sprintf("-d%ds", int(d.Seconds())), "--latency", url).CombinedOutput()
	if err != nil {
		tb.Fatalf("wrk %s: %v\n%s", url, err, out)
	}
	var r wrkResult
	m := wrkRPS.FindSubmatch(out)
	p := wrkP99.FindSubmatch(out)
	if m == nil || p == nil {
		tb.Fatalf("wrk output not understood:\n%s", out)
	}
	r.rps, _ = strconv.ParseFloat(string(m[1]), 64)
	v, _ := strconv.ParseFloat(string(p[1]), 64)
	r.p99 = time.Duration(v * float64(map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[string(p[2])]))
	if n := wrkNon2xx.FindSubmatch(out); n != nil {
		r.errors, _ = strconv.Atoi(string(n[1]))
	}
	if r.errors > 0 {
		tb.Errorf("%s: %d responses were not 2xx/3xx", url, r.errors)
	}
	return r
}
