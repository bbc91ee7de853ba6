// Package auth holds jwtauth's rules: who may sign up with which roles, how
// passwords are checked, hashed (in a bounded pool) and upgraded, how
// signins are limited per account, how access tokens are signed, verified
// and published (JWKS), how refresh-token sessions rotate and are revoked,
// what a token's bearer may do, what an admin may change, and the audit
// events all of that writes. It knows nothing of HTTP.
package auth

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"gorm.io/gorm"

	"jwtauth/internal/bcrypt"
	"jwtauth/internal/mail"
	"jwtauth/internal/ratelimit"
	"jwtauth/internal/store"
)

// Options configures a Service.
type Options struct {
	// Secret signs access tokens (HS256), at least 32 bytes. With a
	// SigningKey it only verifies, and may be empty.
	Secret []byte
	// PreviousSecrets still verify tokens signed before a rotation.
	PreviousSecrets [][]byte
	// SigningKey, when set, signs access tokens with EdDSA instead.
	SigningKey ed25519.PrivateKey
	// AccessTokenTTL is the lifetime of an access token.
	AccessTokenTTL time.Duration
	// RefreshTokenTTL is the lifetime of one refresh token.
	RefreshTokenTTL time.Duration
	// SessionMaxAge is the lifetime of a session however often it is refreshed.
	SessionMaxAge time.Duration
	// RefreshReuseGrace lets a refresh token be exchanged again this long
	// after its first exchange (two tabs at once) before it counts as a replay.
	RefreshReuseGrace time.Duration
	// KeepRefreshToken turns rotation off: a refresh hands back the token it
	// was given, as the original's refresh-token variant does, for clients
	// that never store the new one. Replays then cannot be detected.
	KeepRefreshToken bool
	// BrowserSessions gives every signin a second refresh token, for the
	// browser's session cookie (Tokens.CookieRefreshToken).
	BrowserSessions bool
	// BcryptCost is the cost of new hashes; cheaper ones are upgraded on signin.
	BcryptCost int
	// PasswordMinLength is the fewest characters a new password may have,
	// at least 1.
	PasswordMinLength int
	// SignupAllowRoles are the roles signup may grant on request.
	SignupAllowRoles []string
	// AuthzCacheTTL bounds how stale a user's cached roles may be; 0 disables the cache.
	AuthzCacheTTL time.Duration
	// HashWorkers is how many bcrypt runs may go at once, at least 1.
	HashWorkers int
	// HashQueue is how many more may wait for one; 0 turns away every
	// hash that finds the workers busy.
	HashQueue int
	// HashMaxWait is how long one may wait, more than 0.
	HashMaxWait time.Duration
	// SignInAccountAddressLimit limits signin attempts on one account from
	// one client address; a successful signin there resets it.
	// SignInAccountLimit, looser, limits them on one account from all
	// addresses; past it each address gets one attempt per the first
	// rule's period. The zero Rule does not limit.
	SignInAccountAddressLimit, SignInAccountLimit ratelimit.Rule
	// AllowCommonPasswords turns off the check against the list of common
	// passwords.
	AllowCommonPasswords bool
	// ResetTokenTTL is how long a password-reset link works, more than 0.
	ResetTokenTTL time.Duration
	// ResetURL is the page a reset link opens, without query: the link is
	// ResetURL?token=....
	ResetURL string
	// ForgotEmailLimit limits the reset mails one email address is sent,
	// whoever asks. The zero Rule does not limit.
	ForgotEmailLimit ratelimit.Rule
	// EmailVerification is what signup and signin ask of an address.
	EmailVerification Verification
	// VerifyTokenTTL is how long an email-confirmation link works, more
	// than 0 (changing one's address needs one in every mode).
	VerifyTokenTTL time.Duration
	// VerifyURL is the page a confirmation link opens, without query.
	VerifyURL string
	// ResendEmailLimit limits the confirmation mails one address is sent
	// on request. The zero Rule does not limit.
	ResendEmailLimit ratelimit.Rule
	// Templates, when set, render the mail the account flows write to the
	// outbox; nil writes none (the commands that send no mail).
	Templates *mail.Templates
	// MailWritten, when set, is told after a transaction that wrote mail
	// commits, so that the sender looks at the outbox at once.
	MailWritten func()
	// CountEvent, when set, is told of every event LogEvent writes (for
	// metrics): its name and its reason or rule.
	CountEvent func(event, detail string)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives what the service notices but does not fail on.
	Logger *slog.Logger
}

