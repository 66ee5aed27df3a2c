//go:build linux

package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkBodies moves one large body each way — an upload to a C
// program that drains its stdin, a download from one that writes its
// body — through every way in: nginx → gatewayd over FastCGI with request
// and response buffering on and off, over SCGI (request buffered: nginx
// cannot do otherwise), gatewayd serve --http
// directly, nginx → fcgiwrap -c 2 (buffering off), and a plain pipe into
// and out of the same programs. It prints MiB/s and gatewayd's peak RSS
// for each, the medians of interleaved rounds:
//
//	make bench   (or: go test -run '^$' -bench Bodies -benchtime 1x ./integration)
//
// GATEWAYD_BENCH_BODY_MIB sets the size (default 256), GATEWAYD_BENCH_ROUNDS
// the rounds (default 3).
func BenchmarkBodies(b *testing.B) {
	curl := requirePeer(b, "curl")
	fcgiwrap := requirePeer(b, "fcgiwrap", "/usr/sbin/fcgiwrap")
	gcc := requirePeer(b, "gcc")
	mib := 256
	if n, err := strconv.Atoi(os.Getenv("GATEWAYD_BENCH_BODY_MIB")); err == nil && n > 0 {
		mib = n
	}
	rounds := benchRounds()

	dir := b.TempDir()
	bin := filepath.Join(dir, "cgi-bin")
	os.MkdirAll(bin, 0o755)
	for _, prog := range []string{"drain", "gen"} {
		src, _ := filepath.Abs(filepath.Join("testdata", "bench", prog+".c"))
		if out, err := exec.Command(gcc, "-O2", "-o", filepath.Join(bin, prog+".cgi"), src).CombinedOutput(); err != nil {
			b.Fatalf("gcc %s: %v\n%s", prog, err, out)
		}
	}
	body := filepath.Join(dir, "body")
	if err := os.WriteFile(body, make([]byte, mib<<20), 0o644); err != nil {
		b.Fatal(err)
	}

	sock := func(name string) string { return filepath.Join(dir, name+".sock") }
	httpAddr := fmt.Sprintf("127.0.0.1:%d", freePort(b))
	gw := startProcess(b, "gatewayd", exec.Command(gatewayd, "serve", "--log-level", "warn", "--root", bin,
		"--fastcgi", "unix:"+sock("fastcgi"), "--scgi", "unix:"+sock("scgi"), "--http", httpAddr,
		"--max-body", strconv.Itoa(2*mib<<20)))
	waitPort(b, "tcp", httpAddr, gw)
	fw := startProcess(b, "fcgiwrap", exec.Command(fcgiwrap, "-c", "2", "-s", "unix:"+sock("fcgiwrap")))
	waitPort(b, "unix", sock("fcgiwrap"), fw)
	os.Chmod(sock("fcgiwrap"), 0o666)

	loc := func(prefix, pass, params string, extra ...string) string {
		return fmt.Sprintf("location ~ ^/%s/(.*)$ {\n\tinclude /etc/nginx/%s;\n\t%s_param SCRIPT_FILENAME %s/$1;\n\t%s\n\t%s_pass unix:%s;\n}\n",
			prefix, params, pass, bin, strings.Join(extra, "\n\t"), pass, sock(map[string]string{
				"fcgi": "fastcgi", "fcgi-nobuf": "fastcgi", "scgi": "scgi", "fcgiwrap": "fcgiwrap"}[prefix]))
	}
	off := []string{"fastcgi_request_buffering off;", "fastcgi_buffering off;"}
	port, _ := startNginx(b, "", loc("fcgi", "fastcgi", "fastcgi_params")+
		loc("fcgi-nobuf", "fastcgi", "fastcgi_params", off...)+
		// scgi_request_buffering off makes nginx send CONTENT_LENGTH 0
		// with the body after it (configs/nginx/scgi.conf).
		loc("scgi", "scgi", "scgi_params", "scgi_buffering off;")+
		loc("fcgiwrap", "fastcgi", "fastcgi_params", off...))
	nginx := fmt.Sprintf("http://127.0.0.1:%d", port)

	type row struct {
		name string
		base string // URL of the cgi-bin; "" for the plain pipe
		rss  bool   // gatewayd's peak RSS is its
	}
	rows := []row{
		{"nginx → gatewayd fastcgi, buffered", nginx + "/fcgi", true},
		{"nginx → gatewayd fastcgi, unbuffered", nginx + "/fcgi-nobuf", true},
		{"nginx → gatewayd scgi, request buffered", nginx + "/scgi", true},
		{"gatewayd serve --http", "http://" + httpAddr, true},
		{"nginx → fcgiwrap -c2, unbuffered", nginx + "/fcgiwrap", false},
		{"plain pipe", "", false},
	}
	type result struct{ up, down, rss float64 }
	results := map[string][]result{}
	pid := gw.cmd.Process.Pid
	failed := false
	steal := stealMeter()
	for round := range rounds {
		for _, r := range rows {
			failed = !b.Run(fmt.Sprintf("%s/round-%d", strings.ReplaceAll(r.name, " ", "_"), round+1), func(b *testing.B) {
				var res result
				for range b.N {
					os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0) // resets the peak RSS
					if r.base == "" {
						res.up = pipeRate(b, "cat "+body+" | "+filepath.Join(bin, "drain.cgi")+" >/dev/null", mib)
						res.down = pipeRate(b, "QUERY_STRING="+strconv.Itoa(mib)+" "+filepath.Join(bin, "gen.cgi")+" | cat >/dev/null", mib)
					} else {
						res.up = curlRate(b, curl, "upload", mib, "--data-binary", "@"+body, "-H", "Content-Type: application/octet-stream", r.base+"/drain.cgi")
						res.down = curlRate(b, curl, "download", mib, r.base+"/gen.cgi?"+strconv.Itoa(mib))
					}
					if r.rss {
						res.rss = peakRSS(pid)
					}
				}
				results[r.name] = append(results[r.name], res)
				b.ReportMetric(res.up, "up-MiB/s")
				b.ReportMetric(res.down, "down-MiB/s")
				b.ReportMetric(0, "ns/op")
			}) || failed
		}
	}
	median := func(rs []result, f func(result) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	med := map[string]result{}
	for name, rs := range results {
		med[name] = result{median(rs, func(r result) float64 { return r.up }), median(rs, func(r result) float64 { return r.down }),
			median(rs, func(r result) float64 { return r.rss })}
	}
	var t strings.Builder
	fmt.Fprintf(&t, "\n%d MiB each way, medians of %d interleaved rounds; the hypervisor stole %.1f%% of the CPU time meanwhile\n", mib, rounds, steal())
	fmt.Fprintf(&t, "%-38s %12s %12s %14s\n", "", "upload MiB/s", "download", "gatewayd peak")
	for _, r := range rows {
		m := med[r.name]
		rss := "-"
		if r.rss {
			rss = fmt.Sprintf("%.1f MiB", m.rss)
		}
		fmt.Fprintf(&t, "%-38s %12.0f %12.0f %14s\n", r.name, m.up, m.down, rss)
	}
	fw2, pipe, direct := med["nginx → fcgiwrap -c2, unbuffered"], med["plain pipe"], med["gatewayd serve --http"]
	nobuf := med["nginx → gatewayd fastcgi, unbuffered"]
	fmt.Fprintf(&t, "gatewayd / fcgiwrap -c2 (fastcgi, unbuffered): upload %.2f×, download %.2f× (goal ≥ 1.2×)\n",
		nobuf.up/fw2.up, nobuf.down/fw2.down)
	fmt.Fprintf(&t, "gatewayd serve --http / plain pipe: upload %.0f%%, download %.0f%% (goal ≥ 70%%)\n",
		100*direct.up/pipe.up, 100*direct.down/pipe.down)
	fmt.Print(t.String()) // the table is the point: shown without -v
	if failed {
		b.Fatal("some loads failed: see above")
	}
}

