//go:build unix

package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// A descriptor left open without close-on-exec by whatever started
// gatewayd (here a pipe, as a shell leaves them) reaches no program.
func TestInheritedDescriptorsStayOut(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(w.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	inherited := fmt.Sprintf("pipe:[%d]", st.Ino)

	root := t.TempDir()
	writeScript(t, root, "fds.sh", `printf 'Content-Type: text/plain\r\n\r\n'
for f in /proc/$$/fd/* /dev/fd/*; do readlink "$f"; done
`)
	cmd := exec.Command(binary, "serve", "--http", "127.0.0.1:0", "--root", root)
	cmd.ExtraFiles = []*os.File{w} // fd 3 in gatewayd, without close-on-exec
	d := start(t, cmd)
	_, body := get(t, d.url+"/fds.sh")
	if !strings.Contains(body, "pipe:[") {
		t.Fatalf("the program listed no pipe among its descriptors, not even its stdout:\n%s", body)
	}
	if strings.Contains(body, inherited) {
		t.Errorf("the program got gatewayd's inherited %s:\n%s", inherited, body)
	}
}

// Where close_range cannot, the descriptors the system lists get the flag.
func TestMarkListed(t *testing.T) {
	var p [2]int
	if err := syscall.Pipe(p[:]); err != nil { // without close-on-exec
		t.Fatal(err)
	}
	defer syscall.Close(p[0])
	defer syscall.Close(p[1])
	markListed()
	for _, fd := range p {
		flags, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_GETFD, 0)
		if errno != 0 || flags&syscall.FD_CLOEXEC == 0 {
			t.Errorf("fd %d: flags %#x (%v), want FD_CLOEXEC", fd, flags, errno)
		}
	}
}
