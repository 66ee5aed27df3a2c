package main

import (
	"os/exec"
	"regexp"
	"strconv"
	"testing"
)

// TestProgramSignalsReset: a program starts with every standard signal at
// its default and none blocked, even when gatewayd itself was started with
// signals ignored, as systemd leaves SIGPIPE (IgnoreSIGPIPE=yes) and nohup
// SIGHUP. An ignored SIGPIPE would keep a program writing into a closed
// pipe; an ignored SIGTERM would let it outlive the grace until SIGKILL.
// Signals 32 and up are left out: they are the real-time ones, of which
// the C library reserves the first for itself.
func TestProgramSignalsReset(t *testing.T) {
	root := t.TempDir()
	// grep reads its own state, which exec carries over from the shell's:
	// a child of the shell would race with its vfork, around which dash
	// blocks every signal for a moment.
	writeScript(t, root, "sigs.sh", `printf 'Content-Type: text/plain\r\n\r\n'
exec grep -E '^Sig(Blk|Ign):' /proc/self/status
`)
	// sh's trap "" sets SIG_IGN, which exec keeps.
	cmd := exec.Command("/bin/sh", "-c", `trap "" HUP INT PIPE USR1 USR2; exec "$0" serve --http 127.0.0.1:0 --root "$1"`, binary, root)
	d := start(t, cmd)
	_, body := get(t, d.url+"/sigs.sh")
	const standard = 1<<31 - 1 // signals 1 to 31, bit n-1 for signal n
	for _, field := range []string{"SigBlk", "SigIgn"} {
		m := regexp.MustCompile(`(?m)^` + field + `:\s*([0-9a-f]+)$`).FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("the program printed no %s:\n%s", field, body)
		}
		mask, err := strconv.ParseUint(m[1], 16, 64)
		if err != nil {
			t.Fatal(err)
		}
		if set := mask & standard; set != 0 {
			t.Errorf("the program's %s has standard signals %#x set, want none:\n%s", field, set, body)
		}
	}
}