// Service signs users up and in, and checks their tokens and roles.
type Service struct {
	db     *gorm.DB
	opts   Options
	now    func() time.Time
	log    *slog.Logger
	tokens tokenKeys
	authz  *principals
	hashes *hashPool
	// signInLast is the one attempt per period an address gets on an
	// account past the account's ceiling.
	signInLast ratelimit.Rule
	// background runs what a request starts but must not wait for.
	background *background
	// required is when verification became required, once read.
	required requiredSince
	// dummyHash is compared against when a signin names no user, so that the
	// answer takes as long as a wrong password does.
	dummyHash func() []byte
	// cursorKey signs the cursors of ListUsers.
	cursorKey []byte
}

// New returns a Service on db. Options carry no defaults (the
// configuration decides them, once): New refuses a value it cannot run
// with rather than replacing it, so that what the operator set is what
// runs.
func New(db *gorm.DB, opts Options) (*Service, error) {
	if opts.SigningKey == nil && len(opts.Secret) < 32 {
		return nil, errors.New("auth: secret must be at least 32 bytes")
	}
	if opts.RefreshTokenTTL <= 0 || opts.SessionMaxAge < opts.RefreshTokenTTL {
		return nil, errors.New("auth: refresh token TTL must be positive and within the session max age")
	}
	if opts.BcryptCost < bcrypt.MinCost || opts.BcryptCost > bcrypt.MaxCost {
		return nil, fmt.Errorf("auth: bcrypt cost %d out of range", opts.BcryptCost)
	}
	if opts.AccessTokenTTL <= 0 {
		return nil, errors.New("auth: access token TTL must be positive")
	}
	if opts.PasswordMinLength < 1 {
		return nil, fmt.Errorf("auth: password min length must be at least 1, got %d", opts.PasswordMinLength)
	}
	if opts.HashWorkers < 1 {
		return nil, fmt.Errorf("auth: hash workers must be at least 1, got %d", opts.HashWorkers)
	}
	if opts.HashQueue < 0 {
		return nil, fmt.Errorf("auth: hash queue must not be negative, got %d", opts.HashQueue)
	}
	if opts.HashMaxWait <= 0 {
		return nil, fmt.Errorf("auth: hash max wait must be positive, got %s", opts.HashMaxWait)
	}
	if opts.ResetTokenTTL <= 0 {
		return nil, fmt.Errorf("auth: reset token TTL must be positive, got %s", opts.ResetTokenTTL)
	}
	if opts.VerifyTokenTTL <= 0 {
		return nil, fmt.Errorf("auth: verify token TTL must be positive, got %s", opts.VerifyTokenTTL)
	}
	if opts.EmailVerification < VerificationOff || opts.EmailVerification > VerificationRequired {
		return nil, fmt.Errorf("auth: unknown email verification mode %d", opts.EmailVerification)
	}
	s := &Service{db: db, opts: opts, now: opts.Now, log: opts.Logger, background: newBackground(maxBackground),
		cursorKey: cursorKeyFrom(opts)}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	var signing tokenKey
	var verifyOnly []tokenKey
	switch {
	case opts.SigningKey == nil:
		signing = hmacKey(opts.Secret, true)
	case len(opts.Secret) > 0:
		verifyOnly = append(verifyOnly, hmacKey(opts.Secret, false))
		fallthrough
	default:
		signing = ed25519Key(opts.SigningKey)
	}
	for _, secret := range opts.PreviousSecrets {
		verifyOnly = append(verifyOnly, hmacKey(secret, false))
	}
	s.tokens = newTokenKeys(signing, verifyOnly, opts.AccessTokenTTL, s.now)
	s.authz = newPrincipals(db, s.tokens, opts.AuthzCacheTTL, s.now, opts.Now != nil)
	s.hashes = newHashPool(opts.HashWorkers, opts.HashQueue, opts.HashMaxWait)
	s.signInLast = opts.SignInAccountAddressLimit
	if opts.SignInAccountAddressLimit.Rate().Unlimited() {
		s.signInLast = opts.SignInAccountLimit
	}
	s.signInLast = s.signInLast.Single(s.signInLast.Name() + "-last")
	cost := opts.BcryptCost
	s.dummyHash = sync.OnceValue(func() []byte {
		h, _ := bcrypt.GenerateFromPassword([]byte("jwtauth timing equalizer"), cost)
		return h
	})
	return s, nil
}

// maxBackground is how many background jobs (reset requests being
// handled) may run at once; requests past it are dropped.
const maxBackground = 32

// Close stops the work requests left running in the background and waits
// for it; call it before closing the database.
func (s *Service) Close() { s.background.close() }

// HashPoolStats reports how many password hashes run and how many wait.
func (s *Service) HashPoolStats() (running, waiting int) { return s.hashes.stats() }

// WarmUp computes what the first requests would otherwise wait for.
func (s *Service) WarmUp() { s.dummyHash() }

// Ready reports whether the database answers.
func (s *Service) Ready(ctx context.Context) error {
	return dbError(store.Ping(ctx, s.db))
}
