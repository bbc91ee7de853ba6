package auth

import (
	"context"
	"slices"

	"gorm.io/gorm"

	"jwtauth/internal/store"
)

// The roles jwtauth seeds, as the store defines them.
const (
	RoleUser      = store.RoleUser
	RoleModerator = store.RoleModerator
	RoleAdmin     = store.RoleAdmin
)

// roleIDs resolves role names to ids, in id order and without repeats.
// Every name must exist: the first that does not is a 400, in the
// original's words. It is the one resolver of role names, for signup, the
// admin API and the command line alike; names from a client are read with
// roleNames first, where they come in.
func roleIDs(ctx context.Context, db *gorm.DB, names []string) ([]int64, error) {
	roles, err := store.Roles(ctx, db)
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		if !slices.ContainsFunc(roles, func(r store.Role) bool { return r.Name == name }) {
			return nil, roleDoesNotExist(name)
		}
	}
	var ids []int64
	for _, r := range roles {
		if slices.Contains(names, r.Name) {
			ids = append(ids, r.ID)
		}
	}
	return ids, nil
}

// signupRoles resolves the roles a signup asks for (none: the user role);
// each must exist (400) and be self-assignable (403).
func (s *Service) signupRoles(ctx context.Context, names []string) ([]int64, error) {
	if len(names) == 0 {
		names = []string{RoleUser}
	}
	names = roleNames(names)
	ids, err := roleIDs(ctx, s.db, names)
	if err != nil {
		return nil, dbError(err)
	}
	for _, name := range names {
		if name != RoleUser && !slices.Contains(s.opts.SignupAllowRoles, name) {
			return nil, roleNotSelfAssignable(name)
		}
	}
	return ids, nil
}

// roleNames reads each of names as store.RoleName does: "ROLE_ADMIN" is
// "admin". Every rule about roles then sees one spelling.
func roleNames(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = store.RoleName(n)
	}
	return out
}
