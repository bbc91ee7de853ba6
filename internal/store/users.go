package store

import (
	"context"
	"fmt"

	"gorm.io/gorm"
)

// FindUserByUsername returns the user whose username equals name, ignoring
// case, or ErrNotFound. Equal means equal key for key: MySQL's and
// MariaDB's utf8mb4_bin ignores trailing spaces, so "zed " would find zed
// there and nowhere else; the row is checked here so that every engine
// answers alike.
func FindUserByUsername(ctx context.Context, db *gorm.DB, name string) (User, error) {
	db, done := on(ctx, db)
	defer done()
	var u User
	key := Key(name)
	err := db.Where("? = ?", col("usernameKey"), key).Take(&u).Error
	if err == nil && u.UsernameKey != key {
		err = gorm.ErrRecordNotFound
	}
	if err != nil {
		return User{}, fmt.Errorf("find user: %w", translate(err))
	}
	return u, nil
}

// FindUserByEmail returns the user whose email equals email, ignoring
// case (as FindUserByUsername compares), or ErrNotFound.
func FindUserByEmail(ctx context.Context, db *gorm.DB, email string) (User, error) {
	db, done := on(ctx, db)
	defer done()
	var u User
	key := Key(email)
	err := db.Where("? = ?", col("emailKey"), key).Take(&u).Error
	if err == nil && u.EmailKey != key {
		err = gorm.ErrRecordNotFound
	}
	if err != nil {
		return User{}, fmt.Errorf("find user by email: %w", translate(err))
	}
	return u, nil
}

// Taken reports whether a username or an email is already in use, ignoring
// case. It lets signup answer before spending a bcrypt hash; the unique
// indexes still decide when two signups race.
func Taken(ctx context.Context, db *gorm.DB, username, email string) (usernameTaken, emailTaken bool, err error) {
	db, done := on(ctx, db)
	defer done()
	var rows []User
	err = db.Select("usernameKey", "emailKey").
		Where("? = ? OR ? = ?", col("usernameKey"), Key(username), col("emailKey"), Key(email)).
		Limit(2).Find(&rows).Error
	if err != nil {
		return false, false, fmt.Errorf("check taken: %w", translate(err))
	}
	for _, r := range rows {
		usernameTaken = usernameTaken || r.UsernameKey == Key(username)
		emailTaken = emailTaken || r.EmailKey == Key(email)
	}
	return usernameTaken, emailTaken, nil
}

// Roles returns every role, ordered by id. The table is tiny; reading it
// whole spares callers an IN list as long as whatever a client sent.
func Roles(ctx context.Context, db *gorm.DB) ([]Role, error) {
	db, done := on(ctx, db)
	defer done()
	var roles []Role
	err := db.Order("id").Find(&roles).Error
	if err != nil {
		return nil, fmt.Errorf("find roles: %w", translate(err))
	}
	return roles, nil
}

// CreateUser inserts u and links it to its roles. Run it in a
// transaction (see Transaction), so that no user exists without the roles
// it asked for. A username or email already taken (ignoring case) gives
// ErrConflict.
func CreateUser(ctx context.Context, db *gorm.DB, u *User, roleIDs []int64) error {
	db, done := on(ctx, db)
	defer done()
	u.UsernameKey, u.EmailKey = Key(u.Username), Key(u.Email)
	if err := db.Create(u).Error; err != nil {
		return fmt.Errorf("create user: %w", translate(err))
	}
	if err := linkRoles(db, u.ID, roleIDs); err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	return nil
}

// linkRoles gives a user the roles (none for an empty list).
func linkRoles(db *gorm.DB, userID int64, roleIDs []int64) error {
	if len(roleIDs) == 0 {
		return nil
	}
	links := make([]UserRole, len(roleIDs))
	for i, id := range roleIDs {
		links[i] = UserRole{RoleID: id, UserID: userID}
	}
	return translate(db.Create(&links).Error)
}

// UpdatePassword replaces the user's hash, only if it is still oldHash, so
// that a re-hash on signin never overwrites a password changed meanwhile.
func UpdatePassword(ctx context.Context, db *gorm.DB, userID int64, oldHash, newHash string) error {
	db, done := on(ctx, db)
	defer done()
	err := db.Model(&User{}).
		Where("id = ? AND password = ?", userID, oldHash).
		Updates(map[string]any{"password": newHash, "updatedAt": db.NowFunc()}).Error
	if err != nil {
		return fmt.Errorf("update password: %w", translate(err))
	}
	return nil
}

// SetPassword replaces a user's password hash, or returns ErrNotFound.
func SetPassword(ctx context.Context, db *gorm.DB, userID int64, hash string) error {
	db, done := on(ctx, db)
	defer done()
	res := db.Model(&User{}).Where("id = ?", userID).
		Updates(map[string]any{"password": hash, "updatedAt": db.NowFunc()})
	if res.Error == nil && res.RowsAffected == 0 {
		return fmt.Errorf("set password: %w", ErrNotFound)
	}
	if res.Error != nil {
		return fmt.Errorf("set password: %w", translate(res.Error))
	}
	return nil
}

// DeleteUser removes a user with its role links, sessions and links sent
// by mail; run it in a
// transaction. The foreign keys cascade too; deleting explicitly keeps
// that true on a SQLite file opened without foreign-key enforcement.
func DeleteUser(ctx context.Context, db *gorm.DB, userID int64) error {
	db, done := on(ctx, db)
	defer done()
	sessions := db.Model(&Session{}).Select("id").Where("? = ?", col("userId"), userID)
	err := db.Where("? IN (?)", col("sessionId"), sessions).Delete(&SessionToken{}).Error
	if err == nil {
		err = db.Where("? = ?", col("userId"), userID).Delete(&Session{}).Error
	}
	for _, links := range []any{&UserRole{}, &ResetToken{}, &VerifyToken{}} {
		if err == nil {
			err = db.Where("? = ?", col("userId"), userID).Delete(links).Error
		}
	}
	if err == nil {
		res := db.Delete(&User{}, userID)
		if err = res.Error; err == nil && res.RowsAffected == 0 {
			err = gorm.ErrRecordNotFound
		}
	}
	if err != nil {
		return fmt.Errorf("delete user: %w", translate(err))
	}
	return nil
}
