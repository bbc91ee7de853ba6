package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"gorm.io/gorm"

	"jwtauth/internal/mail"
	"jwtauth/internal/store"
)

// Email verification: a link with a single-use token (stored, like a
// reset token, only as its SHA-256) that proves the account reads an
// address. Signup sends one when verification is on; a user asks for
// another with ResendVerification; changing one's address sends one to
// the new address, which becomes the account's only when it is followed.

// Verification is how much email verification is asked of new accounts.
// The zero value is VerificationOff.
type Verification int

// The modes of EMAIL_VERIFICATION.
const (
	// VerificationOff: no mail at signup, as the original.
	VerificationOff Verification = iota
	// VerificationOptional: signup mails a confirmation link; nothing
	// waits for it.
	VerificationOptional
	// VerificationRequired: signup mails a link, and an account created
	// since verification was first required cannot sign in until its
	// address is confirmed. Accounts from before sign in as they did.
	VerificationRequired
)

// The answers of email verification.
var (
	// ErrVerifyTokenInvalid answers a link that is unknown, used (for an
	// address that is not confirmed now), expired or voided, alike.
	ErrVerifyTokenInvalid = &Error{Kind: KindInvalid, Message: "Failed! This confirmation link is invalid or has expired; please request a new one."}
	// ErrEmailNotVerified refuses the signin of an account that must
	// confirm its address first; it is only said to whoever gave the
	// right password.
	ErrEmailNotVerified = &Error{Kind: KindForbidden, Message: "Failed! Please confirm your email address first: open the link mailed to you, or ask for a new one."}
	// ErrSameEmail refuses a change to the address the account has.
	ErrSameEmail = Invalid("Failed! The new email must differ from the current one.")
)

// VerifyResult says what following a confirmation link did.
type VerifyResult int

// The results of VerifyEmail.
const (
	// EmailConfirmed: the link confirmed the account's address.
	EmailConfirmed VerifyResult = iota + 1
	// EmailChanged: the link confirmed a new address, which the account
	// now uses.
	EmailChanged
	// EmailAlreadyConfirmed: the link was used before (often by a mail
	// scanner opening it first) and its address is the account's,
	// confirmed: nothing is left to do, and nothing is wrong.
	EmailAlreadyConfirmed
)

// requiredSince is when verification was first required, as recorded
// in the database, read once.
type requiredSince struct {
	mu    sync.Mutex
	since time.Time
	known bool
}

// PrepareVerification records, in the database all instances share, the
// moment email verification became required, when it is required and no
// moment is recorded yet; in another mode it clears that record, so that
// requiring verification again later starts afresh. A server calls it at
// start.
func (s *Service) PrepareVerification(ctx context.Context) error {
	if s.opts.EmailVerification == VerificationRequired {
		_, err := s.verificationRequiredSince(ctx)
		return err
	}
	return dbError(store.ForgetVerificationRequired(ctx, s.db))
}

// verificationRequiredSince returns the moment verification became
// required, recording now if none is (a service whose server did not
// call PrepareVerification still refuses only accounts created after).
// The moment is whole seconds: some engines keep createdAt no finer.
func (s *Service) verificationRequiredSince(ctx context.Context) (time.Time, error) {
	s.required.mu.Lock()
	defer s.required.mu.Unlock()
	if s.required.known {
		return s.required.since, nil
	}
	since, err := store.VerificationRequiredSince(ctx, s.db, s.now().UTC().Truncate(time.Second))
	if err != nil {
		return time.Time{}, dbError(err)
	}
	s.required.since, s.required.known = since, true
	s.log.Info("email verification is required of accounts created since", "since", since.Format(time.RFC3339))
	return since, nil
}

// checkVerified refuses the signin of u when verification is required
// of it: its address is unconfirmed and it was created since
// verification became required.
func (s *Service) checkVerified(ctx context.Context, u store.User) error {
	if s.opts.EmailVerification != VerificationRequired || u.EmailVerifiedAt != nil {
		return nil
	}
	since, err := s.verificationRequiredSince(ctx)
	if err != nil {
		return err
	}
	if u.CreatedAt.Before(since) {
		return nil
	}
	s.event(ctx, slog.LevelInfo, EventSignInFailed, slog.String("reason", "email not verified"), slog.Int64("user_id", u.ID))
	return ErrEmailNotVerified
}

