package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"gorm.io/gorm"

	"jwtauth/internal/store"
)

// Limits on what a client may send.
const (
	UsernameMinLength = 3
	UsernameMaxLength = 64
	EmailMaxLength    = 254 // RFC 5321's limit on a forward path, less the brackets
	PasswordMaxBytes  = 72  // bcrypt ignores every byte after the 72nd
)

// SignUpInput is what a new user sends.
type SignUpInput struct {
	Username string
	Email    string
	Password string
	// Roles asked for; empty means the user role.
	Roles []string
}

// SignUp validates in and creates the account with its roles; with
// email verification on, it mails the account a confirmation link, written
// in the same transaction. The checks run
// in the original's order (username, email, roles), cheapest first, so that
// a rejected signup costs no bcrypt hash.
func (s *Service) SignUp(ctx context.Context, in SignUpInput) error {
	if err := s.validateSignUp(in); err != nil {
		return err
	}
	userTaken, emailTaken, err := store.Taken(ctx, s.db, in.Username, in.Email)
	switch {
	case err != nil:
		return dbError(err)
	case userTaken:
		return ErrUsernameTaken
	case emailTaken:
		return ErrEmailTaken
	}
	roleIDs, err := s.signupRoles(ctx, in.Roles)
	if err != nil {
		return err
	}
	hash, err := s.hash(ctx, in.Password)
	if err != nil {
		return err
	}
	u := store.User{Username: in.Username, Email: in.Email, Password: hash}
	verify := s.opts.EmailVerification != VerificationOff
	err = store.Transaction(ctx, s.db, func(tx *gorm.DB) error {
		if err := store.CreateUser(ctx, tx, &u, roleIDs); err != nil {
			return err
		}
		if !verify {
			return nil
		}
		// The link is written with the account, or neither is.
		return s.writeVerification(ctx, tx, u, u.Email)
	})
	if errors.Is(err, store.ErrConflict) {
		// Another signup won the race between Taken and the insert.
		return s.takenError(ctx, in.Username, in.Email)
	}
	if err != nil {
		return dbError(err)
	}
	if verify {
		s.mailWritten()
	}
	s.event(ctx, slog.LevelInfo, EventSignUp, slog.Int64("user_id", u.ID))
	return nil
}

func (s *Service) validateSignUp(in SignUpInput) error {
	if err := validateUsername(in.Username); err != nil {
		return err
	}
	if err := validateEmail(in.Email); err != nil {
		return err
	}
	return s.validatePassword(in.Password)
}

func validateUsername(name string) error {
	switch n := utf8.RuneCountInString(name); {
	case name == "":
		return Invalid("Failed! Username is required.")
	case !utf8.ValidString(name):
		return Invalid("Failed! Username must be valid UTF-8.")
	case n < UsernameMinLength || n > UsernameMaxLength:
		return Invalid(fmt.Sprintf("Failed! Username must be %d to %d characters.", UsernameMinLength, UsernameMaxLength))
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return Invalid("Failed! Username must not contain control characters.")
	case strings.TrimSpace(name) != name:
		return Invalid("Failed! Username must not start or end with spaces.")
	case strings.IndexFunc(name, unseen) >= 0:
		return Invalid("Failed! Username must not contain invisible or formatting characters.")
	case unicode.Is(unicode.M, []rune(name)[0]):
		return Invalid("Failed! Username must not start with a combining mark.")
	case strings.Contains(name, "  "):
		return Invalid("Failed! Username must not contain two spaces in a row.")
	}
	return nil
}

// unseen reports whether r cannot be told apart, on screen, from nothing
// or from a plain space: everything but letters, marks, digits,
// punctuation, symbols and the ASCII space, i.e. format characters (zero
// width space and joiners, soft hyphen, bidi overrides, BOM), other
// spaces and separators, private-use and unassigned code points; and,
// among letters and marks, the default-ignorable ones (the Hangul
// fillers, variation selectors, the combining grapheme joiner). It is the
// part of RFC 8265's username profile that matters for telling names
// apart, less its ban on symbols (names like "Zoë 🦊" stay valid).
func unseen(r rune) bool {
	if r == ' ' {
		return false
	}
	return !unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S) ||
		unicode.In(r, unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point)
}

func validateEmail(email string) error {
	if email == "" {
		return Invalid("Failed! Email is required.")
	}
	if !utf8.ValidString(email) {
		return Invalid("Failed! Email is not a valid address.")
	}
	if len(email) > EmailMaxLength || utf8.RuneCountInString(store.Key(email)) > EmailMaxLength {
		return Invalid(fmt.Sprintf("Failed! Email must be at most %d characters.", EmailMaxLength))
	}
	// A bare address only: no display name, no comments, no spaces around.
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Address != email || addr.Name != "" {
		return Invalid("Failed! Email is not a valid address.")
	}
	return nil
}

// takenError says which of username and email a unique index refused an
// insert for: it decided, and now the names are looked up again.
func (s *Service) takenError(ctx context.Context, username, email string) error {
	if userTaken, _, err := store.Taken(ctx, s.db, username, email); err == nil && !userTaken {
		return ErrEmailTaken
	}
	return ErrUsernameTaken
}
