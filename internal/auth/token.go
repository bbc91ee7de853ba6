package auth

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// maxTokenLength bounds the work a forged token can cause; real ones are
// about 250 bytes.
const maxTokenLength = 4096

// accessClaims is the payload of an access token: the original's numeric
// "id" claim, the session it belongs to, iat and exp.
type accessClaims struct {
	ID  int64 `json:"id"`
	SID int64 `json:"sid,omitempty"`
	jwt.RegisteredClaims
}

// tokenKey is one key access tokens are signed or verified with. Its
// algorithm is fixed: a token naming this key's kid with another "alg" is
// refused, which closes the algorithm-confusion hole (an HS256 token
// "signed" with an Ed25519 public key).
type tokenKey struct {
	kid    string
	method jwt.SigningMethod
	sign   any // nil for keys that only verify
	verify any
}

// tokenKeys signs with one key and verifies with it and any previous ones.
type tokenKeys struct {
	current tokenKey
	byKID   map[string]tokenKey
	parser  *jwt.Parser
}

// hmacKey derives a secret's kid from its hash, so every instance sharing
// the secret agrees on it without configuration and the kid reveals
// nothing usable about the secret.
func hmacKey(secret []byte, canSign bool) tokenKey {
	sum := sha256.Sum256(secret)
	k := tokenKey{kid: base64.RawURLEncoding.EncodeToString(sum[:9]), method: jwt.SigningMethodHS256, verify: secret}
	if canSign {
		k.sign = secret
	}
	return k
}

// ed25519Key names the key by its RFC 7638 JWK thumbprint.
func ed25519Key(priv ed25519.PrivateKey) tokenKey {
	pub := priv.Public().(ed25519.PublicKey)
	return tokenKey{kid: jwkThumbprint(pub), method: jwt.SigningMethodEdDSA, sign: priv, verify: pub}
}

// newTokenKeys signs with signing and also accepts tokens from verifyOnly.
func newTokenKeys(signing tokenKey, verifyOnly []tokenKey, now func() time.Time) tokenKeys {
	k := tokenKeys{current: signing, byKID: map[string]tokenKey{signing.kid: signing}}
	algs := map[string]bool{signing.method.Alg(): true}
	for _, v := range verifyOnly {
		if _, dup := k.byKID[v.kid]; !dup {
			k.byKID[v.kid] = v
			algs[v.method.Alg()] = true
		}
	}
	var valid []string
	for alg := range algs {
		valid = append(valid, alg)
	}
	k.parser = jwt.NewParser(jwt.WithValidMethods(valid), jwt.WithExpirationRequired(), jwt.WithTimeFunc(now))
	return k
}

func (k tokenKeys) issue(userID, sessionID int64, now time.Time, ttl time.Duration) (string, error) {
	t := jwt.NewWithClaims(k.current.method, accessClaims{
		ID:  userID,
		SID: sessionID,
		RegisteredClaims: jwt.RegisteredClaims{
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
	})
	t.Header["kid"] = k.current.kid
	return t.SignedString(k.current.sign)
}

var errUnknownKey = errors.New("unknown kid")

// verify checks the token's key, algorithm, signature and expiry (in that
// order: an expired token is reported as expired only when its signature
// is good) and returns its user and session ids and when it expires. A
// token without kid is checked against the current key.
func (k tokenKeys) verify(token string) (userID, sessionID int64, expires time.Time, err error) {
	if len(token) > maxTokenLength {
		return 0, 0, time.Time{}, ErrTokenInvalid
	}
	var claims accessClaims
	_, err = k.parser.ParseWithClaims(token, &claims, func(t *jwt.Token) (any, error) {
		key := k.current
		if kid, ok := t.Header["kid"]; ok {
			s, isString := kid.(string)
			if key, ok = k.byKID[s]; !isString || !ok {
				return nil, fmt.Errorf("%w %v", errUnknownKey, kid)
			}
		}
		if t.Method.Alg() != key.method.Alg() {
			return nil, fmt.Errorf("alg %s for a %s key", t.Method.Alg(), key.method.Alg())
		}
		return key.verify, nil
	})
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return 0, 0, time.Time{}, ErrTokenExpired
	case err != nil, claims.ID <= 0, claims.SID < 0:
		return 0, 0, time.Time{}, ErrTokenInvalid
	}
	return claims.ID, claims.SID, claims.ExpiresAt.Time, nil
}
