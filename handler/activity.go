package handler

import (
	"io"
	"sync/atomic"
	"time"
)

// activity records when body or output bytes last moved, for the idle
// timeout. Readers on any goroutine touch it; one timer checks it.
type activity struct {
	last atomic.Int64 // UnixNano of the last I/O
}

func (a *activity) touch() { a.last.Store(time.Now().UnixNano()) }

// watch calls expire once no I/O has happened for d. Stop the returned
// timer when the request ends.
func (a *activity) watch(d time.Duration, expire func()) *time.Timer {
	a.touch()
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		idle := time.Since(time.Unix(0, a.last.Load()))
		if idle >= d {
			expire()
			return
		}
		t.Reset(d - idle)
	})
	return t
}

// reader returns r, touching a on every read that moves bytes.
func (a *activity) reader(r io.Reader) io.Reader { return &activeReader{r: r, a: a} }

type activeReader struct {
	r io.Reader
	a *activity
}

func (r *activeReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		r.a.touch()
	}
	return n, err
}
