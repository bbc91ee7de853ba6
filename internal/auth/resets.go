package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"gorm.io/gorm"

	"jwtauth/internal/mail"
	"jwtauth/internal/store"
)

// Password resets: a link with a single-use token, mailed on request (to
// whoever can read the account's mail) or by an admin, that sets a new
// password and ends every session. The token is 256 random bits, stored
// only as its SHA-256, like a refresh token; it works once, until
// ResetTokenTTL passes, and not at all once a newer one is sent or the
// password changes.

// ErrResetTokenInvalid answers a reset with a token that is unknown, used,
// expired or voided, alike: which one it was helps nobody but a guesser.
var ErrResetTokenInvalid = &Error{Kind: KindInvalid, Message: "Failed! This reset link is invalid or has expired; please request a new one."}

// maxEmailBytes is the longest address looked up (RFC 5321's path limit);
// no account holds a longer one.
const maxEmailBytes = 254

// RequestPasswordReset mails the account of email, if there is one, a
// reset link. It answers the same, at once, whether or not there is: the
// lookup, the per-address limit, the token and the mail all happen in the
// background, so that neither the answer nor its timing tells a caller
// which addresses have accounts. When too many requests are already being
// handled, this one is dropped (and logged): the caller cannot tell, and
// may ask again.
func (s *Service) RequestPasswordReset(ctx context.Context, email string) error {
	if email == "" {
		return Invalid("Failed! Email is required.")
	}
	started := s.background.start(ctx, func(ctx context.Context) {
		if err := s.resetByEmail(ctx, email); err != nil {
			s.log.Error("password reset request failed", "error", err.Error())
		}
	})
	if !started {
		s.event(ctx, slog.LevelWarn, EventBusy, slog.String("reason", "password reset requests"))
	}
	return nil
}

// resetByEmail is RequestPasswordReset's background half.
func (s *Service) resetByEmail(ctx context.Context, email string) error {
	if len(email) > maxEmailBytes {
		return nil
	}
	// Counted per address, known or not, so that the limit says nothing
	// either; and here, not on the request path, so that the answer does
	// not change once it is reached.
	d, err := s.opts.ForgotEmailLimit.Allow(ctx, store.Key(email))
	if err != nil {
		return fmt.Errorf("count reset request: %w", err)
	}
	if !d.Allowed {
		s.event(ctx, slog.LevelInfo, EventRateLimited, slog.String("rule", s.opts.ForgotEmailLimit.Name()))
		return nil
	}
	u, err := store.FindUserByEmail(ctx, s.db, email)
	if errors.Is(err, store.ErrNotFound) {
		s.event(ctx, slog.LevelInfo, EventResetRequested, slog.Bool("known", false))
		return nil
	}
	if err != nil {
		return err
	}
	if err := s.issueReset(ctx, u); err != nil {
		return err
	}
	s.event(ctx, slog.LevelInfo, EventResetRequested, slog.Bool("known", true), slog.Int64("user_id", u.ID))
	return nil
}

// SendPasswordReset is an admin mailing the user id a reset link.
func (s *Service) SendPasswordReset(ctx context.Context, actor Principal, id int64) error {
	found, err := store.GetUser(ctx, s.db, id)
	if errors.Is(err, store.ErrNotFound) {
		return ErrUserNotFound
	}
	if err != nil {
		return dbError(err)
	}
	if found.Email == "" {
		return Invalid("Failed! This user has no email address to send a link to.")
	}
	if err := s.issueReset(ctx, found.User); err != nil {
		return err
	}
	s.event(ctx, slog.LevelInfo, EventResetSent, slog.Int64("user_id", id), slog.Int64("actor_id", actor.UserID))
	return nil
}

// issueReset makes u a new reset token, voiding the ones before it, and
// writes the mail that carries it, in one transaction.
func (s *Service) issueReset(ctx context.Context, u store.User) error {
	now := s.now().UTC()
	token, hash := newRefreshToken()
	err := store.Transaction(ctx, s.db, func(tx *gorm.DB) error {
		if err := store.VoidResetTokens(ctx, tx, u.ID, now); err != nil {
			return err
		}
		t := store.ResetToken{UserID: u.ID, TokenHash: hash, ExpiresAt: now.Add(s.opts.ResetTokenTTL)}
		if err := store.CreateResetToken(ctx, tx, &t); err != nil {
			return err
		}
		return s.enqueueMail(ctx, tx, u.Email, mail.TemplateResetPassword, map[string]any{
			"Username": u.Username, "Link": s.opts.ResetURL + "?token=" + token,
			"ExpiresIn": humanDuration(s.opts.ResetTokenTTL),
		})
	})
	if err != nil {
		return dbError(err)
	}
	s.mailWritten()
	return nil
}

// ResetPassword sets the password of the account a reset token belongs
// to, with SetPassword's effect (every session ends), uses the token up,
// and tells the user by mail; all in one transaction.
func (s *Service) ResetPassword(ctx context.Context, token, password string) error {
	if token == "" {
		return Invalid("Failed! Token is required.")
	}
	if err := s.validatePassword(password); err != nil {
		return err
	}
	if len(token) > 256 {
		return ErrResetTokenInvalid
	}
	now := s.now().UTC()
	// Checked before hashing, so that a wrong token costs no bcrypt run.
	t, err := store.FindResetToken(ctx, s.db, hashRefreshToken(token))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return ErrResetTokenInvalid
	case err != nil:
		return dbError(err)
	case t.UsedAt != nil || !now.Before(t.ExpiresAt):
		return ErrResetTokenInvalid
	}
	hash, err := s.hash(ctx, password)
	if err != nil {
		return err
	}
	err = store.Transaction(ctx, s.db, func(tx *gorm.DB) error {
		won, err := store.UseResetToken(ctx, tx, t.ID, now)
		if err != nil {
			return err
		}
		if !won { // used or voided since it was read
			return ErrResetTokenInvalid
		}
		found, err := store.GetUser(ctx, tx, t.UserID)
		if err != nil {
			return err
		}
		if err := replacePassword(ctx, tx, t.UserID, hash, 0, now); err != nil {
			return err
		}
		return s.enqueueMail(ctx, tx, found.Email, mail.TemplatePasswordChanged, map[string]any{"Username": found.Username})
	})
	if errors.Is(err, store.ErrNotFound) {
		return ErrResetTokenInvalid // the account was deleted
	}
	if err != nil {
		return dbError(err)
	}
	s.authz.forget(t.UserID, -1)
	s.mailWritten()
	s.event(ctx, slog.LevelInfo, EventPasswordReset, slog.Int64("user_id", t.UserID))
	return nil
}

// PruneResetTokens deletes reset tokens that expired more than a day ago.
func (s *Service) PruneResetTokens(ctx context.Context) (int64, error) {
	n, err := store.PruneResetTokens(ctx, s.db, s.now().UTC().Add(-24*time.Hour))
	return n, dbError(err)
}

// humanDuration writes d as a mail says it: "30 minutes", "2 hours".
func humanDuration(d time.Duration) string {
	n, unit := int64(d/time.Minute), "minute"
	if d >= time.Hour && d%time.Hour == 0 {
		n, unit = int64(d/time.Hour), "hour"
	}
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}
