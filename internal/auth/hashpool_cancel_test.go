package auth

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"jwtauth/internal/metrics"
	"jwtauth/internal/store"
)

// A client that goes away while its signin waits for a hashing slot is
// not "hashing busy": the pool had room for it in its queue. Counting it
// would page an operator about capacity every time a browser tab closes.
// Turning a caller away for a full queue still counts.
func TestCancelledWaitIsNotBusy(t *testing.T) {
	m := metrics.New()
	svc, _ := newTestService(t, store.DriverSQLite, func(o *Options) {
		o.HashWorkers, o.HashQueue, o.HashMaxWait = 1, 1, time.Minute
		o.CountEvent = m.CountEvent
	})
	addUser(t, svc, "queued", "password-1")
	release, err := svc.hashes.acquire(context.Background()) // the only worker is taken
	if err != nil {
		t.Fatal(err)
	}
	defer release()

	ctx, cancel := context.WithCancel(WithClient(context.Background(), Client{IP: "192.0.2.1"}))
	done := make(chan error, 1)
	go func() {
		_, err := svc.SignIn(ctx, "queued", "password-1")
		done <- err
	}()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		if _, waiting := svc.HashPoolStats(); waiting == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the signin never queued for a hashing slot")
		}
	}
	// The queue is full now: a second signin is turned away as busy.
	if _, err := svc.SignIn(context.Background(), "queued", "password-1"); !errors.Is(err, ErrBusy) {
		t.Fatalf("signin with the queue full: %v, want ErrBusy", err)
	}
	cancel() // the queued client disconnects
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the cancelled signin is still waiting")
	}
	if !errors.Is(err, ErrCanceled) || !errors.Is(err, context.Canceled) || errors.Is(err, ErrBusy) {
		t.Errorf("signin whose client left: %v, want ErrCanceled (and context.Canceled), not ErrBusy", err)
	}
	if got := busyCount(t, m); got != "1" {
		t.Errorf(`jwtauth_auth_events_total{event="hashing_busy"} = %s, want 1 (the full queue, not the client that left)`, got)
	}
}

// busyCount scrapes the hashing_busy event counter.
func busyCount(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	for _, line := range strings.Split(w.Body.String(), "\n") {
		if strings.HasPrefix(line, `jwtauth_auth_events_total{detail="",event="hashing_busy"} `) {
			return strings.Fields(line)[1]
		}
	}
	return "0"
}
