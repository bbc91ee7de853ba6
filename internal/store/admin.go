package store

import (
	"context"
	"fmt"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// UserWithRoles is a user and the names of its roles, ordered by role id.
type UserWithRoles struct {
	User
	Roles []string `gorm:"-"`
}

// likeEscaper escapes LIKE's wildcards with '!', an escape character both
// engines accept in an ESCAPE clause.
var likeEscaper = strings.NewReplacer("!", "!!", "%", "!%", "_", "!_")

// ListUsers returns one page of users ordered by id, and how many match in
// all. A non-empty q keeps the users whose username or email contains it,
// ignoring case.
func ListUsers(ctx context.Context, db *gorm.DB, q string, offset, limit int) ([]UserWithRoles, int64, error) {
	db, done := on(ctx, db)
	defer done()
	base := db.Model(&User{})
	if q != "" {
		pattern := "%" + likeEscaper.Replace(Key(q)) + "%"
		base = base.Where("? LIKE ? ESCAPE '!' OR ? LIKE ? ESCAPE '!'", col("usernameKey"), pattern, col("emailKey"), pattern)
	}
	var total int64
	if err := base.Session(&gorm.Session{}).Count(&total).Error; err != nil {
		return nil, 0, fmt.Errorf("count users: %w", translate(err))
	}
	var users []User
	if err := base.Order("id").Offset(offset).Limit(limit).Find(&users).Error; err != nil {
		return nil, 0, fmt.Errorf("list users: %w", translate(err))
	}
	out, err := withRoles(ctx, db, users)
	return out, total, err
}

// GetUser returns the user with the given id and its roles, or ErrNotFound.
func GetUser(ctx context.Context, db *gorm.DB, id int64) (UserWithRoles, error) {
	db, done := on(ctx, db)
	defer done()
	if id < 1 || id > MaxUserID {
		// No row has it; PostgreSQL would refuse the comparison outright.
		return UserWithRoles{}, fmt.Errorf("get user: %w", ErrNotFound)
	}
	var u User
	if err := db.Take(&u, id).Error; err != nil {
		return UserWithRoles{}, fmt.Errorf("get user: %w", translate(err))
	}
	out, err := withRoles(ctx, db, []User{u})
	if err != nil {
		return UserWithRoles{}, err
	}
	return out[0], nil
}

func withRoles(ctx context.Context, db *gorm.DB, users []User) ([]UserWithRoles, error) {
	db, done := on(ctx, db)
	defer done()
	out := make([]UserWithRoles, len(users))
	if len(users) == 0 {
		return out, nil
	}
	ids := make([]int64, len(users))
	index := make(map[int64]int, len(users))
	for i, u := range users {
		ids[i], index[u.ID] = u.ID, i
		out[i] = UserWithRoles{User: u, Roles: []string{}}
	}
	var links []struct {
		UserID int64
		Name   string
	}
	err := db.Table("user_roles").
		Select("? AS user_id, roles.name AS name", col("user_roles.userId")).
		Joins("JOIN roles ON roles.id = ?", col("user_roles.roleId")).
		Where("? IN ?", col("user_roles.userId"), ids).
		Order("roles.id").Scan(&links).Error
	if err != nil {
		return nil, fmt.Errorf("find roles of users: %w", translate(err))
	}
	for _, l := range links {
		i := index[l.UserID]
		out[i].Roles = append(out[i].Roles, l.Name)
	}
	return out, nil
}

// UsersWithRole returns the ids of the users holding the role, locking
// those links until the transaction db belongs to ends (on engines with
// row locks; SQLite's write transactions are serial anyway). Two admins
// demoting each other at once are thus decided one after the other.
func UsersWithRole(ctx context.Context, db *gorm.DB, roleID int64) ([]int64, error) {
	db, done := on(ctx, db)
	defer done()
	var ids []int64
	err := db.Model(&UserRole{}).Clauses(clause.Locking{Strength: "UPDATE"}).
		Where("? = ?", col("roleId"), roleID).Pluck("userId", &ids).Error
	if err != nil {
		return nil, fmt.Errorf("find users with role: %w", translate(err))
	}
	return ids, nil
}

// SetUserRoles replaces the roles of a user; run it in a transaction.
func SetUserRoles(ctx context.Context, db *gorm.DB, userID int64, roleIDs []int64) error {
	db, done := on(ctx, db)
	defer done()
	err := translate(db.Where("? = ?", col("userId"), userID).Delete(&UserRole{}).Error)
	if err == nil {
		err = linkRoles(db, userID, roleIDs)
	}
	if err != nil {
		return fmt.Errorf("set user roles: %w", err)
	}
	return nil
}
