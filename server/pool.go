package server

import (
	"context"
	"runtime/debug"
	"sync"
	"sync/atomic"
)

// Job states; a queued job that its requester abandons is never run.
const (
	jobQueued int32 = iota
	jobRunning
	jobAbandoned
)

// job is one pipeline run waiting for, or held by, a worker.
type job struct {
	ctx   context.Context
	run   func(ctx context.Context) error
	state atomic.Int32
	err   error         // set before done closes
	done  chan struct{} // closed when the run ends (not if abandoned while queued)
}

// abandon withdraws a queued job. It reports false if a worker holds the job
// already, in which case the caller must wait for done.
func (j *job) abandon() bool { return j.state.CompareAndSwap(jobQueued, jobAbandoned) }

// pool is a fixed set of workers fed by a bounded queue. Submit never blocks:
// a full queue turns the request away, so clients learn at once that the
// server is busy instead of holding an upload's spool files while they wait.
type pool struct {
	jobs    chan *job
	wg      sync.WaitGroup
	onPanic func(ctx context.Context, p any, stack []byte)
	busy    atomic.Int32 // workers running a job
	mu      sync.RWMutex // guards closed against a send on the closed channel
	closed  bool
}

func newPool(workers, queue int, onPanic func(ctx context.Context, p any, stack []byte)) *pool {
	p := &pool{jobs: make(chan *job, queue), onPanic: onPanic}
	for range workers {
		p.wg.Add(1)
		go p.work()
	}
	return p
}

func (p *pool) work() {
	defer p.wg.Done()
	for j := range p.jobs {
		if !j.state.CompareAndSwap(jobQueued, jobRunning) {
			continue
		}
		p.busy.Add(1)
		j.err = p.runOne(j)
		p.busy.Add(-1)
		close(j.done)
	}
}

// runOne runs a job, turning a panic into an error: the recovery interceptor
// only covers the handler's goroutine, not this one.
func (p *pool) runOne(j *job) (err error) {
	defer func() {
		if r := recover(); r != nil {
			stack := debug.Stack()
			if p.onPanic != nil {
				p.onPanic(j.ctx, r, stack)
			}
			err = &panicError{value: r, stack: stack}
		}
	}()
	if err := j.ctx.Err(); err != nil {
		return err
	}
	return j.run(j.ctx)
}

// submit queues run; it fails with errBusy when the queue is full.
func (p *pool) submit(ctx context.Context, run func(ctx context.Context) error) (*job, error) {
	j := &job{ctx: ctx, run: run, done: make(chan struct{})}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return nil, errShutdown
	}
	select {
	case p.jobs <- j:
		return j, nil
	default:
		return nil, errBusy
	}
}

// queued is the number of jobs waiting for a worker.
func (p *pool) queued() int { return len(p.jobs) }

// running is the number of workers running a job.
func (p *pool) running() int { return int(p.busy.Load()) }

// close stops taking jobs and waits for the workers to finish those they hold.
func (p *pool) close() {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.jobs)
	}
	p.mu.Unlock()
	p.wg.Wait()
}