// writeVerification makes u a new confirmation token for email, voiding
// the ones it replaces, and writes the mail that carries it to email, in
// tx. A link for the account's own address replaces the earlier links
// for it and leaves a pending change of address alone (anyone who knows
// the address may ask for one); a change of address replaces the earlier
// changes.
func (s *Service) writeVerification(ctx context.Context, tx *gorm.DB, u store.User, email string) error {
	now := s.now().UTC()
	token, hash := newRefreshToken()
	var err error
	if email == u.Email {
		err = store.VoidVerifyTokensFor(ctx, tx, u.ID, email, now)
	} else {
		err = store.VoidEmailChanges(ctx, tx, u.ID, now)
	}
	if err != nil {
		return err
	}
	t := store.VerifyToken{UserID: u.ID, Email: email, TokenHash: hash, ExpiresAt: now.Add(s.opts.VerifyTokenTTL)}
	if err := store.CreateVerifyToken(ctx, tx, &t); err != nil {
		return err
	}
	return s.enqueueMail(ctx, tx, email, mail.TemplateVerifyEmail, map[string]any{
		"Username": u.Username, "Link": s.opts.VerifyURL + "?token=" + token,
		"ExpiresIn": humanDuration(s.opts.VerifyTokenTTL),
	})
}

// ResendVerification mails the account of email, if there is one and its
// address is not confirmed yet, a new confirmation link. Like
// RequestPasswordReset it answers the same, at once, whatever the
// address: the work happens in the background. With verification off it
// sends nothing.
func (s *Service) ResendVerification(ctx context.Context, email string) error {
	if email == "" {
		return Invalid("Failed! Email is required.")
	}
	started := s.background.start(ctx, func(ctx context.Context) {
		if err := s.resendByEmail(ctx, email); err != nil {
			s.log.Error("verification resend failed", "error", err.Error())
		}
	})
	if !started {
		s.event(ctx, slog.LevelWarn, EventBusy, slog.String("reason", "verification resend requests"))
	}
	return nil
}

// resendByEmail is ResendVerification's background half.
func (s *Service) resendByEmail(ctx context.Context, email string) error {
	if s.opts.EmailVerification == VerificationOff || len(email) > maxEmailBytes {
		return nil
	}
	d, err := s.opts.ResendEmailLimit.Allow(ctx, store.Key(email))
	if err != nil {
		return fmt.Errorf("count verification resend: %w", err)
	}
	if !d.Allowed {
		s.event(ctx, slog.LevelInfo, EventRateLimited, slog.String("rule", s.opts.ResendEmailLimit.Name()))
		return nil
	}
	u, err := store.FindUserByEmail(ctx, s.db, email)
	if errors.Is(err, store.ErrNotFound) || (err == nil && u.EmailVerifiedAt != nil) {
		s.event(ctx, slog.LevelInfo, EventVerificationRequested, slog.Bool("sent", false))
		return nil
	}
	if err != nil {
		return err
	}
	sent := true
	err = store.Transaction(ctx, s.db, func(tx *gorm.DB) error {
		// Read again in the transaction: a change of address confirmed
		// since the lookup must not get a link for the old address.
		now, err := store.GetUser(ctx, tx, u.ID)
		if err != nil {
			return err
		}
		if now.Email != u.Email || now.EmailVerifiedAt != nil {
			sent = false
			return nil
		}
		return s.writeVerification(ctx, tx, now.User, now.Email)
	})
	if errors.Is(err, store.ErrNotFound) || (err == nil && !sent) {
		s.event(ctx, slog.LevelInfo, EventVerificationRequested, slog.Bool("sent", false))
		return nil
	}
	if err != nil {
		return dbError(err)
	}
	s.mailWritten()
	s.event(ctx, slog.LevelInfo, EventVerificationRequested, slog.Bool("sent", true), slog.Int64("user_id", u.ID))
	return nil
}

// errTokenRaced: another request used the token between its read and
// this one's transaction.
var errTokenRaced = errors.New("verify token used meanwhile")

