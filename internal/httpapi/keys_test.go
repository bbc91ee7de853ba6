package httpapi_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"jwtauth/internal/auth"
	"jwtauth/internal/store/storetest"
)

func header(t *testing.T, token string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

// Rotating JWT_SECRET keeps tokens signed with the previous secret valid;
// new tokens are signed with the new one and name it.
func TestSecretRotation(t *testing.T) {
	storetest.Run(t, func(t *testing.T, driver string) {
		db := storetest.Open(t, driver)
		const oldSecret = "old-secret-0123456789-0123456789-abcdef"
		const newSecret = "new-secret-0123456789-0123456789-abcdef"
		before := serverOn(t, db, func(o *auth.Options) { o.Secret = []byte(oldSecret) })
		before.createUser(t, "rotated", "password-1", roleUser)
		oldToken := before.signIn(t, "rotated", "password-1").AccessToken

		after := serverOn(t, db, func(o *auth.Options) {
			o.Secret = []byte(newSecret)
			o.PreviousSecrets = [][]byte{[]byte(oldSecret)}
		})
		wantText(t, after.get(t, "/api/test/user", oldToken), 200, "User Content.")
		newToken := after.signIn(t, "rotated", "password-1").AccessToken
		if header(t, newToken)["kid"] == header(t, oldToken)["kid"] {
			t.Error("the new token names the old key")
		}
		wantText(t, after.get(t, "/api/test/user", newToken), 200, "User Content.")
		// The old configuration does not know the new key.
		wantJSON(t, before.get(t, "/api/test/user", newToken), 401, "Unauthorized!")

		// A token without kid is checked against the current key only.
		now := after.clock.Now()
		noKID := func(secret string) string {
			return sign(t, jwt.SigningMethodHS256, []byte(secret), jwt.MapClaims{
				"id": 1, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}, nil)
		}
		wantText(t, after.get(t, "/api/test/user", noKID(newSecret)), 200, "User Content.")
		wantJSON(t, after.get(t, "/api/test/user", noKID(oldSecret)), 401, "Unauthorized!")
	})
}

func TestEdDSATokensAndJWKS(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "keys", "jwtauth-ed25519.pem")
	key, created, err := auth.LoadOrCreateEd25519Key(keyFile)
	if err != nil || !created {
		t.Fatalf("create key: %v %v", created, err)
	}
	again, created, err := auth.LoadOrCreateEd25519Key(keyFile)
	if err != nil || created || !again.Equal(key) {
		t.Fatalf("reload key: created=%v err=%v same=%v", created, err, again.Equal(key))
	}

	// Before the switch: HS256, with nothing to publish.
	db := storetest.Open(t, "sqlite")
	hs := serverOn(t, db)
	hs.createUser(t, "edward", "password-1", roleUser, roleAdmin)
	before := hs.signIn(t, "edward", "password-1").AccessToken
	if r := hs.get(t, "/.well-known/jwks.json", ""); r.status != 200 || string(r.body) != `{"keys":[]}` {
		t.Errorf("HS256 jwks: %d %s", r.status, r.body)
	}

	// After: EdDSA, the secret kept to verify what it signed.
	s := serverOn(t, db, func(o *auth.Options) { o.SigningKey = key })
	wantText(t, s.get(t, "/api/test/user", before), 200, "User Content.")
	token := s.signIn(t, "edward", "password-1").AccessToken
	h := header(t, token)
	if h["alg"] != "EdDSA" {
		t.Fatalf("alg = %v, want EdDSA", h["alg"])
	}
	wantText(t, s.get(t, "/api/test/admin", token), 200, "Admin Content.")

	// An independent verifier: the JWKS document and crypto/ed25519 only.
	r := s.get(t, "/.well-known/jwks.json", "")
	if r.status != 200 || !strings.HasPrefix(r.contentType(), "application/json") {
		t.Fatalf("jwks: %d %s", r.status, r.body)
	}
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(r.body, &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("jwks %s: %v", r.body, err)
	}
	jwk := set.Keys[0]
	if jwk["kty"] != "OKP" || jwk["crv"] != "Ed25519" || jwk["alg"] != "EdDSA" || jwk["use"] != "sig" || jwk["kid"] != h["kid"] {
		t.Errorf("jwk = %v, token header = %v", jwk, h)
	}
	pub, err := base64.RawURLEncoding.DecodeString(jwk["x"])
	if err != nil || len(pub) != ed25519.PublicKeySize {
		t.Fatalf("x: %v", err)
	}
	parts := strings.Split(token, ".")
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	if !ed25519.Verify(pub, []byte(parts[0]+"."+parts[1]), sig) {
		t.Error("the token does not verify with the published key")
	}
	var claims map[string]any
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	json.Unmarshal(payload, &claims)
	if claims["id"] != float64(1) || claims["exp"] == nil || claims["iat"] == nil {
		t.Errorf("claims = %v", claims)
	}

	now := s.clock.Now()
	claimsFor := jwt.MapClaims{"id": 1, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	// Algorithm confusion: HS256 "signed" with the public key, naming the Ed25519 kid.
	confused := sign(t, jwt.SigningMethodHS256, pub, claimsFor, map[string]any{"kid": jwk["kid"]})
	wantJSON(t, s.get(t, "/api/test/user", confused), 401, "Unauthorized!")
	// A kid-less HS256 token is checked against the current (Ed25519) key: refused.
	wantJSON(t, s.get(t, "/api/test/user", sign(t, jwt.SigningMethodHS256, []byte(testSecret), claimsFor, nil)), 401, "Unauthorized!")
}
