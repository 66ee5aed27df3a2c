//go:build unix

package subprocess

import (
	"bytes"
	"io"
	"testing"
)

// TestTryWriteSlices: TryWrite writes a prefix of the slices it is
// offered, in order, skipping empty ones; it fills the pipe without
// waiting, and takes nothing more once the pipe is full.
func TestTryWriteSlices(t *testing.T) {
	parent, child, err := childPipe(true, false)
	if err != nil {
		t.Fatal(err)
	}
	defer child.Close()
	p := newFilePipe(parent)
	var v [][]byte
	var want []byte
	for i := range 3 * 32 {
		b := bytes.Repeat([]byte{byte('a' + i%26)}, 1+i%5)
		if i%7 == 0 {
			b = nil
		}
		v = append(v, b)
		want = append(want, b...)
	}
	read := make(chan []byte)
	go func() {
		defer parent.Close()
		for rest := v; len(rest) > 0; {
			n, err := p.TryWrite(rest...)
			if err != nil {
				t.Error(err)
				return
			}
			for len(rest) > 0 && n >= len(rest[0]) {
				n -= len(rest[0])
				rest = rest[1:]
			}
			if len(rest) > 0 {
				rest[0] = rest[0][n:]
			}
		}
	}()
	go func() {
		b, _ := io.ReadAll(child)
		read <- b
	}()
	if got := <-read; !bytes.Equal(got, want) {
		t.Errorf("the child read %q, want %q", got, want)
	}

	// A full pipe takes nothing, and says so without an error.
	full, fullChild, err := childPipe(true, false)
	if err != nil {
		t.Fatal(err)
	}
	defer full.Close()
	defer fullChild.Close()
	fp := newFilePipe(full)
	big := make([]byte, 64<<10)
	for {
		n, err := fp.TryWrite(big, big)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
}
