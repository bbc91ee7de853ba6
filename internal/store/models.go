package store

import (
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// User is a row of the original's users table. UsernameKey and EmailKey are
// jwtauth's additions: the folded forms that the unique indexes cover, so
// that "Alice" and "alice" are one account on every engine.
type User struct {
	ID          int64  `gorm:"column:id;primaryKey"`
	Username    string `gorm:"column:username"`
	Email       string `gorm:"column:email"`
	Password    string `gorm:"column:password"`
	UsernameKey string `gorm:"column:usernameKey"`
	EmailKey    string `gorm:"column:emailKey"`
	// EmailVerifiedAt is when the account proved it reads Email (by a
	// link mailed there); nil until then, and for every account the
	// original created.
	EmailVerifiedAt *time.Time `gorm:"column:emailVerifiedAt"`
	CreatedAt       time.Time  `gorm:"column:createdAt"`
	UpdatedAt       time.Time  `gorm:"column:updatedAt"`
}

// TableName keeps the original's table name.
func (User) TableName() string { return "users" }

// MaxUserID is the largest id the original's users.id column holds: it is
// a 32-bit INTEGER on every engine Sequelize created it on.
const MaxUserID = math.MaxInt32

// Role is a row of the roles table; ids 1-3 are seeded by Migrate.
type Role struct {
	ID        int64     `gorm:"column:id;primaryKey;autoIncrement:false"`
	Name      string    `gorm:"column:name"`
	CreatedAt time.Time `gorm:"column:createdAt"`
	UpdatedAt time.Time `gorm:"column:updatedAt"`
}

// TableName keeps the original's table name.
func (Role) TableName() string { return "roles" }

// UserRole links a user to a role, as the original's join table does.
type UserRole struct {
	RoleID    int64     `gorm:"column:roleId;primaryKey;autoIncrement:false"`
	UserID    int64     `gorm:"column:userId;primaryKey;autoIncrement:false"`
	CreatedAt time.Time `gorm:"column:createdAt"`
	UpdatedAt time.Time `gorm:"column:updatedAt"`
}

// TableName keeps the original's table name.
func (UserRole) TableName() string { return "user_roles" }

// The roles jwtauth knows: the original's three. This is the one list of
// their names; auth and config take them from here.
const (
	RoleUser      = "user"
	RoleModerator = "moderator"
	RoleAdmin     = "admin"
)

// SeedRoles are the roles every jwtauth database has, with the original's ids.
var SeedRoles = []Role{{ID: 1, Name: RoleUser}, {ID: 2, Name: RoleModerator}, {ID: 3, Name: RoleAdmin}}

// RoleNames lists the seeded roles' names, in id order.
func RoleNames() []string {
	names := make([]string, len(SeedRoles))
	for i, r := range SeedRoles {
		names[i] = r.Name
	}
	return names
}

// RoleName reads a role as it may be given: by name ("moderator") or as
// signin lists it ("ROLE_MODERATOR"). It returns the name, or s itself
// when s is neither spelling of a seeded role.
func RoleName(s string) string {
	if rest, ok := strings.CutPrefix(s, "ROLE_"); ok {
		for _, r := range SeedRoles {
			if strings.ToUpper(r.Name) == rest {
				return r.Name
			}
		}
	}
	return s
}

// KeyMaxLength is the length, in characters, of the key columns.
const KeyMaxLength = 255

// Key folds a username or email into the form its unique index compares:
// compatibility-normalized (NFKC, so look-alike presentation forms match)
// and case-folded (full Unicode folding, so "Straße" matches "STRASSE").
// Comparing keys is what makes uniqueness and signin case-insensitive the
// same way on SQLite and MySQL, whatever the column collation is.
func Key(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToLower(s)
	}
	return cases.Fold().String(norm.NFKC.String(s))
}
