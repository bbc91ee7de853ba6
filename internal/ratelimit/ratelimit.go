// Package ratelimit counts attempts per key (a client address, an account)
// and says when there have been too many. Counters live in process memory,
// or in Redis so that every instance shares them; when Redis cannot be
// reached, counting falls back to memory rather than refusing or letting
// everything through.
//
// The algorithm is the same in both stores: a token bucket (GCRA in Redis)
// holding Count attempts that refills at Count per Period, so a client may
// burst up to Count and then continues at the sustained rate. That is
// back-off, not lockout: nobody can lock an account for good by failing
// on purpose.
package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Rate is Count attempts per Period. The zero Rate means no limit.
type Rate struct {
	Count  int
	Period time.Duration
}

// Unlimited reports whether r imposes no limit.
func (r Rate) Unlimited() bool { return r.Count <= 0 || r.Period <= 0 }

func (r Rate) String() string {
	if r.Unlimited() {
		return "off"
	}
	return fmt.Sprintf("%d/%s", r.Count, r.Period)
}

// ParseRate reads "10/15m" (10 per 15 minutes) or "off".
func ParseRate(s string) (Rate, error) {
	s = strings.TrimSpace(s)
	if s == "off" || s == "0" {
		return Rate{}, nil
	}
	count, period, ok := strings.Cut(s, "/")
	n, err := strconv.Atoi(count)
	if !ok || err != nil || n <= 0 {
		return Rate{}, fmt.Errorf("want COUNT/PERIOD like 10/15m, or off; got %q", s)
	}
	d, err := time.ParseDuration(period)
	if err != nil || d < time.Second {
		return Rate{}, fmt.Errorf("want COUNT/PERIOD with a period of at least 1s, like 10/15m; got %q", s)
	}
	return Rate{Count: n, Period: d}, nil
}

// Decision is the answer for one attempt.
type Decision struct {
	Allowed bool
	// RetryAfter is how long until the next attempt would be allowed (when
	// not Allowed).
	RetryAfter time.Duration
}

// Store keeps the counters.
type Store interface {
	// Allow counts one attempt for key under rate and says whether it is
	// within the limit. Counting and deciding are one atomic step, so
	// parallel attempts cannot slip past the limit.
	Allow(ctx context.Context, key string, rate Rate) (Decision, error)
	// Reset forgets the attempts counted for key.
	Reset(ctx context.Context, key string) error
	// Refund gives back one attempt Allow counted for key under rate,
	// for an attempt that a later check turned away after all.
	Refund(ctx context.Context, key string, rate Rate) error
}

// Rule is one named limit applied to keys, e.g. "signin-ip" at 100/1m.
type Rule struct {
	name  string
	rate  Rate
	store Store
}

// NewRule returns a rule counting in store.
func NewRule(name string, rate Rate, store Store) Rule {
	return Rule{name: name, rate: rate, store: store}
}

// Name is the rule's name, for logs.
func (r Rule) Name() string { return r.name }

// Rate is the rule's rate.
func (r Rule) Rate() Rate { return r.rate }

// Single returns the rule's stricter twin, named name: one attempt per the
// same period, counted in the same store.
func (r Rule) Single(name string) Rule {
	single := r
	single.name = name
	if !r.rate.Unlimited() {
		single.rate.Count = 1
	}
	return single
}

// Allow counts an attempt for key. An unlimited rule always allows.
func (r Rule) Allow(ctx context.Context, key string) (Decision, error) {
	if r.rate.Unlimited() || r.store == nil {
		return Decision{Allowed: true}, nil
	}
	return r.store.Allow(ctx, r.storeKey(key), r.rate)
}

// Reset forgets key's attempts, e.g. after a successful signin.
func (r Rule) Reset(ctx context.Context, key string) error {
	if r.rate.Unlimited() || r.store == nil {
		return nil
	}
	return r.store.Reset(ctx, r.storeKey(key))
}

// Refund gives back one attempt that Allow counted for key, when a later
// check refuses the request after all: a refused request costs nothing.
func (r Rule) Refund(ctx context.Context, key string) error {
	if r.rate.Unlimited() || r.store == nil {
		return nil
	}
	return r.store.Refund(ctx, r.storeKey(key), r.rate)
}

// storeKey is the rule's name and a 128-bit digest of key: whatever a
// client sends (a kilobyte of username, say), a counter's key in memory
// or in Redis has one small, fixed size.
func (r Rule) storeKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return r.name + ":" + base64.RawURLEncoding.EncodeToString(sum[:16])
}

// AddressKey is the part of a client address that limits count by: an
// IPv4 address whole, an IPv6 address by its /64 network, since one
// subscriber usually holds a whole /64 and could otherwise take a fresh
// address for every attempt. Anything that is not an address is returned
// as is.
func AddressKey(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	addr = addr.Unmap()
	if addr.Is4() {
		return addr.String()
	}
	prefix, _ := addr.WithZone("").Prefix(64)
	return prefix.String()
}
