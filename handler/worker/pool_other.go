//go:build !unix

package worker

import (
	"context"
	"errors"
	"fmt"

	"gatewayd/handler"
)

// Pool is the App that runs requests on persistent FastCGI worker
// processes. FastCGI workers take their listening socket on fd 0, which
// only Unix systems have: here NewPool fails.
type Pool struct{}

// NewPool fails: workers need a Unix system.
func NewPool(cfg Config) (*Pool, error) {
	return nil, fmt.Errorf("worker %s: %w", cfg.Name, errors.ErrUnsupported)
}

// Limits returns the bounds in force.
func (*Pool) Limits() (processes, queue int) { return 0, 0 }

// Start fails: there are no workers.
func (*Pool) Start(context.Context, *handler.Call) (handler.Run, error) { return nil, errClosed }

// Stop does nothing.
func (*Pool) Stop(context.Context) error { return nil }

// Close does nothing.
func (*Pool) Close() {}

// Status returns an empty snapshot.
func (*Pool) Status() Status { return Status{} }

// Usage is zero: there are no workers.
func (*Pool) Usage() (running, waiting int) { return 0, 0 }