// curlRate runs curl with args and returns its upload or download speed in
// MiB/s, checking that the whole body went through.
func curlRate(tb testing.TB, curl, dir string, mib int, args ...string) float64 {
	tb.Helper()
	speed := "%{speed_" + dir + "} %{http_code} %{size_" + dir + "}"
	out, err := exec.Command(curl, append([]string{"-sS", "-o", "/dev/null", "-w", speed}, args...)...).Output()
	if err != nil {
		tb.Fatalf("curl %v: %v", args, err)
	}
	f := strings.Fields(string(out))
	if len(f) != 3 || f[1] != "200" {
		tb.Fatalf("curl %v: %q", args, out)
	}
	size, _ := strconv.ParseInt(f[2], 10, 64)
	if size < int64(mib)<<20 {
		tb.Fatalf("curl %v: %d bytes moved, want %d", args, size, int64(mib)<<20)
	}
	rate, _ := strconv.ParseFloat(f[0], 64)
	return rate / (1 << 20)
}

// pipeRate times a shell pipeline that moves mib MiB and returns MiB/s.
func pipeRate(tb testing.TB, pipeline string, mib int) float64 {
	tb.Helper()
	begin := time.Now()
	if out, err := exec.Command("sh", "-c", pipeline).CombinedOutput(); err != nil {
		tb.Fatalf("%s: %v\n%s", pipeline, err, out)
	}
	return float64(mib) / time.Since(begin).Seconds()
}

// peakRSS is the process's peak resident set size (VmHWM) in MiB.
func peakRSS(pid int) float64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}
