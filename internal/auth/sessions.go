package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"gorm.io/gorm"

	"jwtauth/internal/store"
)

// Tokens are what a signin or a refresh hands out.
type Tokens struct {
	AccessToken  string
	RefreshToken string
	// CookieRefreshToken, issued at signin with BrowserSessions, is a
	// second refresh token of the same session for the browser's cookie:
	// the two rotate apart, so a page refreshing the token it was given
	// never replays the cookie's, nor the cookie the page's.
	CookieRefreshToken string
	// RefreshTTL is how long the refresh tokens handed out have left (at
	// most; the session may be ended before): a cookie's Max-Age, which
	// unlike an expiry date does not depend on the browser's clock.
	RefreshTTL time.Duration
}

// refreshTokenBytes is the entropy of a refresh token: 256 bits, enough
// that the token's plain SHA-256 is a safe thing to store.
const refreshTokenBytes = 32

// newRefreshToken returns an opaque token and the hash stored for it.
func newRefreshToken() (token, hash string) {
	b := make([]byte, refreshTokenBytes)
	rand.Read(b)
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, hashRefreshToken(token)
}

func hashRefreshToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// startSession opens a session for a user who just proved their password.
func (s *Service) startSession(ctx context.Context, userID int64) (Tokens, int64, error) {
	now := s.now().UTC()
	sess := store.Session{UserID: userID, ExpiresAt: now.Add(s.opts.SessionMaxAge)}
	refresh, hash := newRefreshToken()
	expires := s.refreshExpiry(now, sess)
	first := store.SessionToken{TokenHash: hash, ExpiresAt: expires}
	var cookie string
	err := store.Transaction(ctx, s.db, func(tx *gorm.DB) error {
		if err := store.CreateSession(ctx, tx, &sess, &first); err != nil || !s.opts.BrowserSessions {
			return err
		}
		var hash string
		cookie, hash = newRefreshToken()
		return store.AddRefreshToken(ctx, tx, &store.SessionToken{SessionID: sess.ID, TokenHash: hash, ExpiresAt: expires})
	})
	if err != nil {
		return Tokens{}, 0, dbError(err)
	}
	access, err := s.tokens.issue(userID, sess.ID, now, s.opts.AccessTokenTTL)
	if err != nil {
		return Tokens{}, 0, fmt.Errorf("issue token: %w", err)
	}
	return Tokens{AccessToken: access, RefreshToken: refresh, CookieRefreshToken: cookie, RefreshTTL: expires.Sub(now)}, sess.ID, nil
}

// refreshExpiry is when a refresh token issued now ends: after its TTL, but
// never after its session.
func (s *Service) refreshExpiry(now time.Time, sess store.Session) time.Time {
	if end := now.Add(s.opts.RefreshTokenTTL); end.Before(sess.ExpiresAt) {
		return end
	}
	return sess.ExpiresAt
}

