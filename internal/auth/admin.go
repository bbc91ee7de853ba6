package auth

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"

	"jwtauth/internal/store"
)

// ErrLastAdmin refuses a change that would leave no admin at all.
var ErrLastAdmin = &Error{Kind: KindConflict,
	Message: "Failed! That would leave no admin: make another user admin first."}

// UserInfo is a user as administrators see it.
type UserInfo struct {
	ID        int64
	Username  string
	Email     string
	Roles     []string
	CreatedAt time.Time
	// EmailVerified: the account proved it reads Email.
	EmailVerified bool
}

func userInfo(u store.UserWithRoles) UserInfo {
	return UserInfo{ID: u.ID, Username: u.Username, Email: u.Email, Roles: u.Roles, CreatedAt: u.CreatedAt,
		EmailVerified: u.EmailVerifiedAt != nil}
}

// User returns one user, or ErrUserNotFound.
func (s *Service) User(ctx context.Context, id int64) (UserInfo, error) {
	u, err := store.GetUser(ctx, s.db, id)
	if errors.Is(err, store.ErrNotFound) {
		return UserInfo{}, ErrUserNotFound
	}
	if err != nil {
		return UserInfo{}, dbError(err)
	}
	return userInfo(u), nil
}

// SetRoles replaces a user's roles (an empty list leaves none). Names must
// exist (400, as at signup); a change that would leave no admin is refused
// (ErrLastAdmin). It takes effect at once on this instance and within the
// authorization cache's TTL on the others.
func (s *Service) SetRoles(ctx context.Context, actor Principal, id int64, names []string) (UserInfo, error) {
	names = roleNames(names)
	err := store.Transaction(ctx, s.db, func(tx *gorm.DB) error {
		ids, err := roleIDs(ctx, tx, names)
		if err != nil {
			return err
		}
		if _, err := store.GetUser(ctx, tx, id); err != nil {
			return err
		}
		if err := s.keepAnAdmin(ctx, tx, id, slices.Contains(names, RoleAdmin)); err != nil {
			return err
		}
		return store.SetUserRoles(ctx, tx, id, ids)
	})
	if err := s.adminError(err); err != nil {
		return UserInfo{}, err
	}
	s.authz.forget(id, -1)
	s.event(ctx, slog.LevelInfo, EventRolesChanged, slog.Int64("actor_id", actor.UserID), slog.Int64("user_id", id),
		slog.String("roles", strings.Join(names, ",")))
	return s.User(ctx, id)
}

// DeleteUser deletes a user with their roles and sessions; their tokens
// stop working. Deleting the last admin is refused (ErrLastAdmin).
func (s *Service) DeleteUser(ctx context.Context, actor Principal, id int64) error {
	err := store.Transaction(ctx, s.db, func(tx *gorm.DB) error {
		if _, err := store.GetUser(ctx, tx, id); err != nil {
			return err
		}
		if err := s.keepAnAdmin(ctx, tx, id, false); err != nil {
			return err
		}
		return store.DeleteUser(ctx, tx, id)
	})
	if err := s.adminError(err); err != nil {
		return err
	}
	s.authz.forget(id, -1)
	s.event(ctx, slog.LevelInfo, EventUserDeleted, slog.Int64("actor_id", actor.UserID), slog.Int64("user_id", id))
	return nil
}

// SignOutUser ends every session of a user, and their tokens without one,
// and reports how many sessions there were.
func (s *Service) SignOutUser(ctx context.Context, actor Principal, id int64) (int64, error) {
	if _, err := s.User(ctx, id); err != nil {
		return 0, err
	}
	var n int64
	err := store.Transaction(ctx, s.db, func(tx *gorm.DB) (err error) {
		n, err = endEverySession(ctx, tx, id, store.RevokedSignOut, s.now().UTC())
		return err
	})
	if err != nil {
		return 0, dbError(err)
	}
	s.authz.forget(id, -1)
	s.event(ctx, slog.LevelInfo, EventUserSignedOut, slog.Int64("actor_id", actor.UserID), slog.Int64("user_id", id),
		slog.Int64("sessions", n))
	return n, nil
}

// keepAnAdmin refuses to leave the admin role empty: user id is about to
// keep it (stillAdmin) or lose it.
func (s *Service) keepAnAdmin(ctx context.Context, tx *gorm.DB, id int64, stillAdmin bool) error {
	if stillAdmin {
		return nil
	}
	admin, err := roleIDs(ctx, tx, []string{RoleAdmin})
	if err != nil {
		return err
	}
	admins, err := store.UsersWithRole(ctx, tx, admin[0])
	if err != nil {
		return err
	}
	if slices.Contains(admins, id) && len(admins) == 1 {
		return ErrLastAdmin
	}
	return nil
}

func (s *Service) adminError(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return ErrUserNotFound
	}
	return dbError(err)
}

// CreateAdmin creates an account holding the user and admin roles, for the
// command line: the way to the first admin without letting anyone sign up
// as one. The username, email and password rules are signup's.
func (s *Service) CreateAdmin(ctx context.Context, username, email, password string) (int64, error) {
	in := SignUpInput{Username: username, Email: email, Password: password}
	if err := s.validateSignUp(in); err != nil {
		return 0, err
	}
	ids, err := roleIDs(ctx, s.db, []string{RoleUser, RoleAdmin})
	if err != nil {
		return 0, dbError(err)
	}
	hash, err := s.hash(ctx, password)
	if err != nil {
		return 0, err
	}
	u := store.User{Username: username, Email: email, Password: hash}
	err = store.Transaction(ctx, s.db, func(tx *gorm.DB) error { return store.CreateUser(ctx, tx, &u, ids) })
	if err != nil {
		if errors.Is(err, store.ErrConflict) {
			return 0, s.takenError(ctx, username, email)
		}
		return 0, dbError(err)
	}
	s.event(ctx, slog.LevelInfo, EventAdminCreated, slog.Int64("user_id", u.ID))
	return u.ID, nil
}
