package auth

import (
	"context"
	"errors"
	"testing"
	"time"

	"jwtauth/internal/ratelimit"
	"jwtauth/internal/store"
)

// A signin turned away because hashing is busy counts no attempt and
// stores no counter: a flood that only earns 503s costs no memory and
// uses up nobody's allowance.
func TestBusySignInCountsNothing(t *testing.T) {
	counters := ratelimit.NewMemory(nil)
	svc, _ := newTestService(t, store.DriverSQLite, func(o *Options) {
		o.HashWorkers, o.HashQueue, o.HashMaxWait = 1, 1, time.Millisecond
		o.SignInAccountAddressLimit = ratelimit.NewRule("signin-user-ip", ratelimit.Rate{Count: 2, Period: time.Hour}, counters)
		o.SignInAccountLimit = ratelimit.NewRule("signin-user", ratelimit.Rate{Count: 50, Period: time.Hour}, counters)
	})
	addUser(t, svc, "busy", "password-1")
	ctx := WithClient(context.Background(), Client{IP: "192.0.2.1"})

	release, err := svc.hashes.acquire(ctx) // the only worker is taken
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := svc.SignIn(ctx, "busy", "wrong-password"); !errors.Is(err, ErrBusy) {
			t.Fatalf("signin with hashing busy: %v, want ErrBusy", err)
		}
	}
	if n := counters.WeightedSize(); n != 0 {
		t.Errorf("busy signins stored %d bytes of counters, want none", n)
	}
	release()
	for i := range 2 {
		if _, err := svc.SignIn(ctx, "busy", "wrong-password"); !errors.Is(err, ErrInvalidPassword) {
			t.Fatalf("attempt %d after the busy ones: %v, want a password check", i+1, err)
		}
	}
	var e *Error
	if _, err := svc.SignIn(ctx, "busy", "password-1"); !errors.As(err, &e) || e.Kind != KindTooMany {
		t.Errorf("third attempt: %v, want the limit", err)
	}
}
