package auth

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/maypok86/otter/v2"
	"gorm.io/gorm"

	"jwtauth/internal/store"
)

// Principal is the bearer of a valid access token, with the roles the
// database gives it now (within the authorization cache's TTL).
type Principal struct {
	UserID int64
	// SessionID is the signin the token was issued for (0 for a token
	// issued without one).
	SessionID int64
	Roles     []string
}

// HasRole reports whether p holds role, exactly (admin does not imply moderator).
func (p Principal) HasRole(role string) bool { return slices.Contains(p.Roles, role) }

// Authenticate verifies an access token and loads its user's roles. A token
// for a user that no longer exists, or of a session that was signed out or
// revoked, is ErrTokenInvalid (within the authorization cache's TTL).
func (s *Service) Authenticate(ctx context.Context, token string) (Principal, error) {
	if token == "" {
		return Principal{}, ErrNoToken
	}
	entry, err := s.authz.get(ctx, token)
	switch {
	case isTokenError(err):
		return Principal{}, err
	case err != nil:
		return Principal{}, dbError(err)
	case !entry.found:
		return Principal{}, ErrTokenInvalid
	}
	return Principal{UserID: entry.userID, SessionID: entry.sessionID, Roles: entry.roles}, nil
}

// principalEntry is what the cache knows of one access token: whose it is,
// when it expires, and the user's roles now, or that the user or session
// is gone (so a deleted user's or signed-out session's tokens cost no
// query either).
type principalEntry struct {
	userID, sessionID int64
	expires           time.Time
	roles             []string
	found             bool
}

// principals maps access tokens to what they grant, for at most ttl: one
// lookup per request replaces parsing the token, checking its signature
// and querying the user's roles and session. Role checks thus follow the
// database (a role removed, a user deleted, a session ended) within ttl on
// every instance, and at once on the instance that made the change (see
// forget). The token's own expiry is checked on every use, and a token
// that fails its check is never remembered.
type principals struct {
	db     *gorm.DB
	tokens tokenKeys
	now    func() time.Time
	cache  *otter.Cache[string, principalEntry] // nil when ttl is 0
	loader otter.Loader[string, principalEntry] // made once: a method value per call would allocate

	// loading holds the tokens being checked on a cache miss, with their
	// user once the token is verified, so that forget can reach checks
	// that read the database before its change and are not cached yet.
	mu      sync.Mutex
	loading map[string]loadingToken

	// afterRead, when set (by tests), runs between a check's database read
	// and its return.
	afterRead func()
}

// loadingToken is a token whose check is under way: how many requests
// wait for it, and whose token it is (0 until verified).
type loadingToken struct {
	waiting int
	userID  int64
}

// principalCacheSize bounds the cache's memory: about 4 MB at ~400 bytes an
// entry (the token is most of it). Past it, the least used tokens are
// checked afresh on their next use.
const principalCacheSize = 10_000

// newPrincipals caches for ttl; with injectedClock, expiry follows now
// instead of the wall clock (tests).
func newPrincipals(db *gorm.DB, tokens tokenKeys, ttl time.Duration, now func() time.Time, injectedClock bool) *principals {
	p := &principals{db: db, tokens: tokens, now: now, loading: map[string]loadingToken{}}
	p.loader = otter.LoaderFunc[string, principalEntry](p.load)
	if ttl <= 0 {
		return p
	}
	opts := &otter.Options[string, principalEntry]{
		MaximumSize:      principalCacheSize,
		ExpiryCalculator: otter.ExpiryWriting[string, principalEntry](ttl),
	}
	if injectedClock {
		opts.Clock = clock{now}
	}
	p.cache = otter.Must(opts)
	return p
}

// get returns what token grants; concurrent misses for one token share one
// check.
func (p *principals) get(ctx context.Context, token string) (principalEntry, error) {
	var e principalEntry
	var err error
	hit := false
	if p.cache == nil {
		e, err = p.load(ctx, token)
	} else if e, hit = p.cache.GetIfPresent(token); !hit {
		e, err = p.loadShared(ctx, token)
	}
	if err == nil && !p.now().Before(e.expires) {
		return principalEntry{}, ErrTokenExpired
	}
	return e, err
}

// loadShared checks token through the cache, which lets concurrent misses
// share one check and keeps its answer, with the token marked as loading
// until the answer is in the cache (otter has written it when Get returns).
func (p *principals) loadShared(ctx context.Context, token string) (principalEntry, error) {
	p.mu.Lock()
	l := p.loading[token]
	l.waiting++
	p.loading[token] = l
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		if l := p.loading[token]; l.waiting > 1 {
			l.waiting--
			p.loading[token] = l
		} else {
			delete(p.loading, token)
		}
		p.mu.Unlock()
	}()
	return p.cache.Get(ctx, token, p.loader)
}

func (p *principals) load(ctx context.Context, token string) (principalEntry, error) {
	v, err := p.tokens.verify(token)
	if err != nil {
		return principalEntry{}, err
	}
	// Say whose token is loading before reading the database: a forget of
	// this user from now on cancels this check (see forget).
	p.mu.Lock()
	if l, ok := p.loading[token]; ok {
		l.userID = v.userID
		p.loading[token] = l
	}
	p.mu.Unlock()
	a, err := store.TokenAccess(ctx, p.db, v.userID, v.sessionID, p.now())
	if err != nil {
		return principalEntry{}, err
	}
	// A token without a session (the original's) ends when its user signs
	// out everywhere, changes password or is signed out by an admin.
	found := a.Found && (v.sessionID != 0 || a.TokensNotBefore == nil || v.issued.After(*a.TokensNotBefore))
	if p.afterRead != nil {
		p.afterRead()
	}
	return principalEntry{userID: v.userID, sessionID: v.sessionID, expires: v.expires, roles: a.Roles, found: found}, nil
}

// forget drops what this instance cached for the tokens of a user (of one
// session, or of all with sessionID < 0), so that a change takes effect
// here at once (elsewhere within the TTL). It is called once the change is
// committed.
//
// A check of one of the user's tokens may be under way, having read the
// database before the change: its answer is not in the cache yet, so
// All does not see it, and it would be written there after this returns
// and served for a whole TTL. Invalidating its token cancels it: otter
// discards the result of a load whose key is invalidated while it runs
// (the load's call is deleted, and its commit finds it gone), and Get
// loads again, now after the change, for the request that started it and
// those waiting on it. A check that registered its user after this scan
// reads the database after the change; one whose answer was already
// written is no longer loading but is in the cache, where All finds it.
func (p *principals) forget(userID, sessionID int64) {
	if p.cache == nil {
		return
	}
	p.mu.Lock()
	for token, l := range p.loading {
		if l.userID == userID {
			p.cache.Invalidate(token)
		}
	}
	p.mu.Unlock()
	for token, e := range p.cache.All() {
		if e.userID == userID && (sessionID < 0 || e.sessionID == sessionID) {
			p.cache.Invalidate(token)
		}
	}
}

// isTokenError reports whether err is a verdict on the token itself.
func isTokenError(err error) bool {
	return errors.Is(err, ErrTokenInvalid) || errors.Is(err, ErrTokenExpired)
}

// clock lets tests drive the cache's expiry with the service's clock.
type clock struct{ now func() time.Time }

func (c clock) NowNano() int64                      { return c.now().UnixNano() }
func (c clock) Tick(time.Duration) <-chan time.Time { return nil }
