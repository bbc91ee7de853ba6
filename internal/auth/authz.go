package auth

import (
	"context"
	"time"

	"github.com/maypok86/otter/v2"
	"gorm.io/gorm"

	"jwtauth/internal/store"
)

// authzKey is what a token claims: a user and the session it was issued for.
type authzKey struct{ userID, sessionID int64 }

// authzEntry is what the cache knows of a token's claims: the user's roles,
// or that the user or session is gone (so a deleted user's or signed-out
// session's tokens cost no query either).
type authzEntry struct {
	roles []string
	found bool
}

// authzCache maps user ids to their roles for at most ttl, so that role
// checks follow the database (a role removed, a user deleted) within ttl
// on every instance, without a query per request. Concurrent misses for
// one user share a single query.
type authzCache struct {
	db     *gorm.DB
	now    func() time.Time
	cache  *otter.Cache[authzKey, authzEntry] // nil when ttl is 0
	loader otter.Loader[authzKey, authzEntry] // made once: a method value per call would allocate
}

// authzCacheSize bounds the memory the cache may take (about 100 bytes an entry).
const authzCacheSize = 100_000

// newAuthzCache caches for ttl; with injectedClock, expiry follows now
// instead of the wall clock (tests).
func newAuthzCache(db *gorm.DB, ttl time.Duration, now func() time.Time, injectedClock bool) *authzCache {
	c := &authzCache{db: db, now: now}
	c.loader = otter.LoaderFunc[authzKey, authzEntry](c.load)
	if ttl <= 0 {
		return c
	}
	opts := &otter.Options[authzKey, authzEntry]{
		MaximumSize:      authzCacheSize,
		ExpiryCalculator: otter.ExpiryWriting[authzKey, authzEntry](ttl),
	}
	if injectedClock {
		opts.Clock = clock{now}
	}
	c.cache = otter.Must(opts)
	return c
}

func (c *authzCache) get(ctx context.Context, k authzKey) (authzEntry, error) {
	if c.cache == nil {
		return c.load(ctx, k)
	}
	return c.cache.Get(ctx, k, c.loader)
}

// forget drops what this instance cached for a token's claims, so that a
// sign-out takes effect here at once (elsewhere within the TTL).
func (c *authzCache) forget(k authzKey) {
	if c.cache != nil {
		c.cache.Invalidate(k)
	}
}

// forgetUser drops everything this instance cached for a user's tokens,
// after an administrator changed them.
func (c *authzCache) forgetUser(userID int64) {
	if c.cache == nil {
		return
	}
	for k := range c.cache.Keys() {
		if k.userID == userID {
			c.cache.Invalidate(k)
		}
	}
}

func (c *authzCache) load(ctx context.Context, k authzKey) (authzEntry, error) {
	roles, found, err := store.UserRoles(ctx, c.db, k.userID)
	if err != nil || !found || k.sessionID == 0 {
		return authzEntry{roles: roles, found: found}, err
	}
	live, err := store.SessionLive(ctx, c.db, k.userID, k.sessionID, c.now())
	return authzEntry{roles: roles, found: live}, err
}

// clock lets tests drive the cache's expiry with the service's clock.
type clock struct{ now func() time.Time }

func (c clock) NowNano() int64                      { return c.now().UnixNano() }
func (c clock) Tick(time.Duration) <-chan time.Time { return nil }
