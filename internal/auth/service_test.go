package auth

import (
	"context"
	"crypto/rand"
	"sync"
	"testing"
	"time"

	"jwtauth/internal/bcrypt"
	"jwtauth/internal/store"
	"jwtauth/internal/store/storetest"
)

// testClock is a settable clock for the service.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *testClock) Advance(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

// newTestService is a service with the server's defaults, but the cheapest
// bcrypt cost, on a fresh database of driver.
func newTestService(t *testing.T, driver string, edit ...func(*Options)) (*Service, *testClock) {
	t.Helper()
	secret := make([]byte, 32)
	rand.Read(secret)
	clock := &testClock{t: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)}
	opts := Options{
		Secret: secret, AccessTokenTTL: time.Hour, RefreshTokenTTL: 24 * time.Hour, SessionMaxAge: 30 * 24 * time.Hour,
		RefreshReuseGrace: 10 * time.Second, BcryptCost: bcrypt.MinCost, PasswordMinLength: 8,
		SignupAllowRoles: []string{RoleUser}, AuthzCacheTTL: 5 * time.Second,
		HashWorkers: 2, HashQueue: 64, HashMaxWait: 3 * time.Second, ResetTokenTTL: 30 * time.Minute, VerifyTokenTTL: 24 * time.Hour, Now: clock.Now,
	}
	for _, e := range edit {
		e(&opts)
	}
	svc, err := New(storetest.Open(t, driver), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	return svc, clock
}

// addUser stores a user with password hashed at the cheapest cost, with
// the user role, straight in the database (no signup rules).
func addUser(t *testing.T, svc *Service, username, password string) store.User {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	u := store.User{Username: username, Email: username + "@example.com", Password: string(hash)}
	if err := store.CreateUser(context.Background(), svc.db, &u, []int64{1}); err != nil {
		t.Fatal(err)
	}
	return u
}
