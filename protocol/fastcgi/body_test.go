package fastcgi

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"syscall"
	"testing"
	"testing/iotest"
	"time"
)

// TestBodyOrder: whatever the reader's pace, the body arrives in order,
// memory holds at most memWindow bytes, and the rest waits in a file.
func TestBodyOrder(t *testing.T) {
	src := make([]byte, 3<<20)
	for i := range src {
		src[i] = byte(rand.IntN(256))
	}
	for _, tt := range []struct {
		name   string
		length int64
		pause  int // the reader waits for this many writes between reads
	}{
		{"reader keeps up", int64(len(src)), 0},
		{"reader lags", int64(len(src)), 8},
		{"reader starts after the end", int64(len(src)), 1 << 30},
		{"unknown length", -1, 8},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := newBody(tt.length, 1<<30, t.TempDir())
			wrote := make(chan struct{}, 1<<20)
			go func() {
				for p := src; len(p) > 0; {
					n := min(len(p), 1+rand.IntN(maxContent))
					if err := b.write(p[:n]); err != nil {
						t.Errorf("write: %v", err)
					}
					b.mu.Lock()
					if len(b.mem) > memWindow {
						t.Errorf("%d bytes in memory, over the window of %d", len(b.mem), memWindow)
					}
					b.mu.Unlock()
					p = p[n:]
					wrote <- struct{}{}
				}
				b.close(io.EOF)
				close(wrote)
			}()
			var got bytes.Buffer
			buf := make([]byte, 40<<10)
			for {
				for range tt.pause {
					if _, ok := <-wrote; !ok {
						break
					}
				}
				n, err := b.Read(buf)
				got.Write(buf[:n])
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("Read: %v", err)
				}
			}
			if !bytes.Equal(got.Bytes(), src) {
				t.Errorf("read %d bytes, not the %d written in order", got.Len(), len(src))
			}
			b.release()
		})
	}
}

// TestBodyBounds: bytes past the declared length are dropped; a body of
// unknown length over max ends with an error after the bytes it kept.
func TestBodyBounds(t *testing.T) {
	b := newBody(5, 100, t.TempDir())
	b.write([]byte("abc"))
	b.write([]byte("defgh"))
	b.close(io.EOF)
	if got, err := io.ReadAll(b); string(got) != "abcde" || err != nil {
		t.Errorf("declared 5: ReadAll = %q, %v; want \"abcde\"", got, err)
	}

	b = newBody(7, 100, t.TempDir())
	b.write([]byte("ab"), []byte("cde"), []byte("fgh"), []byte("ij"))
	b.close(io.EOF)
	if got, err := io.ReadAll(b); string(got) != "abcdefg" || err != nil {
		t.Errorf("declared 7, records given at once: ReadAll = %q, %v; want \"abcdefg\"", got, err)
	}

	b = newBody(-1, 4, t.TempDir())
	b.write([]byte("abc"))
	if err := b.write([]byte("de")); !errors.Is(err, errBodyOverLimit) {
		t.Errorf("unknown length over max: write = %v, want errBodyOverLimit", err)
	}
	if got, err := io.ReadAll(b); string(got) != "abc" || !errors.Is(err, errBodyOverLimit) {
		t.Errorf("unknown length over max: ReadAll = %q, %v; want \"abc\" and errBodyOverLimit", got, err)
	}
}

// TestBodyRelease: a reader waiting on a body returns once the request no
// longer reads, and later writes are dropped.
func TestBodyRelease(t *testing.T) {
	b := newBody(-1, 1<<20, t.TempDir())
	done := make(chan error)
	go func() {
		_, err := b.Read(make([]byte, 10))
		done <- err
	}()
	b.release()
	if err := <-done; !errors.Is(err, errRequestDone) {
		t.Errorf("Read after release = %v, want errRequestDone", err)
	}
	if err := b.write([]byte("x")); err != nil {
		t.Errorf("write after release = %v, want nil (dropped)", err)
	}
	if err := iotest.TestReader(newFilledBody(t, "hello, world"), []byte("hello, world")); err != nil {
		t.Error(err)
	}
}

func newFilledBody(t *testing.T, s string) *body {
	b := newBody(int64(len(s)), 1<<20, t.TempDir())
	b.write([]byte(s))
	b.close(io.EOF)
	return b
}

