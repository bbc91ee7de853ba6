package store

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

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

// UserQuery selects the users ListUsers returns: those whose folded
// username or email starts with Prefix (all when empty), with ids above
// AfterID, ordered by id, skipping Offset of them and returning at most
// Limit.
type UserQuery struct {
	Prefix        string
	AfterID       int64
	Offset, Limit int
}

// ListUsers returns the users q selects, with their roles. Each step costs
// what the page costs, not what the table holds: ids come from the primary
// key and a prefix from the unique indexes on the key columns.
func ListUsers(ctx context.Context, db *gorm.DB, q UserQuery) ([]UserWithRoles, error) {
	db, done := on(ctx, db)
	defer done()
	base := withPrefix(db.Model(&User{}), q.Prefix)
	if q.AfterID > 0 {
		base = base.Where("id > ?", q.AfterID)
	}
	var users []User
	if err := base.Order("id").Offset(q.Offset).Limit(q.Limit).Find(&users).Error; err != nil {
		return nil, fmt.Errorf("list users: %w", translate(err))
	}
	return withRoles(ctx, db, users)
}

// CountUsers counts the users whose folded username or email starts with
// prefix (all when empty), but stops at limit: a count of a million rows
// reads a million rows on every engine, and no list needs to know more
// than that there are many.
func CountUsers(ctx context.Context, db *gorm.DB, prefix string, limit int64) (int64, error) {
	db, done := on(ctx, db)
	defer done()
	some := withPrefix(db.Model(&User{}).Select("id"), prefix).Limit(int(limit))
	var n int64
	if err := db.Table("(?) AS counted", some).Count(&n).Error; err != nil {
		return 0, fmt.Errorf("count users: %w", translate(err))
	}
	return n, nil
}

// withPrefix keeps the rows whose usernameKey or emailKey starts with
// prefix. The range comparison is what the unique indexes serve on every
// engine (the key columns compare bytes: utf8mb4_bin, "C", SQLite's
// BINARY); the LIKE, on the few rows in range, makes it exact where
// MySQL's PAD SPACE collation would let "bob" into the range of "bob ".
func withPrefix(db *gorm.DB, prefix string) *gorm.DB {
	if prefix == "" {
		return db
	}
	pattern := likeEscaper.Replace(prefix) + "%"
	end, bounded := prefixEnd(prefix)
	match := func(column string) *gorm.DB {
		c := col(column)
		m := db.Session(&gorm.Session{NewDB: true}).Where("? >= ?", c, prefix)
		if bounded {
			m = m.Where("? < ?", c, end)
		}
		return m.Where("? LIKE ? ESCAPE '!'", c, pattern)
	}
	return db.Where(match("usernameKey").Or(match("emailKey")))
}

// prefixEnd is the least string above every string that starts with
// prefix: prefix with its last character replaced by the next one (UTF-8
// orders bytes as it orders code points). Only a prefix made of nothing
// but U+10FFFF has none.
func prefixEnd(prefix string) (string, bool) {
	for prefix != "" {
		r, size := utf8.DecodeLastRuneInString(prefix)
		prefix = prefix[:len(prefix)-size]
		switch {
		case r == utf8.MaxRune:
			continue
		case r == 0xD7FF: // the next one that UTF-8 can hold is past the surrogates
			return prefix + "\uE000", true
		default:
			return prefix + string(r+1), true
		}
	}
	return "", false
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
