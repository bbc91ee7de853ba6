package auth

import (
	"crypto/ed25519"
	"strings"
	"testing"
	"time"
)

// FuzzVerifyToken feeds arbitrary strings to token verification: it must
// never panic, and a string it accepts must be a token one of the keys
// signed (here: only the tokens issued below, or mutations that keep their
// meaning, such as ignored trailing base64 bits).
func FuzzVerifyToken(f *testing.F) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	_, ed, _ := ed25519.GenerateKey(nil)
	secret := []byte(strings.Repeat("s", 32))
	keys := newTokenKeys(ed25519Key(ed), []tokenKey{hmacKey(secret, false)}, time.Hour, clock)
	hsKeys := newTokenKeys(hmacKey(secret, true), nil, time.Hour, clock)

	edToken, _ := keys.issue(7, 3, now, time.Hour)
	hsToken, _ := hsKeys.issue(7, 3, now, time.Hour)
	for _, seed := range []string{
		edToken, hsToken, "", ".", "..", "a.b.c",
		"eyJhbGciOiJub25lIn0.eyJpZCI6MX0.",
		strings.Repeat("A", 5000),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, token string) {
		for _, k := range []tokenKeys{keys, hsKeys} {
			v, err := k.verify(token)
			if err == nil && (v.userID != 7 || v.sessionID != 3) {
				t.Fatalf("accepted a token for user %d session %d we never issued: %q", v.userID, v.sessionID, token)
			}
		}
	})
}
