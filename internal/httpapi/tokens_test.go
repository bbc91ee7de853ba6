package httpapi_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"jwtauth/internal/auth"
	"jwtauth/internal/store"
	"jwtauth/internal/store/storetest"
)

// sign makes a token the way an attacker or a misconfigured peer might.
func sign(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims, header map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	for k, v := range header {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTokensThatMustFail(t *testing.T) {
	storetest.Run(t, func(t *testing.T, driver string) {
		s := newServer(t, driver)
		id := s.createUser(t, "target", "password-1", roleUser, roleAdmin)
		goneID := s.createUser(t, "gone", "password-1", roleUser)
		good := s.signIn(t, "target", "password-1").AccessToken
		gone := s.signIn(t, "gone", "password-1").AccessToken
		if err := store.DeleteUser(context.Background(), s.db, goneID); err != nil {
			t.Fatal(err)
		}

		now := s.clock.Now()
		valid := func() jwt.MapClaims {
			return jwt.MapClaims{"id": id, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
		}
		secret := []byte(testSecret)
		parts := strings.Split(good, ".")
		tamperedPayload := base64.RawURLEncoding.EncodeToString([]byte(
			`{"id":` + "999" + `,"iat":` + "1" + `,"exp":` + "99999999999" + `}`))

		none := sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, valid(), nil)
		noneUpper := strings.Replace(none, strings.Split(none, ".")[0],
			base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"NONE","typ":"JWT"}`)), 1)
		noExp := valid()
		delete(noExp, "exp")
		stringID := valid()
		stringID["id"] = "1"
		zeroID := valid()
		zeroID["id"] = 0
		expired := valid()
		expired["exp"] = now.Add(-time.Second).Unix()
		expiredWrongKey := sign(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-xx"), expired, nil)

		tests := []struct {
			name, token, msg string
		}{
			{"alg none", none, "Unauthorized!"},
			{"alg NONE", noneUpper, "Unauthorized!"},
			{"HS512 with the same secret", sign(t, jwt.SigningMethodHS512, secret, valid(), nil), "Unauthorized!"},
			{"HS384 with the same secret", sign(t, jwt.SigningMethodHS384, secret, valid(), nil), "Unauthorized!"},
			{"no exp", sign(t, jwt.SigningMethodHS256, secret, noExp, nil), "Unauthorized!"},
			{"wrong secret", sign(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-xx"), valid(), nil), "Unauthorized!"},
			{"tampered payload", parts[0] + "." + tamperedPayload + "." + parts[2], "Unauthorized!"},
			{"signature stripped", parts[0] + "." + parts[1] + ".", "Unauthorized!"},
			{"string id", sign(t, jwt.SigningMethodHS256, secret, stringID, nil), "Unauthorized!"},
			{"zero id", sign(t, jwt.SigningMethodHS256, secret, zeroID, nil), "Unauthorized!"},
			{"unknown kid", sign(t, jwt.SigningMethodHS256, secret, valid(), map[string]any{"kid": "../../etc/passwd"}), "Unauthorized!"},
			{"user deleted", gone, "Unauthorized!"},
			// Past the 32-bit users.id column: refused before any query
			// (PostgreSQL would fail the comparison itself).
			{"id 2^31", sign(t, jwt.SigningMethodHS256, secret, with(valid(), "id", int64(1)<<31), nil), "Unauthorized!"},
			{"id 2^53", sign(t, jwt.SigningMethodHS256, secret, with(valid(), "id", int64(1)<<53), nil), "Unauthorized!"},
			{"id 2^63-1", sign(t, jwt.SigningMethodHS256, secret, with(valid(), "id", int64(math.MaxInt64)), nil), "Unauthorized!"},
			{"id beyond int64", sign(t, jwt.SigningMethodHS256, secret, with(valid(), "id", json.Number("9223372036854775808")), nil), "Unauthorized!"},
			{"session id 2^63-1", sign(t, jwt.SigningMethodHS256, secret, with(valid(), "sid", int64(math.MaxInt64)), nil), "Unauthorized!"},
			{"session id beyond int64", sign(t, jwt.SigningMethodHS256, secret, with(valid(), "sid", json.Number("18446744073709551616")), nil), "Unauthorized!"},
			{"session id fractional", sign(t, jwt.SigningMethodHS256, secret, with(valid(), "sid", 1.5), nil), "Unauthorized!"},
			{"crit header", sign(t, jwt.SigningMethodHS256, secret, valid(), map[string]any{"crit": []string{"exp"}}), "Unauthorized!"},
			{"exp as a string", sign(t, jwt.SigningMethodHS256, secret, with(valid(), "exp", strconv.FormatInt(now.Add(time.Hour).Unix(), 10)), nil), "Unauthorized!"},
			{"no iat", sign(t, jwt.SigningMethodHS256, secret, without(valid(), "iat"), nil), "Unauthorized!"},
			{"lifetime past 24h and a minute", sign(t, jwt.SigningMethodHS256, secret, with(valid(), "exp", now.Add(24*time.Hour+61*time.Second).Unix()), nil), "Unauthorized!"},
			{"expired", sign(t, jwt.SigningMethodHS256, secret, expired, nil), "Unauthorized! Access Token was expired!"},
			// Expiry is only reported for a token we signed.
			{"expired and forged", expiredWrongKey, "Unauthorized!"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				for _, path := range []string{"/api/test/user", "/api/test/admin"} {
					wantJSON(t, s.get(t, path, tt.token), 401, tt.msg)
				}
			})
		}

		// A token without kid, signed with the current secret, is accepted.
		wantText(t, s.get(t, "/api/test/admin", sign(t, jwt.SigningMethodHS256, secret, valid(), nil)), 200, "Admin Content.")
		// So is one in the original's shape and lifetime ({id, iat, exp},
		// 24 h, no session), and one signed a few seconds ahead of our clock.
		wantText(t, s.get(t, "/api/test/admin", sign(t, jwt.SigningMethodHS256, secret,
			with(valid(), "exp", now.Add(24*time.Hour).Unix()), nil)), 200, "Admin Content.")
		wantText(t, s.get(t, "/api/test/admin", sign(t, jwt.SigningMethodHS256, secret,
			with(with(valid(), "iat", now.Add(30*time.Second).Unix()), "exp", now.Add(24*time.Hour).Unix()), nil)), 200, "Admin Content.")
	})
}

// The token the server issues expires after the configured TTL.
func TestIssuedTokenExpires(t *testing.T) {
	s := newServer(t, "sqlite", func(o *auth.Options) { o.AccessTokenTTL = time.Minute })
	s.createUser(t, "plain", "password-1", roleUser)
	token := s.signIn(t, "plain", "password-1").AccessToken
	s.clock.Advance(59 * time.Second)
	wantText(t, s.get(t, "/api/test/user", token), 200, "User Content.")
	s.clock.Advance(2 * time.Second)
	wantJSON(t, s.get(t, "/api/test/user", token), 401, "Unauthorized! Access Token was expired!")
}
