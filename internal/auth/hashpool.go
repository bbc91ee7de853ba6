package auth

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
)

// hashPool bounds password hashing, the one expensive thing jwtauth does:
// at most `size` bcrypt runs at once, at most `queue` more waiting, each for
// at most maxWait. Past that a caller is turned away at once with ErrBusy
// (503 and Retry-After), so a signin flood costs a fixed amount of CPU and
// memory instead of an ever longer queue, and requests that need no hash
// (token checks) never wait behind one.
// A queue of 0 turns away every caller that finds the workers busy.
type hashPool struct {
	slots   chan struct{}
	queue   int64
	waiting atomic.Int64
	maxWait time.Duration
}

func newHashPool(size, queue int, maxWait time.Duration) *hashPool {
	return &hashPool{slots: make(chan struct{}, size), queue: int64(queue), maxWait: maxWait}
}

// acquire takes a slot, waiting in the queue if there is room there, and
// returns the function that gives it back; or ErrBusy at once when the
// queue is full or after maxWait, the two ways the pool is too small for
// the load. When ctx ends first, the caller stopped waiting (the client
// left), which says nothing about the pool: that is ErrCanceled, wrapping
// the context's cause. A caller that holds a slot may do a little work
// before its hash (a signin counts the attempt only once it is sure to be
// checked).
func (p *hashPool) acquire(ctx context.Context) (release func(), err error) {
	select {
	case p.slots <- struct{}{}:
		return p.release, nil
	default:
	}
	if p.waiting.Add(1) > p.queue {
		p.waiting.Add(-1)
		return nil, ErrBusy
	}
	defer p.waiting.Add(-1)
	t := time.NewTimer(p.maxWait)
	defer t.Stop()
	select {
	case p.slots <- struct{}{}:
		return p.release, nil
	case <-t.C:
		return nil, ErrBusy
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w", ErrCanceled, context.Cause(ctx))
	}
}

func (p *hashPool) release() { <-p.slots }

// tryDo runs fn only if a slot is free now; it is for work that can wait
// for another day, such as upgrading an old hash.
func (p *hashPool) tryDo(fn func()) bool {
	select {
	case p.slots <- struct{}{}:
		defer func() { <-p.slots }()
		fn()
		return true
	default:
		return false
	}
}

// stats reports how many hashes run and how many wait.
func (p *hashPool) stats() (running, waiting int) {
	return len(p.slots), int(p.waiting.Load())
}
