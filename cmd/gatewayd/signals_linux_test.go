package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestProgramSignalsReset: a program starts with every signal at its
// default and none blocked, even when gatewayd itself was started with
// signals ignored, as systemd leaves SIGPIPE (IgnoreSIGPIPE=yes) and nohup
// SIGHUP. An ignored SIGPIPE would keep a program writing into a closed
// pipe; an ignored SIGTERM would let it outlive the grace until SIGKILL.
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
	for _, want := range []string{"SigBlk:\t0000000000000000", "SigIgn:\t0000000000000000"} {
		if !strings.Contains(body, want) {
			t.Errorf("the program's signal state is not the default, want %q:\n%s", want, body)
		}
	}
}
