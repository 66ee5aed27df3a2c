// Package queue is the bounded wait the apps share: a request takes a
// token — a program slot, an idle worker, a connection — at once when one
// is free, else waits in a queue of bounded length for a bounded time,
// then gets 503 (handler.ErrOverloaded).
package queue

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"gatewayd/handler"
)

// Queue bounds the requests waiting for a token, and how long each waits.
// Its zero value is not usable: set Max and Timeout.
type Queue struct {
	Max     int           // requests waiting at once; one more gets 503 at once
	Timeout time.Duration // the longest a request waits
	What    string        // what is waited for, in the error: "slot", "worker"

	waiting atomic.Int64
}

// Waiting returns the number of requests waiting now.
func (q *Queue) Waiting() int { return int(q.waiting.Load()) }

// ErrRefused is what Take returns when refuse closes while the request
// waits, for its caller to say why.
var ErrRefused = errors.New("queue: requests refused")

// Take takes a token from tokens: at once when one is there, else after
// waiting in q for at most q.Timeout. A request beyond q's bound, or one
// that waits too long, gets a 503 *handler.Error whose cause is
// handler.ErrOverloaded. Once halt is closed, a request that finds no
// token, or waits for one, gets a 503 whose cause is halted. When refuse
// closes (a nil refuse never does), a waiting request gets ErrRefused;
// when ctx ends, its cause.
func Take[T any](ctx context.Context, q *Queue, tokens <-chan T, halt <-chan struct{}, halted error, refuse <-chan struct{}) (T, error) {
	var zero T
	select {
	case v := <-tokens:
		return v, nil
	default:
	}
	select {
	case <-halt:
		return zero, &handler.Error{Status: http.StatusServiceUnavailable, Err: halted}
	default:
	}
	if q.waiting.Add(1) > int64(q.Max) {
		q.waiting.Add(-1)
		return zero, &handler.Error{Status: http.StatusServiceUnavailable,
			Err: fmt.Errorf("%w: queue of %d full", handler.ErrOverloaded, q.Max)}
	}
	defer q.waiting.Add(-1)
	t := time.NewTimer(q.Timeout)
	defer t.Stop()
	select {
	case v := <-tokens:
		return v, nil
	case <-t.C:
		return zero, &handler.Error{Status: http.StatusServiceUnavailable,
			Err: fmt.Errorf("%w: no %s free within %v", handler.ErrOverloaded, q.What, q.Timeout)}
	case <-halt:
		return zero, &handler.Error{Status: http.StatusServiceUnavailable, Err: halted}
	case <-refuse:
		return zero, ErrRefused
	case <-ctx.Done():
		return zero, context.Cause(ctx)
	}
}
