package auth

import (
	"crypto/ed25519"
	"strings"
	"testing"
	"time"
)

// BenchmarkVerifyToken is a full check of an access token: parse, key,
// algorithm, signature, expiry. The principal cache spares it on warm
// tokens; a cold token pays it once per AUTHZ_CACHE_TTL.
func BenchmarkVerifyToken(b *testing.B) {
	now := time.Now()
	clock := func() time.Time { return now }
	_, ed, _ := ed25519.GenerateKey(nil)
	for name, key := range map[string]tokenKey{
		"HS256": hmacKey([]byte(strings.Repeat("s", 32)), true),
		"EdDSA": ed25519Key(ed),
	} {
		b.Run(name, func(b *testing.B) {
			k := newTokenKeys(key, nil, time.Hour, clock)
			token, _ := k.issue(42, 7, now, time.Hour)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := k.verify(token); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPrincipalCacheHit is a warm token check: one cache lookup by
// the token and an expiry comparison.
func BenchmarkPrincipalCacheHit(b *testing.B) {
	now := time.Now()
	clock := func() time.Time { return now }
	k := newTokenKeys(hmacKey([]byte(strings.Repeat("s", 32)), true), nil, time.Hour, clock)
	p := newPrincipals(nil, k, time.Hour, clock, false)
	tokens := make([]string, 1000)
	for i := range tokens {
		tokens[i], _ = k.issue(int64(i+1), 1, now, time.Hour)
		p.cache.Set(tokens[i], principalEntry{userID: int64(i + 1), sessionID: 1, expires: now.Add(time.Hour), roles: []string{"user"}, found: true})
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := p.get(b.Context(), tokens[i%len(tokens)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
