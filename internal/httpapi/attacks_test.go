package httpapi_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"jwtauth/internal/auth"
	"jwtauth/internal/store/storetest"
)

// with returns claims with name set to v.
func with(claims jwt.MapClaims, name string, v any) jwt.MapClaims {
	claims[name] = v
	return claims
}

// without returns claims without name.
func without(claims jwt.MapClaims, name string) jwt.MapClaims {
	delete(claims, name)
	return claims
}

// The attacks of RFC 8725 (JWT Best Current Practices) and the OWASP JWT
// cheat sheet, each with the answer it must get. The server signs with
// EdDSA and still verifies HS256 with its secret: both key types are in
// play, which is where algorithm confusion lives.
func TestJWTAttacks(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	db := storetest.Open(t, "sqlite")
	s := serverOn(t, db, func(o *auth.Options) { o.SigningKey = key })
	id := s.createUser(t, "target", "password-1", roleUser, roleAdmin)
	good := s.signIn(t, "target", "password-1").AccessToken
	pub := key.Public().(ed25519.PublicKey)
	pubDER, _ := x509.MarshalPKIXPublicKey(pub)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	edKID := header(t, good)["kid"]

	now := s.clock.Now()
	claims := func() jwt.MapClaims {
		return jwt.MapClaims{"id": id, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	}
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	payload := b64(`{"id":` + "1" + `,"iat":` + "1" + `,"exp":` + "99999999999" + `}`)
	parts := strings.Split(good, ".")
	_, attackerKey, _ := ed25519.GenerateKey(rand.Reader)

	withNone := func(alg string) string { return b64(`{"alg":"`+alg+`","typ":"JWT"}`) + "." + payload + "." }
	tests := []struct {
		name, token string
		status      int
		msg         string
	}{
		{"alg none", withNone("none"), 401, "Unauthorized!"},
		{"alg None", withNone("None"), 401, "Unauthorized!"},
		{"alg NONE", withNone("NONE"), 401, "Unauthorized!"},
		{"alg nOnE", withNone("nOnE"), 401, "Unauthorized!"},
		{"alg none with the real signature", b64(`{"alg":"none","kid":"`+edKID.(string)+`"}`) + "." + parts[1] + "." + parts[2], 401, "Unauthorized!"},
		{"alg confusion: HS256 keyed with the Ed25519 public key", sign(t, jwt.SigningMethodHS256, []byte(pub), claims(), map[string]any{"kid": edKID}), 401, "Unauthorized!"},
		{"alg confusion: HS256 keyed with the public key PEM", sign(t, jwt.SigningMethodHS256, pubPEM, claims(), map[string]any{"kid": edKID}), 401, "Unauthorized!"},
		{"alg confusion: HS256 keyed with the public key PEM, no kid", sign(t, jwt.SigningMethodHS256, pubPEM, claims(), nil), 401, "Unauthorized!"},
		{"alg RS256 header", b64(`{"alg":"RS256","typ":"JWT"}`) + "." + payload + "." + b64("sig"), 401, "Unauthorized!"},
		{"HS512 with the shared secret", sign(t, jwt.SigningMethodHS512, []byte(testSecret), claims(), nil), 401, "Unauthorized!"},
		{"kid path traversal", sign(t, jwt.SigningMethodHS256, []byte(""), claims(), map[string]any{"kid": "../../../../dev/null"}), 401, "Unauthorized!"},
		{"kid SQL injection", sign(t, jwt.SigningMethodHS256, []byte(testSecret), claims(), map[string]any{"kid": "x' OR '1'='1"}), 401, "Unauthorized!"},
		{"kid as a URL", sign(t, jwt.SigningMethodEdDSA, attackerKey, claims(), map[string]any{"kid": "https://evil.example/jwks.json"}), 401, "Unauthorized!"},
		{"kid as a number", sign(t, jwt.SigningMethodEdDSA, key, claims(), map[string]any{"kid": 7}), 401, "Unauthorized!"},
		{"kid as an object", sign(t, jwt.SigningMethodEdDSA, key, claims(), map[string]any{"kid": map[string]any{"$ne": ""}}), 401, "Unauthorized!"},
		{"embedded jwk of the attacker's key", sign(t, jwt.SigningMethodEdDSA, attackerKey, claims(), map[string]any{
			"jwk": map[string]any{"kty": "OKP", "crv": "Ed25519", "x": base64.RawURLEncoding.EncodeToString(attackerKey.Public().(ed25519.PublicKey))}}), 401, "Unauthorized!"},
		{"jku to the attacker's keys", sign(t, jwt.SigningMethodEdDSA, attackerKey, claims(), map[string]any{"jku": "https://evil.example/jwks.json"}), 401, "Unauthorized!"},
		{"x5u to the attacker's certificate", sign(t, jwt.SigningMethodEdDSA, attackerKey, claims(), map[string]any{"x5u": "https://evil.example/cert.pem"}), 401, "Unauthorized!"},
		{"the attacker's key under our kid", sign(t, jwt.SigningMethodEdDSA, attackerKey, claims(), map[string]any{"kid": edKID}), 401, "Unauthorized!"},
		{"signature stripped", parts[0] + "." + parts[1] + ".", 401, "Unauthorized!"},
		{"signature of another token", parts[0] + "." + payload + "." + parts[2], 401, "Unauthorized!"},
		{"padded base64", parts[0] + "=." + parts[1] + "." + parts[2], 401, "Unauthorized!"},
		{"four parts", good + ".extra", 401, "Unauthorized!"},
		{"five parts (JWE shape)", "a.b.c.d.e", 401, "Unauthorized!"},
		{"two parts", parts[0] + "." + parts[1], 401, "Unauthorized!"},
		{"oversized", parts[0] + "." + strings.Repeat("A", 8000) + "." + parts[2], 401, "Unauthorized!"},
		{"non-ASCII", "é.é.é", 401, "Unauthorized!"},
		{"a tab inside", parts[0] + "\t." + parts[1] + "." + parts[2], 401, "Unauthorized!"},
		{"not yet valid (nbf)", sign(t, jwt.SigningMethodEdDSA, key, with(claims(), "nbf", now.Add(time.Minute).Unix()), map[string]any{"kid": edKID}), 401, "Unauthorized!"},
		{"negative session id", sign(t, jwt.SigningMethodEdDSA, key, with(claims(), "sid", -1), map[string]any{"kid": edKID}), 401, "Unauthorized!"},
		{"expired, genuine", sign(t, jwt.SigningMethodEdDSA, key, with(claims(), "exp", now.Add(-time.Minute).Unix()), map[string]any{"kid": edKID}), 401, "Unauthorized! Access Token was expired!"},
		// RFC 7515 4.1.11: a "crit" header lists extensions the verifier
		// must understand or refuse the token; jwtauth understands none.
		{"crit header", sign(t, jwt.SigningMethodEdDSA, key, claims(), map[string]any{"kid": edKID, "crit": []string{"exp"}}), 401, "Unauthorized!"},
		{"crit header, b64 false", sign(t, jwt.SigningMethodEdDSA, key, claims(), map[string]any{"kid": edKID, "crit": []string{"b64"}, "b64": false}), 401, "Unauthorized!"},
		{"crit header, empty", sign(t, jwt.SigningMethodEdDSA, key, claims(), map[string]any{"kid": edKID, "crit": []string{}}), 401, "Unauthorized!"},
		// RFC 7519 NumericDate is a JSON number; a string is another
		// verifier's idea of a date, or a far-future one in disguise.
		{"exp as a string", sign(t, jwt.SigningMethodEdDSA, key, with(claims(), "exp", "99999999999"), map[string]any{"kid": edKID}), 401, "Unauthorized!"},
		{"iat as a string", sign(t, jwt.SigningMethodEdDSA, key, with(claims(), "iat", strconv.FormatInt(now.Unix(), 10)), map[string]any{"kid": edKID}), 401, "Unauthorized!"},
		{"nbf as a string", sign(t, jwt.SigningMethodEdDSA, key, with(claims(), "nbf", strconv.FormatInt(now.Unix(), 10)), map[string]any{"kid": edKID}), 401, "Unauthorized!"},
		// Every token jwtauth or the original issues has iat, and lives
		// at most max(ACCESS_TOKEN_TTL, the original's 24 h).
		{"no iat", sign(t, jwt.SigningMethodEdDSA, key, without(claims(), "iat"), map[string]any{"kid": edKID}), 401, "Unauthorized!"},
		{"ten-year lifetime", sign(t, jwt.SigningMethodEdDSA, key, with(claims(), "exp", now.AddDate(10, 0, 0).Unix()), map[string]any{"kid": edKID}), 401, "Unauthorized!"},
		{"iat in the future", sign(t, jwt.SigningMethodEdDSA, key, with(with(claims(), "iat", now.AddDate(1, 0, 0).Unix()), "exp", now.AddDate(1, 0, 0).Add(time.Hour).Unix()), map[string]any{"kid": edKID}), 401, "Unauthorized!"},
		{"id beyond the users table", sign(t, jwt.SigningMethodEdDSA, key, with(claims(), "id", int64(1)<<31), map[string]any{"kid": edKID}), 401, "Unauthorized!"},
		{"session id beyond int64", sign(t, jwt.SigningMethodEdDSA, key, with(claims(), "sid", json.Number("9223372036854775808")), map[string]any{"kid": edKID}), 401, "Unauthorized!"},
		{"the genuine token", good, 200, "Admin Content."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.do(t, request{method: "GET", path: "/api/test/admin", header: map[string]string{"x-access-token": tt.token}})
			if tt.status == 200 {
				wantText(t, r, 200, tt.msg)
				return
			}
			wantJSON(t, r, tt.status, tt.msg)
		})
	}

	t.Run("tokens in both headers", func(t *testing.T) {
		forged := sign(t, jwt.SigningMethodEdDSA, attackerKey, claims(), map[string]any{"kid": edKID})
		for _, h := range []map[string]string{
			{"x-access-token": good, "Authorization": "Bearer " + forged},
			{"x-access-token": forged, "Authorization": "Bearer " + good},
		} {
			wantJSON(t, s.do(t, request{method: "GET", path: "/api/test/admin", header: h}), 401, "Unauthorized!")
		}
		wantText(t, s.do(t, request{method: "GET", path: "/api/test/admin",
			header: map[string]string{"x-access-token": good, "Authorization": "Bearer " + good}}), 200, "Admin Content.")
	})
}
