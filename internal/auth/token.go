package auth

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"jwtauth/internal/store"
)

// maxTokenLength bounds the work a forged token can cause; real ones are
// about 250 bytes.
const maxTokenLength = 4096

// originalTokenTTL is the lifetime of the original's tokens (its jwt.sign
// expiresIn: 86400), which a drop-in deployment may still be presented.
const originalTokenTTL = 24 * time.Hour

// clockSkew is how far the clock of whoever issued a token may run ahead
// of ours: its iat may be this far in the future, and its lifetime this
// much longer than the longest we accept.
const clockSkew = time.Minute

// accessClaims is the payload of an access token: the original's numeric
// "id" claim, the session it belongs to, iat and exp (and nbf, honoured if
// present). Other claims are ignored.
type accessClaims struct {
	ID        int64        `json:"id"`
	SID       int64        `json:"sid,omitempty"`
	IssuedAt  *numericDate `json:"iat,omitempty"`
	ExpiresAt *numericDate `json:"exp,omitempty"`
	NotBefore *numericDate `json:"nbf,omitempty"`
}

// The jwt.Claims methods, for the library's checks of exp and nbf.
func (c accessClaims) GetExpirationTime() (*jwt.NumericDate, error) { return c.ExpiresAt.date(), nil }
func (c accessClaims) GetIssuedAt() (*jwt.NumericDate, error)       { return c.IssuedAt.date(), nil }
func (c accessClaims) GetNotBefore() (*jwt.NumericDate, error)      { return c.NotBefore.date(), nil }
func (c accessClaims) GetIssuer() (string, error)                   { return "", nil }
func (c accessClaims) GetSubject() (string, error)                  { return "", nil }
func (c accessClaims) GetAudience() (jwt.ClaimStrings, error)       { return nil, nil }

// numericDate is a date claim that must be a JSON number, as RFC 7519
// defines NumericDate. jwt.NumericDate also reads a number written as a
// string ("exp":"99999999999", through json.Number), which other verifiers
// read differently or refuse; a token whose dates are disputable is not
// one jwtauth or the original issued.
type numericDate struct{ jwt.NumericDate }

var errDateNotNumber = errors.New("date claim is not a JSON number")

func (d *numericDate) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		return errDateNotNumber
	}
	return d.NumericDate.UnmarshalJSON(b)
}

func (d *numericDate) date() *jwt.NumericDate {
	if d == nil {
		return nil
	}
	return &d.NumericDate
}

func newNumericDate(t time.Time) *numericDate { return &numericDate{*jwt.NewNumericDate(t)} }

// verifiedToken is what a valid access token says.
type verifiedToken struct {
	userID, sessionID int64
	issued, expires   time.Time
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
	// identity parses a token checking its key, algorithm and signature
	// only: whose it is, whether or not it is still valid (see identify).
	identity *jwt.Parser
	now      func() time.Time
	// maxLifetime is the longest exp - iat accepted: a token that claims to
	// live longer was not issued by jwtauth or the original.
	maxLifetime time.Duration
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

// newTokenKeys signs with signing and also accepts tokens from verifyOnly
// that live at most the longer of accessTTL and the original's 24 hours.
func newTokenKeys(signing tokenKey, verifyOnly []tokenKey, accessTTL time.Duration, now func() time.Time) tokenKeys {
	k := tokenKeys{current: signing, byKID: map[string]tokenKey{signing.kid: signing}, now: now,
		maxLifetime: max(accessTTL, originalTokenTTL) + clockSkew}
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
	k.identity = jwt.NewParser(jwt.WithValidMethods(valid), jwt.WithoutClaimsValidation())
	return k
}

func (k tokenKeys) issue(userID, sessionID int64, now time.Time, ttl time.Duration) (string, error) {
	t := jwt.NewWithClaims(k.current.method, accessClaims{
		ID:        userID,
		SID:       sessionID,
		IssuedAt:  newNumericDate(now),
		ExpiresAt: newNumericDate(now.Add(ttl)),
	})
	t.Header["kid"] = k.current.kid
	return t.SignedString(k.current.sign)
}

var errUnknownKey = errors.New("unknown kid")

// verify checks the token's key, algorithm, signature and expiry (in that
// order: an expired token is reported as expired only when its signature
// is good), then that it has iat, not in the future, and a lifetime no
// longer than maxLifetime, and that its ids fit the tables. A token
// without kid is checked against the current key.
func (k tokenKeys) verify(token string) (verifiedToken, error) {
	if len(token) > maxTokenLength {
		return verifiedToken{}, ErrTokenInvalid
	}
	var claims accessClaims
	_, err := k.parser.ParseWithClaims(token, &claims, k.key)
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return verifiedToken{}, ErrTokenExpired
	case err != nil, claims.ID <= 0, claims.ID > store.MaxUserID, claims.SID < 0, claims.IssuedAt == nil:
		return verifiedToken{}, ErrTokenInvalid
	}
	v := verifiedToken{userID: claims.ID, sessionID: claims.SID, issued: claims.IssuedAt.Time, expires: claims.ExpiresAt.Time}
	if v.expires.Sub(v.issued) > k.maxLifetime || v.issued.After(k.now().Add(clockSkew)) {
		return verifiedToken{}, ErrTokenInvalid
	}
	return v, nil
}

// key finds the key a token names and checks that its algorithm is the
// key's own.
func (k tokenKeys) key(t *jwt.Token) (any, error) {
	// RFC 7515 4.1.11: extensions listed in "crit" must be understood,
	// and jwtauth understands none.
	if _, ok := t.Header["crit"]; ok {
		return nil, errors.New("crit header")
	}
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
}

// identify says whose token this is, user and session, from its signature
// alone: an expired token of ours still names its session. It grants
// nothing; it tells whether two credentials are the same signin's.
func (k tokenKeys) identify(token string) (userID, sessionID int64, ok bool) {
	if len(token) > maxTokenLength {
		return 0, 0, false
	}
	var claims accessClaims
	if _, err := k.identity.ParseWithClaims(token, &claims, k.key); err != nil || claims.ID <= 0 {
		return 0, 0, false
	}
	return claims.ID, claims.SID, true
}
