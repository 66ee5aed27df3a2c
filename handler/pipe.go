package handler

import "io"

// A Pipe is the write end of a program's stdin, as an App hands it to a
// PipeBody.
type Pipe interface {
	// Write writes all of p, waiting for room as long as it takes.
	Write(p []byte) (int, error)
	// TryWrite writes what fits now of the bytes of v, taken in order as
	// one stream, without waiting, and returns how many it wrote: 0 and
	// nil when nothing fits. It may write less than would fit, e.g. only
	// so many of v's slices at a time. It does not modify v.
	TryWrite(v ...[]byte) (int, error)
}

// A PipeBody is a request body that can write itself into a program's
// stdin instead of being read. A front-end whose connection is read by a
// goroutine of its own (FastCGI's read loop) implements it: while the
// program keeps up, that goroutine writes each piece straight into the
// pipe with TryWrite, and the goroutine in PipeTo only writes what did not
// fit. Read would hand every piece from one goroutine to the other, a
// context switch or two and a copy each time.
//
// The App's Call.Body implements PipeBody when the front-end's body does
// and the pipeline streams it; the pipeline's bounds (CONTENT_LENGTH, the
// idle timeout's view of activity) hold either way.
type PipeBody interface {
	io.Reader
	// PipeTo writes the body to p in order and returns once it has all
	// been written (nil error) or the body ended otherwise. A body is
	// either read or piped, never both.
	PipeTo(p Pipe) (int64, error)
}

// pipedBody is the pipeline's wrapper of a front-end's PipeBody: Read as
// the plain wrapper reads, and PipeTo with the same bounds and activity.
type pipedBody struct {
	io.Reader          // what Read would read: the bounded, active reader
	body      PipeBody // the front-end's
	limit     int64    // bytes passed on; -1: all
	a         *activity
}

// pipedReader returns the reader of body the program is given: the
// active reader of body bounded by limit bytes (-1: unbounded), which
// also implements PipeBody when body does.
func (a *activity) pipedReader(body io.Reader, limit int64) io.Reader {
	r := body
	if limit >= 0 {
		r = io.LimitReader(body, limit)
	}
	r = a.reader(r)
	if pb, ok := body.(PipeBody); ok {
		return &pipedBody{Reader: r, body: pb, limit: limit, a: a}
	}
	return r
}

func (b *pipedBody) PipeTo(p Pipe) (int64, error) {
	return b.body.PipeTo(&boundPipe{p: p, left: b.limit, a: b.a})
}

// boundPipe passes on at most left bytes (all when left is negative),
// dropping the rest as a reader bounded by CONTENT_LENGTH would never
// read it, and touches the activity for every byte written.
type boundPipe struct {
	p    Pipe
	left int64
	a    *activity
	cut  [][]byte // TryWrite's copy of a v that goes past left
}

func (b *boundPipe) Write(p []byte) (int, error) {
	q := b.bound(p)
	n, err := b.p.Write(q)
	return b.wrote(len(p), len(q), n), err
}

func (b *boundPipe) TryWrite(v ...[]byte) (int, error) {
	size := 0
	for _, p := range v {
		size += len(p)
	}
	passed := size
	if b.left >= 0 && int64(size) > b.left {
		// Only the first left bytes are passed on: v up to the slice
		// they end in, itself cut there.
		b.cut, passed = b.cut[:0], int(b.left)
		for rest := passed; rest > 0; {
			p := v[len(b.cut)]
			p = p[:min(len(p), rest)]
			b.cut = append(b.cut, p)
			rest -= len(p)
		}
		v = b.cut
	}
	n, err := b.p.TryWrite(v...)
	return b.wrote(size, passed, n), err
}

// bound is the part of p still to be passed on.
func (b *boundPipe) bound(p []byte) []byte {
	if b.left >= 0 && int64(len(p)) > b.left {
		return p[:b.left]
	}
	return p
}

// wrote accounts for n of the passed bytes of a write of size bytes, and
// returns how many of them count as written: the dropped rest counts once
// everything passed on is.
func (b *boundPipe) wrote(size, passed, n int) int {
	if n > 0 {
		b.a.touch()
	}
	if b.left >= 0 {
		b.left -= int64(n)
	}
	if n == passed {
		return size
	}
	return n
}
