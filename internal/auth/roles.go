package auth

import (
	"context"
	"slices"

	"jwtauth/internal/store"
)

// The roles jwtauth seeds.
const (
	RoleUser      = "user"
	RoleModerator = "moderator"
	RoleAdmin     = "admin"
)

// signupRoles resolves the names asked for to role ids, in id order: every
// name must exist (400, as the original, naming the first that does not)
// and be self-assignable (403).
func (s *Service) signupRoles(ctx context.Context, names []string) ([]int64, error) {
	if len(names) == 0 {
		names = []string{RoleUser}
	}
	roles, err := store.Roles(ctx, s.db)
	if err != nil {
		return nil, dbError(err)
	}
	for _, name := range names {
		if !slices.ContainsFunc(roles, func(r store.Role) bool { return r.Name == name }) {
			return nil, roleDoesNotExist(name)
		}
	}
	for _, name := range names {
		if name != RoleUser && !slices.Contains(s.opts.SignupAllowRoles, name) {
			return nil, roleNotSelfAssignable(name)
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
