package fastcgi

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"gatewayd/handler"
)

// body carries one request's STDIN (and a filter's DATA) from the
// connection's read loop to the program. FastCGI has no flow control: the
// only way to stop a web server sending is to stop reading the connection,
// which would stall every other request multiplexed on it and hide their
// ABORT_REQUESTs and the connection's close behind one program that does
// not read. So write waits for the reader only briefly: what the program
// has not read yet is held in memory up to memWindow bytes; when that is
// full, write waits up to patience for the program to make room — which a
// program that reads does at once, so that its web server is slowed, by
// TCP, to the program's pace — and past that the rest goes to an unlinked
// temporary file, much as nginx buffers a request body. The whole is
// bounded by the request's declared length and by max. Bytes past the
// declared length are dropped, as the program never reads them.
//
// Spilling costs: a 1 GiB upload through nginx spent half of gatewayd's
// CPU time writing the file when write never waited, the program reading
// all the while.
//
// The read loop writes and closes; the request's goroutines read. All
// fields are guarded by mu.
//
// A body piped into a program's stdin (PipeTo) skips most of that: while
// nothing waits in memory and the pipe has room, write puts the records'
// contents straight into the pipe from the read loop, which is then the
// only goroutine the upload wakes, and only what does not fit is kept for
// PipeTo's goroutine to write. The read loop hands over every record of
// the body it has read at once, in one writev: through nginx's 8 KiB
// records that took a 64 MiB upload from about 890 to about 1,110 MB/s
// and cut this process's CPU per MiB by a sixth (BenchmarkPipedUpload).
//
// Moving the records' contents from the socket into the pipe with
// splice(2) instead, reading each header alone, was built and measured,
// and lost. A C loop of that shape, over a socketpair and a blocking pipe,
// spent about 40 % less CPU per MiB than reading and writing. But in this
// package, with every record of BenchmarkPipedUpload spliced into the
// non-blocking pipe, the program's CPU per MiB rose from about 310 to
// 480 µs and the rate fell from about 1,050 to 780 MB/s; this process's
// CPU did not fall. Behind nginx the rates were no better.
type body struct {
	mu    sync.Mutex
	ready sync.Cond // signalled when data, an end or a reader close arrives

	mem  []byte // unread bytes in memory, mem[off:]; older than any in the file
	off  int
	file *os.File // unread bytes spilled, [fr, fw); nil until the first spill
	fr   int64
	fw   int64
	dir  string // where the file goes

	room    int64 // bytes still accepted: the declared length, or max
	max     int64 // bound on unread bytes, for a body of unknown length
	end     error // io.EOF or why the body ends, after its data
	dropped bool  // the reader has gone: writes are dropped

	writerWaits bool        // write waits for room in memory (waitRoom)
	wakeup      *time.Timer // waitRoom's, made at its first wait

	pipe    handler.Pipe // set by PipeTo: write tries it first
	piping  bool         // PipeTo writes bytes it took out of the body: write must not pass them
	pipeErr error        // the pipe failed: what comes is dropped
	piped   int64        // bytes written to the pipe, both ways
}

// memWindow bounds the unread bytes of one request kept in memory.
const memWindow = 256 << 10

// patience is the longest write waits for the reader to make room in
// memory before it spills to the file, holding up the connection's read
// loop meanwhile.
const patience = 100 * time.Millisecond

// errBodyOverLimit ends a body whose unread bytes pass Config.MaxBody.
var errBodyOverLimit = errors.New("fastcgi: request body waiting for its program over the limit")

// newBody returns a body that accepts length bytes, or up to max unread
// bytes when length is negative (unknown), spilling to files in dir.
func newBody(length, max int64, dir string) *body {
	b := &body{room: length, max: max, dir: dir}
	if length < 0 {
		b.room = -1
	}
	b.ready.L = &b.mu
	return b
}

