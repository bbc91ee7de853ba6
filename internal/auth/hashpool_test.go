package auth

import (
	"context"
	"errors"
	"testing"
	"time"

	"jwtauth/internal/store"
)

// HASH_QUEUE=0 means nothing waits for a hash: with the only worker busy,
// a signup is turned away at once, however long HashMaxWait would let it
// wait in a queue.
func TestNoHashQueueTurnsAwayAtOnce(t *testing.T) {
	svc, _ := newTestService(t, store.DriverSQLite, func(o *Options) {
		o.HashWorkers, o.HashQueue, o.HashMaxWait = 1, 0, time.Hour
	})
	release, err := svc.hashes.acquire(context.Background()) // the only worker is taken
	if err != nil {
		t.Fatal(err)
	}
	defer release()

	done := make(chan error, 1)
	go func() {
		done <- svc.SignUp(context.Background(), SignUpInput{Username: "queued", Email: "queued@example.com", Password: "password-1"})
	}()
	select {
	case err := <-done:
		if !errors.Is(err, ErrBusy) {
			t.Fatalf("signup with the only worker busy and no queue: %v, want ErrBusy", err)
		}
	case <-time.After(10 * time.Second):
		if _, waiting := svc.HashPoolStats(); waiting > 0 {
			t.Errorf("%d hash(es) waiting with HashQueue 0", waiting)
		}
		t.Fatal("signup waited for the busy worker; with HashQueue 0 it must be turned away at once")
	}
}
