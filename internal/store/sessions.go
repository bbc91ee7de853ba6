package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Session is one signin: the family of refresh tokens rotated from it. It
// ends at ExpiresAt whatever happens, or earlier when revoked (sign-out,
// a replayed token, a password change).
type Session struct {
	ID            int64      `gorm:"column:id;primaryKey"`
	UserID        int64      `gorm:"column:userId"`
	ExpiresAt     time.Time  `gorm:"column:expiresAt"`
	RevokedAt     *time.Time `gorm:"column:revokedAt"`
	RevokedReason *string    `gorm:"column:revokedReason"`
	CreatedAt     time.Time  `gorm:"column:createdAt"`
	UpdatedAt     time.Time  `gorm:"column:updatedAt"`
}

// TableName names jwtauth's sessions table.
func (Session) TableName() string { return "userSessions" }

// SessionToken is one refresh token of a session, stored as the SHA-256 of
// the token, never the token. UsedAt is set when it is exchanged for the
// next one; a used token presented again is a replay.
type SessionToken struct {
	ID        int64      `gorm:"column:id;primaryKey"`
	SessionID int64      `gorm:"column:sessionId"`
	TokenHash string     `gorm:"column:tokenHash"`
	ExpiresAt time.Time  `gorm:"column:expiresAt"`
	UsedAt    *time.Time `gorm:"column:usedAt"`
	CreatedAt time.Time  `gorm:"column:createdAt"`
	UpdatedAt time.Time  `gorm:"column:updatedAt"`
}

// TableName names jwtauth's refresh token table.
func (SessionToken) TableName() string { return "userSessionTokens" }

// Reasons a session ends early, as stored in revokedReason.
const (
	RevokedSignOut  = "signout"
	RevokedReuse    = "reuse"
	RevokedPassword = "password"
)

// CreateSession starts a session for a user with its first refresh token;
// run it in a transaction.
func CreateSession(ctx context.Context, db *gorm.DB, s *Session, first *SessionToken) error {
	db, done := on(ctx, db)
	defer done()
	err := db.Create(s).Error
	if err == nil {
		first.SessionID = s.ID
		err = db.Create(first).Error
	}
	if err != nil {
		return fmt.Errorf("create session: %w", translate(err))
	}
	return nil
}

// FindRefreshToken returns the token with the given hash and its session,
// or ErrNotFound.
func FindRefreshToken(ctx context.Context, db *gorm.DB, hash string) (SessionToken, Session, error) {
	db, done := on(ctx, db)
	defer done()
	var t SessionToken
	var s Session
	err := db.Where("? = ?", col("tokenHash"), hash).Take(&t).Error
	if err == nil {
		err = db.Take(&s, t.SessionID).Error
	}
	if err != nil {
		return SessionToken{}, Session{}, fmt.Errorf("find refresh token: %w", translate(err))
	}
	return t, s, nil
}

// MarkTokenUsed records that the token was exchanged at usedAt. It reports
// false when the token was already used: of two requests racing with one
// token, exactly one gets true.
func MarkTokenUsed(ctx context.Context, db *gorm.DB, tokenID int64, usedAt time.Time) (bool, error) {
	db, done := on(ctx, db)
	defer done()
	res := db.Model(&SessionToken{}).
		Where("id = ? AND ? IS NULL", tokenID, col("usedAt")).
		Updates(map[string]any{"usedAt": usedAt, "updatedAt": db.NowFunc()})
	if res.Error != nil {
		return false, fmt.Errorf("mark refresh token used: %w", translate(res.Error))
	}
	return res.RowsAffected == 1, nil
}

// AddRefreshToken adds a token to a session.
func AddRefreshToken(ctx context.Context, db *gorm.DB, t *SessionToken) error {
	db, done := on(ctx, db)
	defer done()
	if err := db.Create(t).Error; err != nil {
		return fmt.Errorf("add refresh token: %w", translate(err))
	}
	return nil
}

// RevokeSession ends one session of a user; revoking one already revoked,
// or someone else's, changes nothing. It reports whether a session ended.
func RevokeSession(ctx context.Context, db *gorm.DB, userID, sessionID int64, reason string, at time.Time) (bool, error) {
	db, done := on(ctx, db)
	defer done()
	res := db.Model(&Session{}).
		Where("id = ? AND ? = ? AND ? IS NULL", sessionID, col("userId"), userID, col("revokedAt")).
		Updates(map[string]any{"revokedAt": at, "revokedReason": reason, "updatedAt": db.NowFunc()})
	if res.Error != nil {
		return false, fmt.Errorf("revoke session: %w", translate(res.Error))
	}
	return res.RowsAffected > 0, nil
}

