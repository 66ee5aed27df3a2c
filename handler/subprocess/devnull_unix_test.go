//go:build unix

package subprocess

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gatewayd/environ"
	"gatewayd/handler"
)

// A Runner that could not open /dev/null when it was made still gives a
// child without a body /dev/null as stdin, never a closed fd 0.
func TestStdinWithoutSharedDevNull(t *testing.T) {
	prog := filepath.Join(t.TempDir(), "stdin.cgi")
	script := "#!/bin/sh\nprintf 'Content-Type: text/plain\\r\\n\\r\\n'\ncat && echo open\n"
	if err := os.WriteFile(prog, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	r := New(Config{})
	defer r.Close()
	r.devNull.Close()
	r.devNull = nil
	run, err := r.Start(context.Background(), &handler.Call{Program: prog, Env: environ.Environ{"PATH": "/usr/bin:/bin"}})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(run)
	ex := run.Wait()
	if _, body, _ := strings.Cut(string(out), "\r\n\r\n"); body != "open\n" || ex.Code != 0 {
		t.Errorf("output %q, exit %+v; want the body \"open\\n\" and exit 0", out, ex)
	}
}
