package auth

import (
	"context"
	"time"

	"github.com/maypok86/otter/v2"
	"gorm.io/gorm"

	"jwtauth/internal/store"
)

// authzEntry is what the cache knows of a user: its roles, or that it does
// not exist (so a deleted user's tokens cost no query either).
type authzEntry struct {
	roles []string
	found bool
}

// authzCache maps user ids to their roles for at most ttl, so that role
// checks follow the database (a role removed, a user deleted) within ttl
// on every instance, without a query per request. Concurrent misses for
// one user share a single query.
type authzCache struct {
	db    *gorm.DB
	cache *otter.Cache[int64, authzEntry] // nil when ttl is 0
}

// authzCacheSize bounds the memory the cache may take (about 100 bytes an entry).
const authzCacheSize = 100_000

func newAuthzCache(db *gorm.DB, ttl time.Duration, now func() time.Time) *authzCache {
	c := &authzCache{db: db}
	if ttl <= 0 {
		return c
	}
	opts := &otter.Options[int64, authzEntry]{
		MaximumSize:      authzCacheSize,
		ExpiryCalculator: otter.ExpiryWriting[int64, authzEntry](ttl),
	}
	if now != nil {
		opts.Clock = clock{now}
	}
	c.cache = otter.Must(opts)
	return c
}

func (c *authzCache) get(ctx context.Context, userID int64) (authzEntry, error) {
	if c.cache == nil {
		return c.load(ctx, userID)
	}
	return c.cache.Get(ctx, userID, otter.LoaderFunc[int64, authzEntry](c.load))
}

func (c *authzCache) load(ctx context.Context, userID int64) (authzEntry, error) {
	roles, found, err := store.UserRoles(ctx, c.db, userID)
	return authzEntry{roles: roles, found: found}, err
}

// clock lets tests drive the cache's expiry with the service's clock.
type clock struct{ now func() time.Time }

func (c clock) NowNano() int64                      { return c.now().UnixNano() }
func (c clock) Tick(time.Duration) <-chan time.Time { return nil }
