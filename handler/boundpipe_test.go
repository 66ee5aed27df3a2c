package handler

import (
	"bytes"
	"strings"
	"testing"
)

// roomPipe takes room bytes without waiting, and records the slices it
// is offered.
type roomPipe struct {
	got   bytes.Buffer
	room  int
	calls [][]string
}

func (p *roomPipe) Write(b []byte) (int, error) { return p.got.Write(b) }

func (p *roomPipe) TryWrite(v ...[]byte) (int, error) {
	var offered []string
	n := 0
	for _, b := range v {
		offered = append(offered, string(b))
		m, _ := p.got.Write(b[:min(len(b), p.room-n)])
		n += m
	}
	p.calls = append(p.calls, offered)
	return n, nil
}

// TestBoundPipeSlices: a program offered several records at once still
// gets no byte past CONTENT_LENGTH, the caller's slices stay as they were,
// and a short write is reported as such, the dropped rest counting only
// once everything before it is written.
func TestBoundPipeSlices(t *testing.T) {
	for _, tc := range []struct {
		name    string
		left    int64
		room    int
		offered string // the slices the pipe is offered, "|" between them
		got     string
		n       int
	}{
		{"within the bound", 20, 100, "hello|, |world!!", "hello, world!!", 14},
		{"cut in a slice", 8, 100, "hello|, |w", "hello, w", 14},
		{"cut at a slice's end", 5, 100, "hello", "hello", 14},
		{"short write before the cut", 8, 6, "hello|, |w", "hello,", 6},
		{"unbounded", -1, 100, "hello|, |world!!", "hello, world!!", 14},
		{"nothing left", 0, 100, "", "", 14},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pipe := &roomPipe{room: tc.room}
			b := &boundPipe{p: pipe, left: tc.left, a: &activity{}}
			v := [][]byte{[]byte("hello"), []byte(", "), []byte("world!!")}
			n, err := b.TryWrite(v...)
			if err != nil || n != tc.n {
				t.Errorf("TryWrite = %d, %v; want %d, nil", n, err, tc.n)
			}
			if pipe.got.String() != tc.got {
				t.Errorf("the program got %q, want %q", pipe.got.String(), tc.got)
			}
			if offered := strings.Join(pipe.calls[0], "|"); offered != tc.offered {
				t.Errorf("the pipe was offered %q, want %q", offered, tc.offered)
			}
			if string(bytes.Join(v, nil)) != "hello, world!!" {
				t.Errorf("the caller's slices became %q", v)
			}
		})
	}
}
