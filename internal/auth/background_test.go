package auth

import (
	"context"
	"testing"
	"time"
)

// However many requests start background work, no more than the limit run
// at once; the rest are turned away, not queued without bound; and close
// cancels what runs, waits for it, and refuses more.
func TestBackgroundIsBounded(t *testing.T) {
	b := newBackground(2)
	release := make(chan struct{})
	stopped := make(chan struct{}, 2)
	work := func(ctx context.Context) {
		select {
		case <-release:
		case <-ctx.Done():
		}
		stopped <- struct{}{}
	}
	for range 2 {
		if !b.start(context.Background(), work) {
			t.Fatal("the first two did not start")
		}
	}
	for range 100 {
		if b.start(context.Background(), work) {
			t.Fatal("a third started while two ran")
		}
	}
	close(release)
	for range 2 {
		select {
		case <-stopped:
		case <-time.After(10 * time.Second):
			t.Fatal("work did not finish")
		}
	}
	// The slots free up as work ends.
	deadline := time.Now().Add(10 * time.Second)
	for !b.start(context.Background(), func(context.Context) {}) {
		if time.Now().After(deadline) {
			t.Fatal("no slot freed")
		}
		time.Sleep(time.Millisecond)
	}

	hold := make(chan struct{})
	b.start(context.Background(), func(ctx context.Context) { <-ctx.Done(); close(hold) })
	b.close()
	select {
	case <-hold:
	default:
		t.Fatal("close returned before the work it cancelled")
	}
	if b.start(context.Background(), func(context.Context) {}) {
		t.Error("work started after close")
	}
}