// RevokeUserSessions ends every live session of a user and reports how many.
func RevokeUserSessions(ctx context.Context, db *gorm.DB, userID int64, reason string, at time.Time) (int64, error) {
	return RevokeUserSessionsBut(ctx, db, userID, 0, reason, at)
}

// RevokeUserSessionsBut ends every live session of a user except keep (0:
// none kept) and reports how many ended.
func RevokeUserSessionsBut(ctx context.Context, db *gorm.DB, userID, keep int64, reason string, at time.Time) (int64, error) {
	db, done := on(ctx, db)
	defer done()
	res := db.Model(&Session{}).
		Where("? = ? AND ? IS NULL AND id <> ?", col("userId"), userID, col("revokedAt"), keep).
		Updates(map[string]any{"revokedAt": at, "revokedReason": reason, "updatedAt": db.NowFunc()})
	if res.Error != nil {
		return 0, fmt.Errorf("revoke user sessions: %w", translate(res.Error))
	}
	return res.RowsAffected, nil
}

// Access is what an access token of a user and session grants now.
type Access struct {
	// Roles are the user's role names, ordered by role id.
	Roles []string
	// Found reports that the user exists and the session (unless 0) is live.
	Found bool
	// TokensNotBefore is when the user last signed out everywhere (nil:
	// never); a token without a session issued until then no longer counts.
	TokensNotBefore *time.Time
}

// TokenAccess is what an access token of userID for sessionID grants now,
// in one query: the user's roles, whether the user exists with the session
// live (not revoked, not past its end at now), and the user's
// tokensNotBefore. A sessionID of 0 (a token issued without a session)
// checks the user only.
func TokenAccess(ctx context.Context, db *gorm.DB, userID, sessionID int64, now time.Time) (Access, error) {
	db, done := on(ctx, db)
	defer done()
	var rows []struct {
		Name      *string
		Sid       *int64
		NotBefore *time.Time
	}
	err := db.Table("users").
		Select("roles.name AS name, ? AS sid, ? AS not_before", col("userSessions.id"), col("users.tokensNotBefore")).
		Joins("LEFT JOIN user_roles ON ? = users.id", col("user_roles.userId")).
		Joins("LEFT JOIN roles ON roles.id = ?", col("user_roles.roleId")).
		Joins("LEFT JOIN ? ON ? = ? AND ? = users.id AND ? IS NULL AND ? > ?",
			clause.Table{Name: "userSessions"}, col("userSessions.id"), sessionID, col("userSessions.userId"),
			col("userSessions.revokedAt"), col("userSessions.expiresAt"), now).
		Where("users.id = ?", userID).
		Order("roles.id").
		Scan(&rows).Error
	if err != nil {
		return Access{}, fmt.Errorf("find user access: %w", translate(err))
	}
	if len(rows) == 0 || (sessionID != 0 && rows[0].Sid == nil) {
		return Access{}, nil
	}
	a := Access{Roles: make([]string, 0, len(rows)), Found: true, TokensNotBefore: rows[0].NotBefore}
	for _, r := range rows {
		if r.Name != nil {
			a.Roles = append(a.Roles, *r.Name)
		}
	}
	return a, nil
}

// UserAccess is TokenAccess without the not-before time: the user's roles
// and whether the user exists with the session live.
func UserAccess(ctx context.Context, db *gorm.DB, userID, sessionID int64, now time.Time) (roles []string, found bool, err error) {
	a, err := TokenAccess(ctx, db, userID, sessionID, now)
	return a.Roles, a.Found, err
}

// SetTokensNotBefore ends the user's tokens without a session issued until
// at (to the second, as a token's iat). It never moves the time back, so
// an instance whose clock runs late cannot revive tokens another ended.
func SetTokensNotBefore(ctx context.Context, db *gorm.DB, userID int64, at time.Time) error {
	db, done := on(ctx, db)
	defer done()
	at = at.UTC().Truncate(time.Second)
	err := db.Model(&User{}).
		Where("id = ? AND (? IS NULL OR ? < ?)", userID, col("tokensNotBefore"), col("tokensNotBefore"), at).
		UpdateColumn("tokensNotBefore", at).Error
	if err != nil {
		return fmt.Errorf("set tokens not before: %w", translate(err))
	}
	return nil
}

// PruneSessions deletes sessions (and, by cascade, their tokens) that ended
// before cutoff, and reports how many.
func PruneSessions(ctx context.Context, db *gorm.DB, cutoff time.Time) (int64, error) {
	db, done := on(ctx, db)
	defer done()
	res := db.Where("? < ?", col("expiresAt"), cutoff).Delete(&Session{})
	if res.Error != nil {
		return 0, fmt.Errorf("prune sessions: %w", translate(res.Error))
	}
	return res.RowsAffected, nil
}