// Refresh exchanges a refresh token for a new access token and a new
// refresh token, retiring the one presented (rotation). Presenting a
// retired token again is a replay: someone else may hold a copy, so the
// whole session (every token rotated from that signin) is revoked and both
// holders must sign in again. Within RefreshReuseGrace of the first
// exchange a retired token is still honoured, so two tabs refreshing at the
// same moment both succeed; each gets its own new token in the same session.
// With KeepRefreshToken the presented token is handed back instead and
// stays valid until it expires.
func (s *Service) Refresh(ctx context.Context, presented string) (Tokens, error) {
	if presented == "" {
		return Tokens{}, ErrRefreshRequired
	}
	if len(presented) > 256 {
		return Tokens{}, ErrRefreshNotFound
	}
	now := s.now().UTC()
	var (
		next     string
		expires  time.Time
		sess     store.Session
		replayed bool
	)
	err := store.Transaction(ctx, s.db, func(tx *gorm.DB) error {
		tok, found, err := store.FindRefreshToken(ctx, tx, hashRefreshToken(presented))
		sess = found
		switch {
		case errors.Is(err, store.ErrNotFound):
			return ErrRefreshNotFound
		case err != nil:
			return err
		case sess.RevokedAt != nil:
			return ErrRefreshRevoked
		case !now.Before(tok.ExpiresAt) || !now.Before(sess.ExpiresAt):
			return ErrRefreshExpired
		case s.opts.KeepRefreshToken:
			next, expires = presented, tok.ExpiresAt
			return nil
		}
		usedAt := tok.UsedAt
		if usedAt == nil {
			won, err := store.MarkTokenUsed(ctx, tx, tok.ID, now)
			if err != nil {
				return err
			}
			if !won { // a concurrent refresh of this token got there first, just now
				usedAt = &now
			}
		}
		if usedAt != nil && now.Sub(*usedAt) > s.opts.RefreshReuseGrace {
			replayed = true
			_, err := store.RevokeSession(ctx, tx, sess.UserID, sess.ID, store.RevokedReuse, now)
			return err // commit the revocation
		}
		var hash string
		next, hash = newRefreshToken()
		expires = s.refreshExpiry(now, sess)
		return store.AddRefreshToken(ctx, tx, &store.SessionToken{
			SessionID: sess.ID, TokenHash: hash, ExpiresAt: expires,
		})
	})
	var authErr *Error
	if errors.As(err, &authErr) {
		s.event(ctx, slog.LevelInfo, EventRefreshFailed, slog.String("reason", authErr.Message),
			slog.Int64("user_id", sess.UserID), slog.Int64("session_id", sess.ID))
	}
	if err != nil {
		return Tokens{}, dbError(err)
	}
	if replayed {
		s.authz.forget(sess.UserID, sess.ID)
		s.event(ctx, slog.LevelWarn, EventRefreshReplayed, slog.Int64("user_id", sess.UserID), slog.Int64("session_id", sess.ID))
		return Tokens{}, ErrRefreshReused
	}
	s.event(ctx, slog.LevelInfo, EventRefresh, slog.Int64("user_id", sess.UserID), slog.Int64("session_id", sess.ID))
	access, err := s.tokens.issue(sess.UserID, sess.ID, now, s.opts.AccessTokenTTL)
	if err != nil {
		return Tokens{}, fmt.Errorf("issue token: %w", err)
	}
	return Tokens{AccessToken: access, RefreshToken: next, RefreshTTL: expires.Sub(now)}, nil
}

// SignOut ends sessions of the signed-in user p: every one with all, else
// the session of refreshToken, else the session p's access token belongs
// to. Signing out of a session already ended, or of a token that is not
// p's, changes nothing and is not an error: the caller's wish holds. With
// no one signed in (the zero p), refreshToken alone proves the session
// to end, as it could be exchanged for an access token anyway; without it
// there is nothing to end and nothing happens.
func (s *Service) SignOut(ctx context.Context, p Principal, refreshToken string, all bool) error {
	now := s.now().UTC()
	if p.UserID == 0 && refreshToken == "" {
		return nil
	}
	switch {
	case all && p.UserID != 0:
		err := store.Transaction(ctx, s.db, func(tx *gorm.DB) error {
			_, err := endEverySession(ctx, tx, p.UserID, store.RevokedSignOut, now)
			return err
		})
		if err != nil {
			return dbError(err)
		}
		s.authz.forget(p.UserID, -1)
	case refreshToken != "":
		_, sess, err := store.FindRefreshToken(ctx, s.db, hashRefreshToken(refreshToken))
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return dbError(err)
		}
		if p.UserID == 0 {
			p.UserID = sess.UserID
		}
		if _, err := store.RevokeSession(ctx, s.db, p.UserID, sess.ID, store.RevokedSignOut, now); err != nil {
			return dbError(err)
		}
		s.authz.forget(p.UserID, sess.ID)
	case p.SessionID != 0:
		if _, err := store.RevokeSession(ctx, s.db, p.UserID, p.SessionID, store.RevokedSignOut, now); err != nil {
			return dbError(err)
		}
		s.authz.forget(p.UserID, p.SessionID)
	default:
		return Invalid(`Failed! Send the refreshToken of the session to end, or "all": true.`)
	}
	s.event(ctx, slog.LevelInfo, EventSignOut, slog.Int64("user_id", p.UserID), slog.Bool("all", all))
	return nil
}

// endEverySession ends, in tx, every session of a user and every token of
// theirs issued without a session until now (the original's tokens, on a
// drop-in database; jwtauth issues none), and reports how many sessions
// ended. Both are what "signed out everywhere" means.
func endEverySession(ctx context.Context, tx *gorm.DB, userID int64, reason string, now time.Time) (int64, error) {
	n, err := store.RevokeUserSessions(ctx, tx, userID, reason, now)
	if err != nil {
		return 0, err
	}
	return n, store.SetTokensNotBefore(ctx, tx, userID, now)
}

// PruneSessions deletes sessions that ended more than a day ago, with their
// tokens. Until then a replayed token still gets the precise answer.
func (s *Service) PruneSessions(ctx context.Context) (int64, error) {
	n, err := store.PruneSessions(ctx, s.db, s.now().UTC().Add(-24*time.Hour))
	return n, dbError(err)
}
