package auth

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// maxTokenLength bounds the work a forged token can cause; real ones are
// about 200 bytes.
const maxTokenLength = 4096

// accessClaims is the payload of an access token: the original's numeric
// "id" claim plus iat and exp.
type accessClaims struct {
	ID int64 `json:"id"`
	jwt.RegisteredClaims
}

// tokenKeys signs and verifies access tokens with one HS256 secret. Its kid
// is derived from the secret, so every instance sharing the secret agrees on
// it without configuration.
type tokenKeys struct {
	secret []byte
	kid    string
	parser *jwt.Parser
}

func newTokenKeys(secret []byte, now func() time.Time) tokenKeys {
	sum := sha256.Sum256(secret)
	return tokenKeys{
		secret: secret,
		kid:    base64.RawURLEncoding.EncodeToString(sum[:9]),
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
			jwt.WithExpirationRequired(),
			jwt.WithTimeFunc(now),
		),
	}
}

func (k tokenKeys) issue(userID int64, now time.Time, ttl time.Duration) (string, error) {
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, accessClaims{
		ID: userID,
		RegisteredClaims: jwt.RegisteredClaims{
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
	})
	t.Header["kid"] = k.kid
	return t.SignedString(k.secret)
}

var errUnknownKey = errors.New("unknown kid")

// verify checks the token's algorithm, signature and expiry (in that order:
// an expired token is reported as expired only when its signature is good)
// and returns its user id.
func (k tokenKeys) verify(token string) (int64, error) {
	if len(token) > maxTokenLength {
		return 0, ErrTokenInvalid
	}
	var claims accessClaims
	_, err := k.parser.ParseWithClaims(token, &claims, func(t *jwt.Token) (any, error) {
		if kid, ok := t.Header["kid"]; ok && kid != k.kid {
			return nil, fmt.Errorf("%w %v", errUnknownKey, kid)
		}
		return k.secret, nil
	})
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return 0, ErrTokenExpired
	case err != nil, claims.ID <= 0:
		return 0, ErrTokenInvalid
	}
	return claims.ID, nil
}
