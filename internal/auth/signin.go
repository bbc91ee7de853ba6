package auth

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"time"
	"unicode/utf8"

	"jwtauth/internal/bcrypt"
	"jwtauth/internal/ratelimit"
	"jwtauth/internal/store"
)

// Account is a signed-in user, as the signin response shows it.
type Account struct {
	ID       int64
	Username string
	Email    string
	Roles    []string
	// EmailVerified: the account proved it reads Email.
	EmailVerified bool
	Tokens
}

// SignIn checks a username (ignoring case) and password, starts a session
// and issues its first access and refresh tokens. An unknown username costs
// the same bcrypt time as a wrong password.
func (s *Service) SignIn(ctx context.Context, username, password string) (Account, error) {
	switch {
	case username == "":
		return Account{}, Invalid("Failed! Username is required.")
	case password == "":
		return Account{}, Invalid("Failed! Password is required.")
	case len(password) > PasswordMaxBytes:
		return Account{}, Invalid("Failed! Password must be at most 72 bytes.")
	}
	u, err := s.findSignInUser(ctx, username)
	if errors.Is(err, store.ErrNotFound) {
		// No account to guess at, so nothing to count per account (the
		// per-address limit still applies); answered after the same
		// bcrypt time as a wrong password.
		if _, err := s.compare(ctx, s.dummyHash(), password); errors.Is(err, ErrBusy) {
			return Account{}, err
		}
		s.event(ctx, slog.LevelInfo, EventSignInFailed, slog.String("reason", "unknown user"))
		return Account{}, ErrUserNotFound
	}
	if err != nil {
		return Account{}, dbError(err)
	}
	ok, err := s.checkSignIn(ctx, u, password)
	if err != nil {
		return Account{}, err
	}
	if !ok {
		s.event(ctx, slog.LevelInfo, EventSignInFailed, slog.String("reason", "wrong password"), slog.Int64("user_id", u.ID))
		return Account{}, ErrInvalidPassword
	}
	s.signInSucceeded(ctx, u)
	// Only now, to whoever knows the password, is an unconfirmed address
	// a reason to refuse.
	if err := s.checkVerified(ctx, u); err != nil {
		return Account{}, err
	}
	s.upgradeHash(ctx, u, password)
	roles, found, err := store.UserAccess(ctx, s.db, u.ID, 0, s.now().UTC())
	if err != nil {
		return Account{}, dbError(err)
	}
	if !found {
		return Account{}, ErrUserNotFound // deleted between the two reads
	}
	tokens, sessionID, err := s.startSession(ctx, u.ID)
	if err != nil {
		return Account{}, err
	}
	s.event(ctx, slog.LevelInfo, EventSignIn, slog.Int64("user_id", u.ID), slog.Int64("session_id", sessionID))
	return Account{ID: u.ID, Username: u.Username, Email: u.Email, Roles: roles, EmailVerified: u.EmailVerifiedAt != nil, Tokens: tokens}, nil
}

// findSignInUser looks the account up by name. A name no account can have
// (longer than the key column, or not UTF-8) is not found without a
// query, and without folding a kilobyte of text first.
func (s *Service) findSignInUser(ctx context.Context, username string) (store.User, error) {
	if len(username) > store.KeyMaxLength*utf8.UTFMax || !utf8.ValidString(username) ||
		utf8.RuneCountInString(username) > store.KeyMaxLength {
		return store.User{}, store.ErrNotFound
	}
	u, err := store.FindUserByUsername(ctx, s.db, username)
	if errors.Is(err, store.ErrUnstorable) {
		return store.User{}, store.ErrNotFound
	}
	return u, err
}

// checkSignIn counts a signin attempt on an existing account and checks
// its password. The attempt is counted once a hashing slot is held, so
// that parallel guesses cannot slip past the limits, and a request turned
// away (busy, or over a limit) stores no count at all.
func (s *Service) checkSignIn(ctx context.Context, u store.User, password string) (bool, error) {
	release, err := s.hashSlot(ctx)
	if err != nil {
		return false, err
	}
	defer release()
	if err := s.countSignIn(ctx, u); err != nil {
		return false, err
	}
	err = bcrypt.CompareHashAndPassword([]byte(u.Password), []byte(password))
	if err != nil && !errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
		s.log.LogAttrs(ctx, slog.LevelWarn, "signin against an unusable hash",
			slog.Int64("user_id", u.ID), slog.String("error", err.Error()))
	}
	return err == nil, nil
}

// countSignIn applies the per-account limits. The strict one counts the
// attempts on the account from one client address (an IPv6 /64), so a
// guesser elsewhere cannot use up the owner's attempts; the looser ceiling
// counts them from everywhere, against guessing spread over many
// addresses. Past the ceiling an address still gets one attempt per
// period: the owner, typing the right password from an address that has
// not been failing on the account, gets in while the account is attacked.
func (s *Service) countSignIn(ctx context.Context, u store.User) error {
	account := limitKey(u)
	pair := account + "@" + ratelimit.AddressKey(ClientFrom(ctx).IP)
	d, err := s.opts.SignInAccountAddressLimit.Allow(ctx, pair)
	if err == nil && !d.Allowed {
		return s.signInLimited(ctx, s.opts.SignInAccountAddressLimit, d.RetryAfter)
	}
	d, err = s.opts.SignInAccountLimit.Allow(ctx, account)
	if err != nil || d.Allowed {
		return nil
	}
	last, err := s.signInLast.Allow(ctx, pair)
	if err == nil && !last.Allowed {
		// Turned away after all: the attempt counted for this address
		// above never happened.
		if err := s.opts.SignInAccountAddressLimit.Refund(ctx, pair); err != nil {
			s.log.LogAttrs(ctx, slog.LevelWarn, "could not refund a signin attempt", slog.String("error", err.Error()))
		}
		return s.signInLimited(ctx, s.opts.SignInAccountLimit, min(d.RetryAfter, last.RetryAfter))
	}
	return nil
}

func (s *Service) signInLimited(ctx context.Context, rule ratelimit.Rule, retryAfter time.Duration) error {
	s.event(ctx, slog.LevelWarn, EventRateLimited, slog.String("rule", rule.Name()))
	return TooMany("sign-in attempts for this account", retryAfter)
}

// signInSucceeded clears the attempts of the account from this address:
// the password is proven there. The account's ceiling is left to refill
// by itself, or the owner's signin would hand a guesser a fresh allowance.
func (s *Service) signInSucceeded(ctx context.Context, u store.User) {
	pair := limitKey(u) + "@" + ratelimit.AddressKey(ClientFrom(ctx).IP)
	for _, rule := range []ratelimit.Rule{s.opts.SignInAccountAddressLimit, s.signInLast} {
		if err := rule.Reset(ctx, pair); err != nil {
			s.log.LogAttrs(ctx, slog.LevelWarn, "could not reset a signin limit",
				slog.String("rule", rule.Name()), slog.String("error", err.Error()))
		}
	}
}

// limitKey names an account in the limits: by its stored username key,
// the same on every instance and, unlike its id, not reused by another
// deployment sharing the Redis (nor by a test database created afresh).
// The name is the account's own, never what the client typed.
func limitKey(u store.User) string {
	if u.UsernameKey != "" {
		return u.UsernameKey
	}
	return "#" + strconv.FormatInt(u.ID, 10)
}