// TestBodyWaitsForReader: while the program reads, the body stays in
// memory however long it is, the read loop held up instead, so TCP slows
// the web server; a program that stops reading holds the read loop up
// for patience at most, and then the body goes to the file.
func TestBodyWaitsForReader(t *testing.T) {
	b := newBody(-1, 1<<30, t.TempDir())
	done := make(chan struct{})
	var read int
	go func() {
		defer close(done)
		buf := make([]byte, 64<<10)
		for {
			n, err := b.Read(buf)
			read += n
			if err != nil {
				return
			}
			time.Sleep(time.Millisecond) // slower than the writer, never stopped
		}
	}()
	p := make([]byte, maxContent)
	for range 64 { // 4 MiB, sixteen windows
		if err := b.write(p); err != nil {
			t.Fatal(err)
		}
	}
	b.close(io.EOF)
	<-done
	b.mu.Lock()
	spilled := b.file != nil
	b.mu.Unlock()
	if read != 64*maxContent || spilled {
		t.Errorf("read %d bytes, spilled %v; want all in order and none in a file", read, spilled)
	}
	b.release()

	b = newBody(-1, 1<<30, t.TempDir())
	defer b.release()
	start := time.Now()
	for range memWindow/maxContent + 2 {
		b.write(p)
	}
	b.mu.Lock()
	spilled = b.file != nil
	b.mu.Unlock()
	if took := time.Since(start); !spilled || took < patience || took > 20*patience {
		t.Errorf("with nobody reading: spilled %v after %v; want the file after about %v", spilled, took, patience)
	}
}

// slowPipe is a handler.Pipe whose TryWrite takes at most room bytes at a
// time, and neither it nor Write any while full is set.
type slowPipe struct {
	mu    sync.Mutex
	roomy sync.Cond // signalled when full is cleared
	got   bytes.Buffer
	room  int
	full  bool
	tries int // TryWrites that passed bytes
	err   error
}

func (p *slowPipe) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.full && p.err == nil {
		p.roomy.Wait()
	}
	if p.err != nil {
		return 0, p.err
	}
	return p.got.Write(b)
}

func (p *slowPipe) TryWrite(v ...[]byte) (int, error) {
	b := bytes.Join(v, nil)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return 0, p.err
	}
	if p.full {
		return 0, nil
	}
	n := min(len(b), p.room)
	if n > 0 {
		p.tries++
	}
	return p.got.Write(b[:n])
}

func (p *slowPipe) set(full bool) {
	p.mu.Lock()
	p.full = full
	p.roomy.Broadcast()
	p.mu.Unlock()
}

// TestBodyPipeTo: a piped body reaches the pipe whole and in order, the
// read loop passing what fits straight in and the rest going through
// memory and the file, whichever way the pipe keeps up; PipeTo returns at
// the end.
func TestBodyPipeTo(t *testing.T) {
	src := make([]byte, 2<<20)
	for i := range src {
		src[i] = byte(rand.IntN(256))
	}
	b := newBody(int64(len(src)), 1<<30, t.TempDir())
	defer b.release()
	pipe := &slowPipe{room: 5000}
	pipe.roomy.L = &pipe.mu
	done := make(chan error, 1)
	go func() {
		n, err := b.PipeTo(pipe)
		if n != int64(len(src)) {
			err = fmt.Errorf("PipeTo wrote %d bytes, want %d (%v)", n, len(src), err)
		}
		done <- err
	}()
	for { // until PipeTo waits for data
		b.mu.Lock()
		ready := b.pipe != nil
		b.mu.Unlock()
		if ready {
			break
		}
		time.Sleep(time.Millisecond)
	}
	for i, p := 0, src; len(p) > 0; i++ {
		// The pipe is full for 20 writes in 40: more than the memory
		// window, so that the body goes to the file for a while. A write
		// holds one to four records, as the read loop passes them on.
		pipe.set(i%40 >= 20)
		var v [][]byte
		for range 1 + rand.IntN(4) {
			n := min(len(p), 1+rand.IntN(maxContent/2))
			v, p = append(v, p[:n]), p[n:]
		}
		if err := b.write(v...); err != nil {
			t.Fatal(err)
		}
	}
	pipe.set(false)
	b.close(io.EOF)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pipe.got.Bytes(), src) {
		t.Errorf("the pipe got %d bytes, not the %d written in order", pipe.got.Len(), len(src))
	}
	b.mu.Lock()
	spilled := b.file != nil
	b.mu.Unlock()
	if pipe.tries == 0 || !spilled {
		t.Errorf("%d writes went straight into the pipe, spilled %v; want both ways taken", pipe.tries, spilled)
	}
}

// TestBodyPipeBroken: once the pipe fails (the program exited without
// reading), PipeTo returns its error and what comes is dropped at once,
// neither kept nor waited for.
func TestBodyPipeBroken(t *testing.T) {
	b := newBody(-1, 1<<30, t.TempDir())
	defer b.release()
	pipe := &slowPipe{err: syscall.EPIPE}
	pipe.roomy.L = &pipe.mu
	done := make(chan error, 1)
	go func() {
		_, err := b.PipeTo(pipe)
		done <- err
	}()
	b.write([]byte("first"))
	if err := <-done; !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("PipeTo = %v, want EPIPE", err)
	}
	start := time.Now()
	p := make([]byte, maxContent)
	for range 2 * memWindow / maxContent {
		b.write(p)
	}
	b.mu.Lock()
	kept, spilled := len(b.mem)-b.off, b.file != nil
	b.mu.Unlock()
	if kept != 0 || spilled || time.Since(start) > patience {
		t.Errorf("after the pipe broke: %d bytes kept, spilled %v, writes took %v; want all dropped at once",
			kept, spilled, time.Since(start))
	}
}
