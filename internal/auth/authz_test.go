package auth

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"jwtauth/internal/store/storetest"
)

// A token check that read the database before a signout must not leave
// its older answer in the cache after it: the signed-out token is refused
// at once, not a cache TTL later. The check is held between its read and
// its return while the signout runs, so the race is played every time.
func TestCheckStartedBeforeSignOutIsNotCached(t *testing.T) {
	storetest.Run(t, func(t *testing.T, driver string) {
		svc, _ := newTestService(t, driver, func(o *Options) { o.AuthzCacheTTL = time.Hour })
		ctx := context.Background()
		id, err := svc.CreateAdmin(ctx, "member", "member@example.com", "password-1")
		if err != nil {
			t.Fatal(err)
		}
		for _, signOut := range []struct {
			name string
			do   func(Account) error
		}{
			{"one session", func(a Account) error {
				return svc.SignOut(ctx, Principal{UserID: id}, a.RefreshToken, false)
			}},
			{"everywhere", func(Account) error { return svc.SignOut(ctx, Principal{UserID: id}, "", true) }},
		} {
			t.Run(signOut.name, func(t *testing.T) {
				account, err := svc.SignIn(ctx, "member", "password-1")
				if err != nil {
					t.Fatal(err)
				}
				reached, release := make(chan struct{}), make(chan struct{})
				var once sync.Once
				svc.authz.afterRead = func() { once.Do(func() { close(reached); <-release }) }
				t.Cleanup(func() { svc.authz.afterRead = nil })

				checked := make(chan error, 1)
				go func() {
					_, err := svc.Authenticate(ctx, account.AccessToken)
					checked <- err
				}()
				wait(t, reached, "the check to read the database")
				if err := signOut.do(account); err != nil {
					t.Fatal(err)
				}
				close(release)
				var inFlight error
				select {
				case inFlight = <-checked:
				case <-time.After(30 * time.Second):
					t.Fatal("the check held across the signout did not return")
				}
				// Its read was cancelled by the signout, and done again.
				if !errors.Is(inFlight, ErrTokenInvalid) {
					t.Fatalf("the check held across the signout got %v, want ErrTokenInvalid", inFlight)
				}
				if _, err := svc.Authenticate(ctx, account.AccessToken); !errors.Is(err, ErrTokenInvalid) {
					t.Fatalf("after the signout the token gets %v, want ErrTokenInvalid", err)
				}
			})
		}
	})
}

func wait(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Fatalf("waited 30s for %s", what)
	}
}
