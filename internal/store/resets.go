package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// ResetToken is one password-reset link, stored as the SHA-256 of its
// token, never the token. It works until ExpiresAt, once: UsedAt is set
// when it resets the password, and also when it is voided (a newer link
// was sent, or the password changed), for either way it must not work
// again.
type ResetToken struct {
	ID        int64      `gorm:"column:id;primaryKey"`
	UserID    int64      `gorm:"column:userId"`
	TokenHash string     `gorm:"column:tokenHash"`
	ExpiresAt time.Time  `gorm:"column:expiresAt"`
	UsedAt    *time.Time `gorm:"column:usedAt"`
	CreatedAt time.Time  `gorm:"column:createdAt"`
	UpdatedAt time.Time  `gorm:"column:updatedAt"`
}

// TableName names jwtauth's password-reset token table.
func (ResetToken) TableName() string { return "passwordResetTokens" }

// CreateResetToken stores t.
func CreateResetToken(ctx context.Context, db *gorm.DB, t *ResetToken) error {
	db, done := on(ctx, db)
	defer done()
	if err := db.Create(t).Error; err != nil {
		return fmt.Errorf("create reset token: %w", translate(err))
	}
	return nil
}

// FindResetToken returns the token with the given hash, or ErrNotFound.
func FindResetToken(ctx context.Context, db *gorm.DB, hash string) (ResetToken, error) {
	db, done := on(ctx, db)
	defer done()
	var t ResetToken
	if err := db.Where("? = ?", col("tokenHash"), hash).Take(&t).Error; err != nil {
		return ResetToken{}, fmt.Errorf("find reset token: %w", translate(err))
	}
	return t, nil
}

// UseResetToken marks the token used at at. It reports false when it
// already was: of two resets racing with one token, exactly one gets true.
func UseResetToken(ctx context.Context, db *gorm.DB, id int64, at time.Time) (bool, error) {
	db, done := on(ctx, db)
	defer done()
	res := db.Model(&ResetToken{}).Where("id = ? AND ? IS NULL", id, col("usedAt")).
		Updates(map[string]any{"usedAt": at, "updatedAt": db.NowFunc()})
	if res.Error != nil {
		return false, fmt.Errorf("use reset token: %w", translate(res.Error))
	}
	return res.RowsAffected == 1, nil
}

// VoidResetTokens marks every unused reset token of a user used at at, so
// that no link sent before works any more.
func VoidResetTokens(ctx context.Context, db *gorm.DB, userID int64, at time.Time) error {
	db, done := on(ctx, db)
	defer done()
	err := db.Model(&ResetToken{}).Where("? = ? AND ? IS NULL", col("userId"), userID, col("usedAt")).
		Updates(map[string]any{"usedAt": at, "updatedAt": db.NowFunc()}).Error
	if err != nil {
		return fmt.Errorf("void reset tokens: %w", translate(err))
	}
	return nil
}

// PruneResetTokens deletes tokens that expired before cutoff, and reports
// how many.
func PruneResetTokens(ctx context.Context, db *gorm.DB, cutoff time.Time) (int64, error) {
	db, done := on(ctx, db)
	defer done()
	res := db.Where("? < ?", col("expiresAt"), cutoff).Delete(&ResetToken{})
	if res.Error != nil {
		return 0, fmt.Errorf("prune reset tokens: %w", translate(res.Error))
	}
	return res.RowsAffected, nil
}
