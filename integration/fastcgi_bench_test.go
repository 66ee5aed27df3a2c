//go:build unix

package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
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
// and gcc -static (glibc's static start-up is dearer), and a /bin/sh hello.
// Each is served by gatewayd --root and by fcgiwrap -c 2, 4, 8 and 16. Then
// gatewayd's in-process demo app against a 30-line net/http/fcgi program
// printing the same page. The spawn rate of each build from a C posix_spawn
// loop on two threads is the ceiling any fork-per-request gateway is read
// against.
//
// Every load runs once a round, the rounds interleaved
// (GATEWAYD_BENCH_ROUNDS, default 3, of GATEWAYD_BENCH_SECONDS each), and
// the table has each figure's median: req/s, p50 and p99 latency, and the
// CPU time per request of the server with the programs it ran (its
// process group, reaped children included) and, for gatewayd, of gatewayd
// alone, from /proc.
func BenchmarkNginxFastCGI(b *testing.B) {
	wrk := requirePeer(b, "wrk")
	fcgiwrap := requirePeer(b, "fcgiwrap", "/usr/sbin/fcgiwrap")
	musl := requirePeer(b, "musl-gcc")
	gcc := requirePeer(b, "gcc")
	dur := benchDuration()
	rounds := benchRounds()

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
	os.WriteFile(filepath.Join(bin, "sh.cgi"), []byte("#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\nHello, world!\\n'\n"), 0o755)
	build(gcc, "-O2", "-pthread", "-o", filepath.Join(dir, "spawn"), src("spawn.c"))
	build("go", "build", "-o", filepath.Join(dir, "fcgihello"), "./testdata/bench/fcgihello")

	spawnRate := map[string]float64{}
	for _, prog := range []string{"musl", "glibc", "sh"} {
		out, err := exec.Command(filepath.Join(dir, "spawn"), filepath.Join(bin, prog+".cgi"), fmt.Sprint(dur.Seconds())).Output()
		if err != nil {
			b.Fatal(err)
		}
		spawnRate[prog], _ = strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	}

	// The upstreams, each on its own unix socket, each its own process
	// group, whose CPU time is measured.
	sock := func(name string) string { return filepath.Join(dir, name+".sock") }
	servers := map[string]*process{}

	// gatewayd without its access log, as fcgiwrap has none.
	for name, extra := range map[string][]string{"gatewayd": {"--root", bin}, "demo": nil} {
		args := append([]string{"serve", "--fastcgi", "unix:" + sock(name), "--log-level", "warn"}, extra...)
		servers[name] = startProcess(b, "gatewayd "+name, exec.Command(gatewayd, args...))
		waitPort(b, "unix", sock(name), servers[name])
	}
	wraps := []string{"2", "4", "8", "16"}
	for _, c := range wraps {
		name := "fcgiwrap" + c
		servers[name] = startProcess(b, "fcgiwrap -c "+c, exec.Command(fcgiwrap, "-c", c, "-s", "unix:"+sock(name)))
		waitPort(b, "unix", sock(name), servers[name])
	}
	goPort := freePort(b)
	servers["gofcgi"] = startProcess(b, "fcgihello", exec.Command(filepath.Join(dir, "fcgihello"), fmt.Sprintf("127.0.0.1:%d", goPort)))
	waitPort(b, "tcp", fmt.Sprintf("127.0.0.1:%d", goPort), servers["gofcgi"])

	cpuOf := map[string]func() time.Duration{}
	for name, p := range servers {
		cpuOf[name] = cpuMeter(b, name, p.cmd.Process.Pid)
	}

	var locations strings.Builder
	for name := range servers {
		upstream := "unix:" + sock(name)
		if name == "gofcgi" {
			upstream = fmt.Sprintf("127.0.0.1:%d", goPort)
		}
		fmt.Fprintf(&locations, `location ~ ^/%s/(.*)$ {
	include /etc/nginx/fastcgi_params;
	fastcgi_param SCRIPT_FILENAME %s/$1;
	fastcgi_pass %s;
}
`, name, bin, upstream)
	}
	// The program's name comes from the path: /gatewayd/musl.cgi → musl.cgi.
	port, _ := startNginx(b, "", locations.String())
	type row struct{ name, server, path string }
	var rows []row
	for _, prog := range []string{"musl", "glibc", "sh"} {
		rows = append(rows, row{prog + " gatewayd", "gatewayd", "/gatewayd/" + prog + ".cgi"})
		for _, c := range wraps {
			rows = append(rows, row{prog + " fcgiwrap-c" + c, "fcgiwrap" + c, "/fcgiwrap" + c + "/" + prog + ".cgi"})
		}
	}
	rows = append(rows, row{"demo gatewayd-in-process", "demo", "/demo/page"}, row{"demo net-http-fcgi", "gofcgi", "/gofcgi/page"})

	steal := stealMeter()
	runs := map[string][]benchRun{}
	failed := false
	for round := range rounds {
		for _, r := range rows {
			failed = !b.Run(fmt.Sprintf("%s/round-%d", strings.ReplaceAll(r.name, " ", "/"), round+1), func(b *testing.B) {
				url := fmt.Sprintf("http://127.0.0.1:%d%s", port, r.path)
				pid := servers[r.server].cmd.Process.Pid
				var run benchRun
				for range b.N {
					before, own := cpuOf[r.server](), ownCPU(pid)
					w := runWrkLatency(b, wrk, url, dur)
					reqs := w.rps * dur.Seconds()
					run = benchRun{phpBenchResult: w,
						cpu: (cpuOf[r.server]() - before).Seconds() * 1e6 / reqs, own: (ownCPU(pid) - own).Seconds() * 1e6 / reqs}
				}
				runs[r.name] = append(runs[r.name], run)
				b.ReportMetric(run.rps, "req/s")
				b.ReportMetric(float64(run.p99.Microseconds()), "p99-µs")
				b.ReportMetric(run.cpu, "cpu-µs/req")
				b.ReportMetric(0, "ns/op")
			}) || failed
		}
	}
	med := map[string]benchRun{}
	for name, rs := range runs {
		med[name] = medianRun(rs)
	}

	var t strings.Builder
	round := func(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }
	fmt.Fprintf(&t, "\nmedians of %d interleaved rounds of %v, wrk -t1 -c8; the hypervisor stole %.1f%% of the CPU time meanwhile\n", rounds, dur, steal())
	fmt.Fprintf(&t, "%-26s %8s %9s %9s %11s %11s\n", "nginx → …", "req/s", "p50", "p99", "cpu-µs/req", "own-µs/req")
	for _, r := range rows {
		m := med[r.name]
		own := "-"
		if r.server == "gatewayd" || r.server == "demo" {
			own = fmt.Sprintf("%.0f", m.own)
		}
		fmt.Fprintf(&t, "%-26s %8.0f %9v %9v %11.0f %11s\n", r.name, m.rps, round(m.p50), round(m.p99), m.cpu, own)
	}
	fmt.Fprintf(&t, "spawn rate (posix_spawn, 2 threads): musl %.0f/s, glibc %.0f/s, sh %.0f/s\n",
		spawnRate["musl"], spawnRate["glibc"], spawnRate["sh"])
	for _, prog := range []string{"musl", "glibc", "sh"} {
		g := med[prog+" gatewayd"]
		best := ""
		for _, c := range wraps {
			if best == "" || med[prog+" fcgiwrap-c"+c].rps > med[best].rps {
				best = prog + " fcgiwrap-c" + c
			}
		}
		c4, top := med[prog+" fcgiwrap-c4"], med[best]
		fmt.Fprintf(&t, "%s: gatewayd %.2f× fcgiwrap -c4 (p99 %v vs %v), %.2f× the best, %s (p99 %v); cpu/req %.0f vs %.0f µs; %.0f%% of the spawn rate\n",
			prog, g.rps/c4.rps, round(g.p99), round(c4.p99), g.rps/top.rps, strings.TrimPrefix(best, prog+" "), round(top.p99),
			g.cpu, c4.cpu, 100*g.rps/spawnRate[prog])
	}
	fmt.Fprintf(&t, "gatewayd's own CPU per request (children excluded): musl %.0f µs, glibc %.0f µs, sh %.0f µs (goal < 60)\n",
		med["musl gatewayd"].own, med["glibc gatewayd"].own, med["sh gatewayd"].own)
	fmt.Fprintf(&t, "goals: musl ≥ 1.5× fcgiwrap -c4 and ≥ 1.2× the best; glibc ≥ 1.2×; p99 no worse than fcgiwrap's\n")
	fmt.Fprintf(&t, "demo: gatewayd in-process / net/http/fcgi = %.2f× req/s, p99 %v vs %v\n",
		med["demo gatewayd-in-process"].rps/med["demo net-http-fcgi"].rps, round(med["demo gatewayd-in-process"].p99), round(med["demo net-http-fcgi"].p99))
	fmt.Print(t.String()) // the table is the point: shown without -v
	if failed {
		b.Fatal("some loads failed: see above")
	}
}

