package fastcgi

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
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
