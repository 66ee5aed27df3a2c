package handler

import (
	"cmp"
	"errors"
	"time"
)

// An Observer is told how each request ended: what metrics count. The
// pipeline calls Observe once per request, on the request's goroutine,
// after its log line; it must be quick and safe for concurrent use. The
// pipeline knows nothing of what an Observer does with what it is told.
type Observer interface {
	Observe(Outcome)
}

// Outcome is how one request ended.
type Outcome struct {
	// Mount is the prefix of the mount that served the request (the last
	// one, after local redirects); "/" when there are no mounts, "" when
	// a Mux found no mount for it (404).
	Mount string
	// Frontend is Request.Frontend.
	Frontend string
	// Status is the status sent: 0 when none was (the client went away
	// first), -1 when an NPH program wrote its own status line.
	Status int
	// Duration is the time from the request's arrival to its end.
	Duration time.Duration
	// Stop says why a program was stopped or failed, or why none could
	// run, as one of the Stop constants; "" when it ran to a good end, or
	// when the request was refused before any program was due to run (404,
	// 403, 413).
	Stop string
}

// The reasons a program stops early or fails, for Outcome.Stop.
const (
	// StopTimeout: the request ran past a timeout and its program was
	// stopped.
	StopTimeout = "timeout"
	// StopAbort: the client went away and its program was stopped.
	StopAbort = "abort"
	// StopOverload: no program slot, worker or connection came free in
	// time, or the queue was full; nothing ran.
	StopOverload = "overload"
	// StopCrash: the program could not start, was killed by a signal it
	// was not sent, or exited with a non-zero status without a valid
	// response.
	StopCrash = "crash"
	// StopBadResponse: the program's response was malformed, or broke a
	// rule that strict mode enforces.
	StopBadResponse = "bad_response"
)

// mount is the request's Outcome.Mount.
func (s *serve) mount() string {
	if s.h.mux != nil && s.h == s.h.mux.notFound {
		return ""
	}
	return cmp.Or(s.h.prefix, "/")
}

// stopReason classifies why the request failed, for Outcome.Stop.
func (s *serve) stopReason() string {
	err := s.reason
	switch {
	case err == nil:
		return ""
	case errors.Is(err, ErrOverloaded):
		return StopOverload
	case IsTimeout(err):
		return StopTimeout
	case errors.Is(err, errClientGone):
		if !s.started {
			return ""
		}
		return StopAbort
	case !s.started:
		return ""
	case !s.ran:
		return StopCrash // the app could not start it
	}
	ex := s.result.Exit
	if ex.Code > 0 || (ex.Signal != "" && ex.Err == nil) {
		return StopCrash
	}
	return StopBadResponse
}
