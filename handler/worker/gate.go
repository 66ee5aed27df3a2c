package worker

import (
	"context"
	"time"

	"gatewayd/handler/internal/queue"
)

// gate lets at most n requests run at once.
type gate struct {
	q     queue.Queue
	slots chan struct{}
}

func newGate(n, max int, timeout time.Duration) *gate {
	g := &gate{q: queue.Queue{Max: max, Timeout: timeout, What: "connection"}, slots: make(chan struct{}, n)}
	for range n {
		g.slots <- struct{}{}
	}
	return g
}

// enter waits for a slot; a Remote is never halted, its requests end by
// themselves.
func (g *gate) enter(ctx context.Context) error {
	_, err := queue.Take(ctx, &g.q, g.slots, nil, nil, nil)
	return err
}

func (g *gate) leave() { g.slots <- struct{}{} }

// usage returns the requests inside and those waiting.
func (g *gate) usage() (running, waiting int) { return cap(g.slots) - len(g.slots), g.q.Waiting() }
