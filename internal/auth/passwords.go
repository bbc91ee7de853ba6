package auth

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"jwtauth/internal/bcrypt"
	"jwtauth/internal/store"
)

// commonPasswordsFile is the 30,000 most common passwords of zxcvbn's list
// (see data/README.md), lower-cased and sorted.
//
//go:embed data/common-passwords.txt
var commonPasswordsFile string

// commonPasswords is that list split into lines, on first use. NIST SP
// 800-63B asks for exactly this check instead of composition rules.
var commonPasswords = sync.OnceValue(func() []string {
	return strings.Split(strings.TrimSuffix(commonPasswordsFile, "\n"), "\n")
})

// isCommonPassword reports whether password, ignoring case, is on the list.
func isCommonPassword(password string) bool {
	_, found := slices.BinarySearch(commonPasswords(), strings.ToLower(password))
	return found
}

// hashSlot takes a slot in the hashing pool for one bcrypt run and
// returns the function that gives it back. It is the one place that
// reports the pool turning a caller away (EventBusy); a caller that gave
// up waiting (ErrCanceled) is not reported: the pool was not too small.
func (s *Service) hashSlot(ctx context.Context) (release func(), err error) {
	release, err = s.hashes.acquire(ctx)
	if errors.Is(err, ErrBusy) {
		s.event(ctx, slog.LevelWarn, EventBusy)
	}
	return release, err
}

// hash runs bcrypt in the pool.
func (s *Service) hash(ctx context.Context, password string) (string, error) {
	release, err := s.hashSlot(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), s.opts.BcryptCost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(hash), nil
}

// compare runs a bcrypt comparison in the pool.
func (s *Service) compare(ctx context.Context, hash []byte, password string) (bool, error) {
	release, err := s.hashSlot(ctx)
	if err != nil {
		return false, err
	}
	defer release()
	err = bcrypt.CompareHashAndPassword(hash, []byte(password))
	if err != nil && !errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
		return false, fmt.Errorf("stored password hash is unusable: %w", err)
	}
	return err == nil, nil
}

func (s *Service) validatePassword(password string) error {
	switch n := utf8.RuneCountInString(password); {
	case password == "":
		return Invalid("Failed! Password is required.")
	case n < s.opts.PasswordMinLength:
		return Invalid(fmt.Sprintf("Failed! Password must be at least %d characters.", s.opts.PasswordMinLength))
	case len(password) > PasswordMaxBytes:
		return Invalid("Failed! Password must be at most 72 bytes.")
	case !s.opts.AllowCommonPasswords && isCommonPassword(password):
		return Invalid("Failed! This password is too common; please choose another.")
	}
	return nil
}

// upgradeHash re-hashes a correct password whose stored hash is cheaper than
// the configured cost, such as the original's cost-8 bcryptjs hashes. A
// failure is logged, not returned: the signin itself succeeded.
func (s *Service) upgradeHash(ctx context.Context, u store.User, password string) {
	cost, err := bcrypt.Cost([]byte(u.Password))
	if err != nil || cost >= s.opts.BcryptCost {
		return
	}
	var hash []byte
	if !s.hashes.tryDo(func() { hash, err = bcrypt.GenerateFromPassword([]byte(password), s.opts.BcryptCost) }) {
		return // the pool is busy: upgrade at a later signin
	}
	if err == nil {
		err = store.UpdatePassword(ctx, s.db, u.ID, u.Password, string(hash))
	}
	if err != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "could not upgrade password hash",
			slog.Int64("user_id", u.ID), slog.String("error", err.Error()))
		return
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "password hash upgraded",
		slog.Int64("user_id", u.ID), slog.Int("from_cost", cost), slog.Int("to_cost", s.opts.BcryptCost))
}