// VerifyEmail follows a confirmation link: the address it was sent to is
// confirmed, and becomes the account's when it was a change of address
// (checked again for uniqueness now; then the reset links sent to the old
// address stop working, and the old address is told). A link used before
// whose address is the account's, confirmed, answers
// EmailAlreadyConfirmed: mail scanners follow links before people do.
func (s *Service) VerifyEmail(ctx context.Context, token string) (VerifyResult, error) {
	if token == "" {
		return 0, Invalid("Failed! Token is required.")
	}
	if len(token) > 256 {
		return 0, ErrVerifyTokenInvalid
	}
	now := s.now().UTC()
	t, err := store.FindVerifyToken(ctx, s.db, hashRefreshToken(token))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return 0, ErrVerifyTokenInvalid
	case err != nil:
		return 0, dbError(err)
	case t.UsedAt != nil:
		return s.alreadyConfirmed(ctx, t)
	case !now.Before(t.ExpiresAt):
		return 0, ErrVerifyTokenInvalid
	}
	result := EmailConfirmed
	err = store.Transaction(ctx, s.db, func(tx *gorm.DB) error {
		won, err := store.UseVerifyToken(ctx, tx, t.ID, now)
		if err != nil {
			return err
		}
		if !won {
			return errTokenRaced
		}
		u, err := store.GetUser(ctx, tx, t.UserID)
		if err != nil {
			return err
		}
		changed := store.Key(t.Email) != u.EmailKey
		if changed {
			other, err := store.FindUserByEmail(ctx, tx, t.Email)
			switch {
			case err == nil && other.ID != u.ID:
				return ErrEmailTaken
			case err != nil && !errors.Is(err, store.ErrNotFound):
				return err
			}
			result = EmailChanged
		}
		if err := store.SetVerifiedEmail(ctx, tx, u.ID, t.Email, now); err != nil {
			return err
		}
		if !changed {
			// Confirmed as it is: a pending change of address stays pending.
			return store.VoidVerifyTokensFor(ctx, tx, u.ID, t.Email, now)
		}
		if err := store.VoidVerifyTokens(ctx, tx, u.ID, now); err != nil {
			return err
		}
		// Links sent to the old address must not reach the account any more.
		if err := store.VoidResetTokens(ctx, tx, u.ID, now); err != nil {
			return err
		}
		if u.Email == "" {
			return nil
		}
		return s.enqueueMail(ctx, tx, u.Email, mail.TemplateEmailChangedOldAddress,
			map[string]any{"Username": u.Username, "NewEmail": t.Email})
	})
	switch {
	case errors.Is(err, errTokenRaced):
		return s.alreadyConfirmed(ctx, t)
	case errors.Is(err, store.ErrNotFound):
		return 0, ErrVerifyTokenInvalid // the account was deleted
	case errors.Is(err, store.ErrConflict):
		return 0, ErrEmailTaken // taken between the check and the update
	case err != nil:
		return 0, dbError(err)
	}
	if result == EmailChanged {
		s.mailWritten()
		s.event(ctx, slog.LevelInfo, EventEmailChanged, slog.Int64("user_id", t.UserID))
	} else {
		s.event(ctx, slog.LevelInfo, EventEmailVerified, slog.Int64("user_id", t.UserID))
	}
	return result, nil
}

// alreadyConfirmed answers a used or voided link: fine if its address is
// the account's and confirmed, invalid otherwise.
func (s *Service) alreadyConfirmed(ctx context.Context, t store.VerifyToken) (VerifyResult, error) {
	u, err := store.GetUser(ctx, s.db, t.UserID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return 0, ErrVerifyTokenInvalid
	case err != nil:
		return 0, dbError(err)
	case u.EmailVerifiedAt != nil && u.EmailKey == store.Key(t.Email):
		return EmailAlreadyConfirmed, nil
	}
	return 0, ErrVerifyTokenInvalid
}

// ChangeEmail starts a change of the signed-in user's address, proven
// with the password (under the signin limits): a confirmation link goes
// to the new address, and the change takes effect only when it is
// followed (VerifyEmail). Until then the account keeps its address.
func (s *Service) ChangeEmail(ctx context.Context, p Principal, email, password string) error {
	switch {
	case password == "":
		return Invalid("Failed! Password is required.")
	case len(password) > PasswordMaxBytes:
		return ErrInvalidPassword
	}
	if err := validateEmail(email); err != nil {
		return err
	}
	u, err := s.proveOwner(ctx, p, password)
	if err != nil {
		return err
	}
	if store.Key(email) == u.EmailKey {
		return ErrSameEmail
	}
	_, err = store.FindUserByEmail(ctx, s.db, email)
	switch {
	case err == nil:
		return ErrEmailTaken
	case !errors.Is(err, store.ErrNotFound):
		return dbError(err)
	}
	err = store.Transaction(ctx, s.db, func(tx *gorm.DB) error { return s.writeVerification(ctx, tx, u, email) })
	if err != nil {
		return dbError(err)
	}
	s.mailWritten()
	s.event(ctx, slog.LevelInfo, EventEmailChangeRequested, slog.Int64("user_id", u.ID))
	return nil
}

// Me returns the signed-in user as the account API shows it.
func (s *Service) Me(ctx context.Context, p Principal) (UserInfo, error) {
	u, err := store.GetUser(ctx, s.db, p.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return UserInfo{}, ErrTokenInvalid // deleted since the token was checked
	}
	if err != nil {
		return UserInfo{}, dbError(err)
	}
	return userInfo(u), nil
}

// PruneVerifyTokens deletes confirmation tokens that expired more than a
// day ago.
func (s *Service) PruneVerifyTokens(ctx context.Context) (int64, error) {
	n, err := store.PruneVerifyTokens(ctx, s.db, s.now().UTC().Add(-24*time.Hour))
	return n, dbError(err)
}
