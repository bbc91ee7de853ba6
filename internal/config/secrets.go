package config

import (
	"fmt"
	"math"
	"slices"
)

// MinSecretBits is the least entropy, as secretBits estimates it, that a
// JWT_SECRET must show. The estimate reads the characters a secret shows,
// so it falls short of a random secret's real entropy: 32 random hex
// characters (`openssl rand -hex 16`, 128 bits) come out near 110 bits
// and, once in millions, under 90. 80 refuses every trivially weak secret
// (repeats, runs, a word said again and again score far below it) and
// never a random one.
const MinSecretBits = 80

// makeSecret is how every refusal of a secret ends: what to use instead.
const makeSecret = " (make one with: openssl rand -base64 48)"

// knownSecrets are the secrets jwtauth's repository shows (example files,
// documentation, tests, benchmarks). They are public, so anyone could sign
// tokens with them. A test scans the repository for JWT_SECRET=... and
// fails on any it finds that Load accepts, so a new example arrives here.
var knownSecrets = []string{
	"change-me-to-48-random-bytes-change-me-to-48-random", // configs/jwtauth.env.example
	"the-old-secret-of-at-least-32-bytes-long",            // configs/jwtauth.env.example
	"bench-secret-0123456789-0123456789-0123456789",       // bench, until it drew one per run
	"test-secret-0123456789-0123456789-abcdef",            // internal/httpapi tests
}

// secretProblem says why secret must not sign tokens, or "" when it may.
func secretProblem(secret string) string {
	switch {
	case len(secret) < MinSecretLength:
		return fmt.Sprintf("must be at least %d bytes, got %d", MinSecretLength, len(secret)) + makeSecret
	case slices.Contains(knownSecrets, secret):
		return "is an example published with jwtauth, so anyone can forge tokens with it" + makeSecret
	}
	if bits := secretBits(secret); bits < MinSecretBits {
		return fmt.Sprintf("is too predictable (about %.0f bits of entropy, want at least %d)", bits, MinSecretBits) + makeSecret
	}
	return ""
}

// secretBits estimates the entropy of a secret from what it shows, as a
// guesser would start: its length times the Shannon entropy of its bytes,
// or of the steps between them when that is lower (so a run such as
// "abcdef..." counts as little as "aaaa..."), over its shortest repeating
// unit (so "passwordpassword..." counts one "password"). It cannot see that
// a long phrase is made of words; it only catches the trivially weak.
func secretBits(secret string) float64 {
	unit := []byte(secret[:period(secret)])
	steps := make([]byte, 0, len(unit))
	for i := 1; i < len(unit); i++ {
		steps = append(steps, unit[i]-unit[i-1])
	}
	return min(float64(len(unit))*shannon(unit), float64(len(steps))*shannon(steps))
}

// period is the length of the shortest prefix of s that, repeated, gives s
// (the last repetition may be cut short): len(s) when nothing repeats. It
// is len(s) less the longest proper prefix that is also a suffix (KMP).
func period(s string) int {
	if s == "" {
		return 0
	}
	border := make([]int, len(s))
	for i := 1; i < len(s); i++ {
		k := border[i-1]
		for k > 0 && s[i] != s[k] {
			k = border[k-1]
		}
		if s[i] == s[k] {
			k++
		}
		border[i] = k
	}
	return len(s) - border[len(s)-1]
}

// shannon is the entropy, in bits per byte, of the bytes of b.
func shannon(b []byte) float64 {
	var counts [256]int
	for _, c := range b {
		counts[c]++
	}
	h := 0.0
	for _, n := range counts {
		if n > 0 {
			p := float64(n) / float64(len(b))
			h -= p * math.Log2(p)
		}
	}
	return h
}