// benchRun is one load's figures: wrk's, and CPU time per request in µs of
// the server's process group (cpu) and of its main process alone (own).
type benchRun struct {
	phpBenchResult
	cpu, own float64
}

// medianRun is the median of each figure of rs, taken apart.
func medianRun(rs []benchRun) benchRun {
	med := func(f func(benchRun) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	var m benchRun
	m.rps = med(func(r benchRun) float64 { return r.rps })
	m.p50 = time.Duration(med(func(r benchRun) float64 { return float64(r.p50) }))
	m.p99 = time.Duration(med(func(r benchRun) float64 { return float64(r.p99) }))
	m.cpu = med(func(r benchRun) float64 { return r.cpu })
	m.own = med(func(r benchRun) float64 { return r.own })
	return m
}

// benchRounds is how many times each load runs: GATEWAYD_BENCH_ROUNDS, or 3.
func benchRounds() int {
	if n, err := strconv.Atoi(os.Getenv("GATEWAYD_BENCH_ROUNDS")); err == nil && n > 0 {
		return n
	}
	return 3
}

// procTimes returns fields utime, stime, cutime and cstime of
// /proc/PID/stat, and its process group.
func procTimes(pid int) (times [4]time.Duration, pgrp int, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return times, 0, false
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	f := strings.Fields(rest) // f[0] is field 3, state
	if len(f) < 15 {
		return times, 0, false
	}
	pgrp, _ = strconv.Atoi(f[2])
	for i := range times {
		ticks, _ := strconv.ParseInt(f[11+i], 10, 64)
		times[i] = time.Duration(ticks) * time.Second / clockTicks
	}
	return times, pgrp, true
}

// clockTicks is USER_HZ, the unit of /proc's times: 100 on Linux.
const clockTicks = 100

// ownCPU is the CPU time of process pid alone.
func ownCPU(pid int) time.Duration {
	t, _, _ := procTimes(pid)
	return t[0] + t[1]
}

// stealMeter returns a function that tells the share of the machine's CPU
// time its hypervisor gave to others (steal, in /proc/stat) since
// stealMeter was called, in percent, or -1 when /proc/stat cannot be read.
// It is about 0 on a quiet machine. This project's test machine has had
// 20–37 % for half an hour and more, and every figure of a run then fell
// to half or less.
func stealMeter() func() float64 {
	read := func() (steal, total int64, ok bool) {
		b, err := os.ReadFile("/proc/stat")
		if err != nil {
			return 0, 0, false
		}
		line, _, _ := strings.Cut(string(b), "\n")
		f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal …
		if len(f) < 9 || f[0] != "cpu" {
			return 0, 0, false
		}
		for i, v := range f[1:9] {
			n, _ := strconv.ParseInt(v, 10, 64)
			total += n
			if i == 7 {
				steal = n
			}
		}
		return steal, total, true
	}
	s0, t0, ok0 := read()
	return func() float64 {
		s1, t1, ok1 := read()
		if !ok0 || !ok1 || t1 == t0 {
			return -1
		}
		return 100 * float64(s1-s0) / float64(t1-t0)
	}
}

// cpuMeter returns a function that reads the CPU time used so far by the
// server pid leads and everything it starts: a cgroup v1 cpuacct group of
// its own, which counts children however they are reaped (fcgiwrap ignores
// SIGCHLD, so the kernel reaps its programs and no parent is charged their
// time). Without a writable cpuacct hierarchy (not root), it falls back to
// the process group with the children its members reaped, and says so.
func cpuMeter(tb testing.TB, name string, pid int) func() time.Duration {
	root := "/sys/fs/cgroup/cpuacct"
	dir := filepath.Join(root, fmt.Sprintf("gatewayd-bench-%d-%s", os.Getpid(), name))
	if err := os.Mkdir(dir, 0o755); err != nil {
		tb.Logf("no cpuacct cgroup (%v): the CPU time of %s is its process group's, without the programs nobody reaped", err, name)
		return func() time.Duration { return groupCPU(pid) }
	}
	tb.Cleanup(func() {
		// Back to the root group, so that the group can go.
		procs, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
		for _, p := range strings.Fields(string(procs)) {
			os.WriteFile(filepath.Join(root, "cgroup.procs"), []byte(p), 0o644)
		}
		os.Remove(dir)
	})
	for _, p := range groupPids(pid) {
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(p)), 0o644); err != nil {
			tb.Fatalf("cgroup %s: %v", dir, err)
		}
	}
	return func() time.Duration {
		b, _ := os.ReadFile(filepath.Join(dir, "cpuacct.usage"))
		ns, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		return time.Duration(ns)
	}
}

// groupPids lists the processes of the group pid leads.
func groupPids(pid int) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if _, pgrp, ok := procTimes(p); ok && pgrp == pid {
			pids = append(pids, p)
		}
	}
	return pids
}

// groupCPU is the CPU time of the processes of the group that pid leads,
// with that of the children they reaped.
func groupCPU(pid int) time.Duration {
	var sum time.Duration
	for _, p := range groupPids(pid) {
		t, _, _ := procTimes(p)
		sum += t[0] + t[1] + t[2] + t[3]
	}
	return sum
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
