package main

import (
	"context"
	"fmt"
	"sync"

	"gatewayd/handler/worker"
)

// poolSet holds the worker pools of the live deployments, so that a reload
// keeps the workers of a mount whose worker configuration did not change
// and replaces only the others: a pool is shared by every deployment that
// has it, and stopped when the last of them closes.
type poolSet struct {
	mu    sync.Mutex
	pools map[string]*sharedPool
}

type sharedPool struct {
	key  string
	pool *worker.Pool
	refs int
}

func newPoolSet() *poolSet { return &poolSet{pools: map[string]*sharedPool{}} }

// poolKey says when two configurations make the same pool: everything
// but the logger counts (fmt prints maps sorted by key).
func poolKey(cfg worker.Config) string {
	cfg.Logger = nil
	return fmt.Sprintf("%#v", cfg)
}

// get returns a handle on the pool of cfg, started now unless s has it
// already. A nil s starts a pool of the handle's own.
func (s *poolSet) get(cfg worker.Config) (*poolHandle, error) {
	if s == nil {
		p, err := worker.NewPool(cfg)
		if err != nil {
			return nil, err
		}
		return &poolHandle{Pool: p, close: p.Close}, nil
	}
	key := poolKey(cfg)
	s.mu.Lock()
	defer s.mu.Unlock()
	sp := s.pools[key]
	if sp == nil {
		// Starting workers under the lock keeps two reloads from
		// starting the same pool twice; reloads are rare.
		p, err := worker.NewPool(cfg)
		if err != nil {
			return nil, err
		}
		sp = &sharedPool{key: key, pool: p}
		s.pools[key] = sp
	}
	sp.refs++
	return &poolHandle{Pool: sp.pool, close: func() { s.release(sp) }}, nil
}

func (s *poolSet) release(sp *sharedPool) {
	s.mu.Lock()
	sp.refs--
	last := sp.refs == 0
	if last {
		delete(s.pools, sp.key)
	}
	s.mu.Unlock()
	if last {
		sp.pool.Close()
	}
}

// poolHandle is one deployment's hold on a pool: an app whose Close lets
// go of the pool, which stops with the last handle.
type poolHandle struct {
	*worker.Pool
	close     func()
	closeOnce sync.Once
}

// Close lets go of the pool.
func (h *poolHandle) Close() { h.closeOnce.Do(h.close) }

// Stop stops the pool at once, for every deployment: the daemon is exiting.
func (h *poolHandle) Stop(ctx context.Context) error { return h.Pool.Stop(ctx) }