// write queues the bytes of v, in order, for the reader, waiting at most
// patience for room in memory (see body); it returns an error only when
// the body could not be kept, which ends the body with that error. The
// read loop passes the contents of all the records of the body it holds
// at once, so that they go into the pipe in one write; write may reslice
// v's elements.
func (b *body) write(v ...[]byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.dropped || b.end != nil {
		return nil
	}
	size := 0
	for i, p := range v {
		if b.room >= 0 && int64(size+len(p)) >= b.room {
			v[i], v = p[:b.room-int64(size)], v[:i+1] // bytes past the declared length are dropped
			size = int(b.room)
			break
		}
		size += len(p)
	}
	if b.room >= 0 {
		b.room -= int64(size)
	}
	if b.pipeErr != nil {
		return nil // the program stopped reading: nothing can reach it
	}
	if b.pipe != nil && !b.piping && b.off == len(b.mem) && b.fw == b.fr && size > 0 {
		// Nothing is queued, so these bytes are next; TryWrite never waits,
		// and PipeTo, which would take mu to write, waits for data.
		n, err := b.pipe.TryWrite(v...)
		b.piped += int64(n)
		if err != nil {
			b.pipeErr = err
			b.ready.Broadcast()
			return nil
		}
		for len(v) > 0 && n >= len(v[0]) {
			n -= len(v[0])
			v = v[1:]
		}
		if len(v) > 0 {
			v[0] = v[0][n:]
		}
	}
	for _, p := range v {
		if err := b.queue(p); err != nil {
			return err
		}
	}
	return nil
}

// queue keeps p for the reader, in memory or in the file. b.mu is held.
func (b *body) queue(p []byte) error {
	if len(p) == 0 || b.dropped || b.end != nil || b.pipeErr != nil {
		return nil
	}
	unread := int64(len(b.mem)-b.off) + b.fw - b.fr
	if b.room < 0 && unread+int64(len(p)) > b.max {
		b.end = fmt.Errorf("%w of %d bytes", errBodyOverLimit, b.max)
		b.ready.Broadcast()
		return b.end
	}
	if b.fw == b.fr && len(b.mem)-b.off+len(p) > memWindow {
		b.waitRoom(len(p))
		if b.dropped || b.end != nil || b.pipeErr != nil {
			return nil
		}
	}
	if b.fw == b.fr && len(b.mem)-b.off+len(p) <= memWindow {
		if b.off > 0 && len(b.mem)+len(p) > memWindow {
			n := copy(b.mem, b.mem[b.off:]) // so that mem never outgrows the window
			b.mem, b.off = b.mem[:n], 0
		}
		b.mem = append(b.mem, p...)
		b.ready.Broadcast()
		return nil
	}
	if err := b.spill(p); err != nil {
		b.end = err
		b.ready.Broadcast()
		return err
	}
	b.ready.Broadcast()
	return nil
}

// waitRoom waits, for at most patience, until the memory window has room
// for n more bytes, or the body is released or ended. b.mu is held.
// A fast upload waits once a record, so the body keeps one timer for
// all its waits.
func (b *body) waitRoom(n int) {
	deadline := time.Now().Add(patience)
	if b.wakeup == nil {
		b.wakeup = time.AfterFunc(patience, b.wake)
	} else {
		b.wakeup.Reset(patience)
	}
	b.writerWaits = true
	for time.Now().Before(deadline) && !b.dropped && b.end == nil && b.pipeErr == nil && len(b.mem)-b.off+n > memWindow {
		b.ready.Wait()
	}
	b.writerWaits = false
	b.wakeup.Stop()
}

// wake ends waitRoom's wait at its deadline; one that comes late, for an
// earlier wait, only makes waitRoom look at the clock again.
func (b *body) wake() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.ready.Broadcast()
}

