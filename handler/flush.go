package handler

import (
	"sync"
	"time"
)

// flushDelay is how long a program's output may pause before what it wrote
// is flushed to the client. Output that ends within it reaches the
// front-end unflushed, so the HTTP front-end can still give a small
// response a Content-Length; a program that streams slowly still streams.
const flushDelay = 2 * time.Millisecond

// idleFlusher writes body bytes to a ResponseWriter and flushes them once
// the program has been quiet for flushDelay. Its timer runs on its own
// goroutine, so every use of w holds mu.
type idleFlusher struct {
	mu      sync.Mutex
	w       ResponseWriter
	timer   *time.Timer
	dirty   bool  // bytes written since the last flush
	stopped bool  // no flush may happen any more: the response may be over
	err     error // the first write or flush error
	fail    func(error)
}

func newIdleFlusher(w ResponseWriter, fail func(error)) *idleFlusher {
	f := &idleFlusher{w: w, fail: fail}
	f.timer = time.AfterFunc(time.Hour, f.flushNow)
	f.timer.Stop()
	return f
}

// write writes p; quiet says the program has nothing more buffered, so a
// flush is due unless more output comes soon.
func (f *idleFlusher) write(p []byte, quiet bool) error {
	f.mu.Lock()
	if f.err == nil {
		if _, err := f.w.Write(p); err != nil {
			f.err = err
		}
		f.dirty = true
	}
	err := f.err
	f.mu.Unlock()
	if err == nil && quiet {
		f.timer.Reset(flushDelay)
	}
	return err
}

func (f *idleFlusher) flushNow() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped || f.err != nil || !f.dirty {
		return
	}
	f.dirty = false
	if err := f.w.Flush(); err != nil {
		f.err = err
		f.fail(err)
	}
}

// stop ends the timer and returns the first error. A timer that has fired
// already but not yet taken the lock finds stopped set and does nothing, so
// no flush reaches w once stop has returned.
func (f *idleFlusher) stop() error {
	f.timer.Stop()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stopped = true
	return f.err
}
