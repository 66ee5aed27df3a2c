package worker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"gatewayd/handler"
)

// queue bounds the requests waiting for something to run on, and how long
// each waits.
type queue struct {
	max     int
	timeout time.Duration
	waiting atomic.Int64
}

// take takes a value from ch: at once when one is there, else after
// waiting in q for at most q.timeout. A request beyond q's bound, or one
// that waits too long, gets 503 (handler.ErrOverloaded); one that waits
// when halt closes gets 503 too, and one that waits when refuse closes
// gets errRefused, for its caller to say why (a nil refuse never does).
func take[T any](ctx context.Context, q *queue, ch <-chan T, halt, refuse <-chan struct{}) (T, error) {
	var zero T
	select {
	case v := <-ch:
		return v, nil
	default:
	}
	select {
	case <-halt:
		return zero, &handler.Error{Status: http.StatusServiceUnavailable, Err: errClosed}
	default:
	}
	if q.waiting.Add(1) > int64(q.max) {
		q.waiting.Add(-1)
		return zero, &handler.Error{Status: http.StatusServiceUnavailable,
			Err: fmt.Errorf("%w: queue of %d full", handler.ErrOverloaded, q.max)}
	}
	defer q.waiting.Add(-1)
	t := time.NewTimer(q.timeout)
	defer t.Stop()
	select {
	case v := <-ch:
		return v, nil
	case <-t.C:
		return zero, &handler.Error{Status: http.StatusServiceUnavailable,
			Err: fmt.Errorf("%w: none free within %v", handler.ErrOverloaded, q.timeout)}
	case <-halt:
		return zero, &handler.Error{Status: http.StatusServiceUnavailable, Err: errClosed}
	case <-refuse:
		return zero, errRefused
	case <-ctx.Done():
		return zero, context.Cause(ctx)
	}
}

// errRefused wakes a request waiting in a queue that stopped taking
// requests meanwhile.
var errRefused = errors.New("worker: requests refused")

// gate lets at most n requests run at once.
type gate struct {
	q     queue
	slots chan struct{}
	halt  chan struct{} // never closed: a Remote's requests end by themselves
}

func newGate(n, max int, timeout time.Duration) *gate {
	g := &gate{q: queue{max: max, timeout: timeout}, slots: make(chan struct{}, n), halt: make(chan struct{})}
	for range n {
		g.slots <- struct{}{}
	}
	return g
}

func (g *gate) enter(ctx context.Context) error {
	_, err := take(ctx, &g.q, g.slots, g.halt, nil)
	return err
}

func (g *gate) leave() { g.slots <- struct{}{} }