// spill appends p to the file, creating it on first use.
func (b *body) spill(p []byte) error {
	if b.file == nil {
		f, err := os.CreateTemp(b.dir, "gatewayd-fastcgi-body-")
		if err != nil {
			return fmt.Errorf("fastcgi: spool request body: %w", err)
		}
		// POSIX keeps an unlinked file readable through its descriptor, so
		// nothing is left behind whatever happens; Windows removes it on
		// close (release).
		os.Remove(f.Name())
		b.file = f
	}
	if _, err := b.file.WriteAt(p, b.fw); err != nil {
		return fmt.Errorf("fastcgi: spool request body: %w", err)
	}
	b.fw += int64(len(p))
	return nil
}

// close ends the body after its data: with io.EOF at the end of STDIN,
// with another error when the request or its connection is gone.
func (b *body) close(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.end == nil {
		b.end = err
	}
	b.ready.Broadcast()
}

// Read reads the body in order, waiting for data. After close it returns
// the rest and then the error close was given.
func (b *body) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.readLocked(p)
}

// PipeTo implements handler.PipeBody: it writes the body into w in order,
// write passing what it can straight in (see body), and returns at its
// end: with a nil error after close(io.EOF), else with what ended it.
func (b *body) PipeTo(w handler.Pipe) (int64, error) {
	bp := pipeBuffers.Get().(*[]byte)
	defer pipeBuffers.Put(bp)
	buf := *bp
	b.mu.Lock()
	defer b.mu.Unlock()
	b.pipe = w
	defer func() { b.pipe = nil }()
	for {
		if b.pipeErr != nil {
			return b.piped, b.pipeErr
		}
		n, err := b.readLocked(buf)
		if n > 0 {
			b.piping = true
			b.mu.Unlock()
			m, werr := w.Write(buf[:n])
			b.mu.Lock()
			b.piping = false
			b.piped += int64(m)
			if werr != nil {
				b.pipeErr = werr
				b.ready.Broadcast() // a write waiting for room drops its bytes now
				continue
			}
		}
		switch {
		case err == io.EOF:
			return b.piped, nil
		case err != nil:
			return b.piped, err
		}
	}
}

// pipeBuffers are PipeTo's, 64 KiB: a quarter of the bulk pipe.
var pipeBuffers = sync.Pool{New: func() any { b := make([]byte, 64<<10); return &b }}

// readLocked is Read with b.mu held, which it releases while it reads the
// file.
func (b *body) readLocked(p []byte) (int, error) {
	for {
		if b.dropped {
			return 0, errRequestDone
		}
		if b.off < len(b.mem) {
			n := copy(p, b.mem[b.off:])
			b.off += n
			if b.off == len(b.mem) {
				b.mem, b.off = b.mem[:0], 0
			}
			if b.writerWaits {
				b.ready.Broadcast() // there is room now
			}
			return n, nil
		}
		if b.fr < b.fw {
			// The region [fr, fw) is the reader's: write only appends past
			// fw, so the file is read without holding the lock.
			f, at, n := b.file, b.fr, min(int64(len(p)), b.fw-b.fr)
			b.mu.Unlock()
			got, err := f.ReadAt(p[:n], at)
			b.mu.Lock()
			b.fr += int64(got)
			if b.fr == b.fw {
				b.fr, b.fw = 0, 0 // drained: the file is reused from its start
			}
			if got == 0 && err != nil {
				return 0, fmt.Errorf("fastcgi: read spooled request body: %w", err)
			}
			return got, nil
		}
		if b.end != nil {
			return 0, b.end
		}
		if b.pipeErr != nil {
			return 0, b.pipeErr
		}
		b.ready.Wait()
	}
}

// release is called once the request no longer reads: later writes are
// dropped, a blocked Read returns, and the file goes.
func (b *body) release() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.dropped = true
	if b.wakeup != nil {
		b.wakeup.Stop()
	}
	b.mem, b.off = nil, 0
	if b.file != nil {
		b.file.Close()
		os.Remove(b.file.Name()) // Windows: not removed while it was open
		b.file = nil
	}
	b.fr, b.fw = 0, 0
	b.ready.Broadcast()
}

var _ handler.PipeBody = (*body)(nil)
