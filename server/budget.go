package server

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"
)

// errQuota marks a request over its disk quota or over the server's disk or
// memory budget: RESOURCE_EXHAUSTED.
var errQuota = errors.New("over budget")

// diskBudget is the server-wide bound on spooled, spilled and output bytes.
// A zero limit bounds nothing but still counts.
type diskBudget struct {
	limit int64
	used  atomic.Int64
}

// newPreprocessService is the service with its budgets; cfg has its defaults.
func newPreprocessService(cfg Config, log *zap.Logger, runner Runner, p *pool) *preprocessService {
	return &preprocessService{cfg: cfg, log: log, runner: runner, pool: p,
		disk: &diskBudget{limit: cfg.DiskBudget}, mem: &memBudget{limit: cfg.MemoryBudget}}
}

// requestDisk counts one request's bytes on disk against its quota and the
// server's budget. It implements model.DiskBudget, so the pipeline's spills
// and saves reserve their bytes before writing them; the upload's spool does
// the same. Going over cancels the request's context with the error as its
// cause, so that a pipeline step that does not return the error (a failed
// spill only keeps a value in memory) still stops.
type requestDisk struct {
	quota  int64
	global *diskBudget
	cancel context.CancelCauseFunc
	mu     sync.Mutex
	used   int64
	failed error
}

func newRequestDisk(quota int64, global *diskBudget, cancel context.CancelCauseFunc) *requestDisk {
	return &requestDisk{quota: quota, global: global, cancel: cancel}
}

// Reserve claims n more bytes, or fails without claiming them.
func (r *requestDisk) Reserve(n int64) error {
	if n <= 0 {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failed != nil {
		return r.failed
	}
	var err error
	switch {
	case r.quota > 0 && n > r.quota-r.used:
		err = fmt.Errorf("%w: the request would write more than its disk quota of %d bytes (upload, spilled weights and output together)", errQuota, r.quota)
	case r.global.limit > 0 && r.global.used.Add(n) > r.global.limit:
		r.global.used.Add(-n)
		err = fmt.Errorf("%w: the server's disk budget of %d bytes is in use by the requests in progress; retry later", errQuota, r.global.limit)
	case r.global.limit <= 0:
		r.global.used.Add(n)
	}
	if err != nil {
		r.failed = err
		if r.cancel != nil {
			r.cancel(err)
		}
		return err
	}
	r.used += n
	return nil
}

// release gives back to the server every byte the request claimed; call it
// once the request's files are removed.
func (r *requestDisk) release() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.global.used.Add(-r.used)
	r.used = 0
}

// memBudget admits pipeline runs while the sum of their memory estimates
// stays within limit (a weighted semaphore, first come first served).
type memBudget struct {
	limit int64 // <= 0: no bound
	mu    sync.Mutex
	used  int64
	wait  []*memWaiter
}

type memWaiter struct {
	n     int64
	ready chan struct{}
}

// acquire blocks until n bytes fit in the budget or ctx ends; it fails at
// once when n alone exceeds the budget. The returned function gives them back.
func (b *memBudget) acquire(ctx context.Context, n int64) (func(), error) {
	if b.limit <= 0 {
		return func() {}, nil
	}
	if n > b.limit {
		return nil, fmt.Errorf("%w: the model needs an estimated %d bytes of memory, over the server's memory budget of %d bytes", errQuota, n, b.limit)
	}
	b.mu.Lock()
	if len(b.wait) == 0 && b.used+n <= b.limit {
		b.used += n
		b.mu.Unlock()
		return func() { b.put(n) }, nil
	}
	w := &memWaiter{n: n, ready: make(chan struct{})}
	b.wait = append(b.wait, w)
	b.mu.Unlock()
	select {
	case <-w.ready:
		return func() { b.put(n) }, nil
	case <-ctx.Done():
		b.mu.Lock()
		select {
		case <-w.ready: // granted meanwhile: give it back
			b.mu.Unlock()
			b.put(n)
		default:
			for i, x := range b.wait {
				if x == w {
					b.wait = append(b.wait[:i], b.wait[i+1:]...)
					break
				}
			}
			b.grant()
			b.mu.Unlock()
		}
		return nil, context.Cause(ctx)
	}
}

func (b *memBudget) put(n int64) {
	b.mu.Lock()
	b.used -= n
	b.grant()
	b.mu.Unlock()
}

// grant admits waiters in order while they fit; b.mu is held.
func (b *memBudget) grant() {
	for len(b.wait) > 0 && b.used+b.wait[0].n <= b.limit {
		w := b.wait[0]
		b.wait = b.wait[1:]
		b.used += w.n
		close(w.ready)
	}
}

// inUse is the memory admitted now.
func (b *memBudget) inUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}
