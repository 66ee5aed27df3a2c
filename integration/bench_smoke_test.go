//go:build linux

package integration

import (
	"os"
	"os/exec"
	"testing"
)

// TestBenchmarksRun runs the exec-mode and body benchmarks at their
// smallest (one round, one second a load, 8 MiB bodies) in this test
// binary, as make bench runs them, so that they keep working: their
// figures are not looked at here, only that every load ran and every
// response was whole.
func TestBenchmarksRun(t *testing.T) {
	if testing.Short() {
		t.Skip("the benchmarks take half a minute")
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^$", "-test.bench", "^Benchmark(NginxFastCGI|Bodies)$", "-test.benchtime", "1x")
	cmd.Env = append(os.Environ(), "GATEWAYD_BENCH_SECONDS=1", "GATEWAYD_BENCH_ROUNDS=1", "GATEWAYD_BENCH_BODY_MIB=8")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("the benchmarks failed (%v):\n%s", err, out)
	}
}
