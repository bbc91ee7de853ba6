package auth

import (
	"context"
	"sync"
)

// background runs work that must not hold up a request (a reset mail to
// prepare), at most a fixed number at once, under the service's lifetime:
// Close cancels what runs and waits for it.
type background struct {
	ctx    context.Context
	cancel context.CancelFunc
	slots  chan struct{}
	mu     sync.Mutex // orders wg.Add before close's wg.Wait
	closed bool
	wg     sync.WaitGroup
}

func newBackground(limit int) *background {
	ctx, cancel := context.WithCancel(context.Background())
	return &background{ctx: ctx, cancel: cancel, slots: make(chan struct{}, limit)}
}

// start runs f in a goroutine of its own when a slot is free, and reports
// whether it did: a flood of requests gets no more goroutines than slots.
// f's context outlives the request that started it, and carries its
// client (address and request id) for the events f logs.
func (b *background) start(req context.Context, f func(context.Context)) bool {
	select {
	case b.slots <- struct{}{}:
	default:
		return false
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		<-b.slots
		return false
	}
	b.wg.Add(1)
	b.mu.Unlock()
	go func() {
		defer func() { <-b.slots; b.wg.Done() }()
		f(WithClient(b.ctx, ClientFrom(req)))
	}()
	return true
}

// close cancels the running work and waits for it to return.
func (b *background) close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.cancel()
	b.wg.Wait()
}
