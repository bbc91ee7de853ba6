package auth

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"gorm.io/gorm"

	"jwtauth/internal/mail"
	"jwtauth/internal/store"
)

// The account's own operations: a signed-in user changes their password or
// deletes their account, each proven with the current password; and the
// password set without it, for resets.

// The answers of the account operations.
var (
	ErrSamePassword = Invalid("Failed! The new password must differ from the current one.")
)

// SetPassword sets a user's password and ends every session of theirs,
// and their tokens without one: whoever knew the old password must not stay
// signed in with it. It is for resets, where nobody proves the old one.
func (s *Service) SetPassword(ctx context.Context, userID int64, password string) error {
	if err := s.validatePassword(password); err != nil {
		return err
	}
	hash, err := s.hash(ctx, password)
	if err != nil {
		return err
	}
	now := s.now().UTC()
	err = store.Transaction(ctx, s.db, func(tx *gorm.DB) error {
		return replacePassword(ctx, tx, userID, hash, 0, now)
	})
	if errors.Is(err, store.ErrNotFound) {
		return ErrUserNotFound
	}
	if err != nil {
		return dbError(err)
	}
	s.authz.forget(userID, -1)
	s.event(ctx, slog.LevelInfo, EventPasswordChanged, slog.Int64("user_id", userID))
	return nil
}

// replacePassword stores hash as the user's password, in tx, and ends
// what the old password opened: the user's reset links, the changes of
// address asked for and not confirmed yet (a password taken for a moment
// must not leave the account following another mailbox once it is
// changed back), every session but keep (0: none), and the user's tokens
// without a session. Every way a password changes goes through it.
func replacePassword(ctx context.Context, tx *gorm.DB, userID int64, hash string, keep int64, now time.Time) error {
	if err := store.SetPassword(ctx, tx, userID, hash); err != nil {
		return err
	}
	if err := store.VoidResetTokens(ctx, tx, userID, now); err != nil {
		return err
	}
	if err := store.VoidEmailChanges(ctx, tx, userID, now); err != nil {
		return err
	}
	if _, err := store.RevokeUserSessionsBut(ctx, tx, userID, keep, store.RevokedPassword, now); err != nil {
		return err
	}
	return store.SetTokensNotBefore(ctx, tx, userID, now)
}

// ResetPasswordByName sets the password of the user named username
// (ignoring case), as SetPassword does, and returns the user's id: the
// command line's way back in for someone locked out, an admin included.
func (s *Service) ResetPasswordByName(ctx context.Context, username, password string) (int64, error) {
	if err := s.validatePassword(password); err != nil {
		return 0, err
	}
	u, err := s.findSignInUser(ctx, username)
	if errors.Is(err, store.ErrNotFound) {
		return 0, ErrUserNotFound
	}
	if err != nil {
		return 0, dbError(err)
	}
	return u.ID, s.SetPassword(ctx, u.ID, password)
}

// ChangePassword sets the signed-in user's password, proven with the
// current one: every other session of theirs ends, and so do their tokens
// without a session, while the session p signed in with stays. The user is
// told by mail, written in the same transaction. A wrong current password
// is a signin attempt like any other: it counts against the same limits.
func (s *Service) ChangePassword(ctx context.Context, p Principal, current, next string) error {
	switch {
	case current == "":
		return Invalid("Failed! Current password is required.")
	case len(current) > PasswordMaxBytes:
		return ErrInvalidPassword
	}
	if err := s.validatePassword(next); err != nil {
		return err
	}
	if next == current {
		return ErrSamePassword
	}
	u, err := s.proveOwner(ctx, p, current)
	if err != nil {
		return err
	}
	hash, err := s.hash(ctx, next)
	if err != nil {
		return err
	}
	now := s.now().UTC()
	err = store.Transaction(ctx, s.db, func(tx *gorm.DB) error {
		if err := replacePassword(ctx, tx, u.ID, hash, p.SessionID, now); err != nil {
			return err
		}
		return s.enqueueMail(ctx, tx, u.Email, mail.TemplatePasswordChanged, map[string]any{"Username": u.Username})
	})
	if errors.Is(err, store.ErrNotFound) {
		return ErrUserNotFound
	}
	if err != nil {
		return dbError(err)
	}
	s.authz.forget(u.ID, -1)
	s.mailWritten()
	s.event(ctx, slog.LevelInfo, EventPasswordChanged, slog.Int64("user_id", u.ID), slog.Int64("session_id", p.SessionID))
	return nil
}

// DeleteAccount deletes the signed-in user's account, proven with its
// password, with its roles and sessions: every token of theirs stops
// working. The last admin cannot leave (ErrLastAdmin).
func (s *Service) DeleteAccount(ctx context.Context, p Principal, password string) error {
	switch {
	case password == "":
		return Invalid("Failed! Password is required.")
	case len(password) > PasswordMaxBytes:
		return ErrInvalidPassword
	}
	u, err := s.proveOwner(ctx, p, password)
	if err != nil {
		return err
	}
	err = store.Transaction(ctx, s.db, func(tx *gorm.DB) error {
		if err := s.keepAnAdmin(ctx, tx, u.ID, false); err != nil {
			return err
		}
		return store.DeleteUser(ctx, tx, u.ID)
	})
	if err := s.adminError(err); err != nil {
		return err
	}
	s.authz.forget(u.ID, -1)
	s.event(ctx, slog.LevelInfo, EventAccountDeleted, slog.Int64("user_id", u.ID))
	return nil
}

// proveOwner checks that password is the signed-in user's, under the
// signin limits (a guess here is a guess at the password like any other).
func (s *Service) proveOwner(ctx context.Context, p Principal, password string) (store.User, error) {
	found, err := store.GetUser(ctx, s.db, p.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, ErrTokenInvalid // deleted since the token was checked
	}
	if err != nil {
		return store.User{}, dbError(err)
	}
	ok, err := s.checkSignIn(ctx, found.User, password)
	if err != nil {
		return store.User{}, err
	}
	if !ok {
		s.event(ctx, slog.LevelInfo, EventSignInFailed, slog.String("reason", "wrong password"), slog.Int64("user_id", found.ID))
		return store.User{}, ErrInvalidPassword
	}
	s.signInSucceeded(ctx, found.User)
	return found.User, nil
}

// enqueueMail renders the message name for data and writes it to the
// outbox in tx, so that it is sent if and only if tx commits. Without
// templates (a command that sends no mail) it writes nothing.
func (s *Service) enqueueMail(ctx context.Context, tx *gorm.DB, to, name string, data any) error {
	if s.opts.Templates == nil {
		return nil
	}
	subject, text, html, err := s.opts.Templates.Render(name, data)
	if err != nil {
		return err
	}
	m := store.OutboxMail{Recipient: to, Subject: subject, TextBody: text}
	if html != "" {
		m.HTMLBody = &html
	}
	return store.EnqueueMail(ctx, tx, &m)
}

// mailWritten tells the mail sender that the outbox has something new, so
// that it need not wait for its next look.
func (s *Service) mailWritten() {
	if s.opts.MailWritten != nil {
		s.opts.MailWritten()
	}
}
