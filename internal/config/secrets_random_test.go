package config

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"testing"
)

// Secrets drawn at random the ways the README and the usual tools make
// them are never refused: 200,000 of each, the shortest first (32 hex
// characters is the shortest the length rule lets through).
func TestRandomSecretsAreAccepted(t *testing.T) {
	b := make([]byte, 24)
	for _, tt := range []struct {
		name   string
		encode func([]byte) string
		bytes  int
	}{
		{"openssl rand -hex 16", hex.EncodeToString, 16},
		{"openssl rand -base64 24", base64.StdEncoding.EncodeToString, 24},
	} {
		for range 200_000 {
			rand.Read(b[:tt.bytes])
			secret := tt.encode(b[:tt.bytes])
			if problem := secretProblem(secret); problem != "" {
				t.Fatalf("%s: %q refused: %s", tt.name, secret, problem)
			}
		}
	}
}
