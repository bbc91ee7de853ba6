package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// VerifyToken is one email-confirmation link, stored as the SHA-256 of its
// token, never the token, like a ResetToken. Email is the address it
// proves: the account's own (after signup), or the one the account asked
// to change to, which becomes the account's address only when the link is
// followed. UsedAt is set when the link is followed, and when it is voided
// by a newer one.
type VerifyToken struct {
	ID        int64      `gorm:"column:id;primaryKey"`
	UserID    int64      `gorm:"column:userId"`
	Email     string     `gorm:"column:email"`
	TokenHash string     `gorm:"column:tokenHash"`
	ExpiresAt time.Time  `gorm:"column:expiresAt"`
	UsedAt    *time.Time `gorm:"column:usedAt"`
	CreatedAt time.Time  `gorm:"column:createdAt"`
	UpdatedAt time.Time  `gorm:"column:updatedAt"`
}

// TableName names jwtauth's email-verification token table.
func (VerifyToken) TableName() string { return "emailVerificationTokens" }

// CreateVerifyToken stores t.
func CreateVerifyToken(ctx context.Context, db *gorm.DB, t *VerifyToken) error {
	db, done := on(ctx, db)
	defer done()
	if err := db.Create(t).Error; err != nil {
		return fmt.Errorf("create verify token: %w", translate(err))
	}
	return nil
}

// FindVerifyToken returns the token with the given hash, or ErrNotFound.
func FindVerifyToken(ctx context.Context, db *gorm.DB, hash string) (VerifyToken, error) {
	db, done := on(ctx, db)
	defer done()
	var t VerifyToken
	if err := db.Where("? = ?", col("tokenHash"), hash).Take(&t).Error; err != nil {
		return VerifyToken{}, fmt.Errorf("find verify token: %w", translate(err))
	}
	return t, nil
}

// UseVerifyToken marks the token used at at. It reports false when it
// already was: of two clicks racing with one link, exactly one gets true.
func UseVerifyToken(ctx context.Context, db *gorm.DB, id int64, at time.Time) (bool, error) {
	db, done := on(ctx, db)
	defer done()
	res := db.Model(&VerifyToken{}).Where("id = ? AND ? IS NULL", id, col("usedAt")).
		Updates(map[string]any{"usedAt": at, "updatedAt": db.NowFunc()})
	if res.Error != nil {
		return false, fmt.Errorf("use verify token: %w", translate(res.Error))
	}
	return res.RowsAffected == 1, nil
}

// VoidVerifyTokens marks every unused verification token of a user used
// at at, so that no link sent before works any more.
func VoidVerifyTokens(ctx context.Context, db *gorm.DB, userID int64, at time.Time) error {
	db, done := on(ctx, db)
	defer done()
	err := db.Model(&VerifyToken{}).Where("? = ? AND ? IS NULL", col("userId"), userID, col("usedAt")).
		Updates(map[string]any{"usedAt": at, "updatedAt": db.NowFunc()}).Error
	if err != nil {
		return fmt.Errorf("void verify tokens: %w", translate(err))
	}
	return nil
}

// VoidVerifyTokensFor marks used, at at, every unused verification token
// of a user for the address email: the links a newer one to that address
// replaces, and no other (a pending change of address stays pending).
func VoidVerifyTokensFor(ctx context.Context, db *gorm.DB, userID int64, email string, at time.Time) error {
	db, done := on(ctx, db)
	defer done()
	err := db.Model(&VerifyToken{}).Where("? = ? AND ? IS NULL AND ? = ?", col("userId"), userID, col("usedAt"), col("email"), email).
		Updates(map[string]any{"usedAt": at, "updatedAt": db.NowFunc()}).Error
	if err != nil {
		return fmt.Errorf("void verify tokens: %w", translate(err))
	}
	return nil
}

// VoidEmailChanges marks used, at at, every unused verification token of
// a user that is for another address than the user's own: the changes of
// address the user asked for and has not confirmed. A link confirming the
// address the user has is left alone. Run it in a transaction.
func VoidEmailChanges(ctx context.Context, db *gorm.DB, userID int64, at time.Time) error {
	db, done := on(ctx, db)
	defer done()
	var u User
	if err := db.Select("email").Take(&u, userID).Error; err != nil {
		return fmt.Errorf("void email changes: %w", translate(err))
	}
	err := db.Model(&VerifyToken{}).Where("? = ? AND ? IS NULL AND ? <> ?", col("userId"), userID, col("usedAt"), col("email"), u.Email).
		Updates(map[string]any{"usedAt": at, "updatedAt": db.NowFunc()}).Error
	if err != nil {
		return fmt.Errorf("void email changes: %w", translate(err))
	}
	return nil
}

// PruneVerifyTokens deletes tokens that expired before cutoff, and reports
// how many.
func PruneVerifyTokens(ctx context.Context, db *gorm.DB, cutoff time.Time) (int64, error) {
	db, done := on(ctx, db)
	defer done()
	res := db.Where("? < ?", col("expiresAt"), cutoff).Delete(&VerifyToken{})
	if res.Error != nil {
		return 0, fmt.Errorf("prune verify tokens: %w", translate(res.Error))
	}
	return res.RowsAffected, nil
}

// SetVerifiedEmail makes email the user's address, proven at at. A
// change to an address another account holds (ignoring case) gives
// ErrConflict; a user who is gone, ErrNotFound.
func SetVerifiedEmail(ctx context.Context, db *gorm.DB, userID int64, email string, at time.Time) error {
	db, done := on(ctx, db)
	defer done()
	res := db.Model(&User{}).Where("id = ?", userID).Updates(map[string]any{
		"email": email, "emailKey": Key(email), "emailVerifiedAt": at, "updatedAt": db.NowFunc(),
	})
	if res.Error == nil && res.RowsAffected == 0 {
		return fmt.Errorf("set verified email: %w", ErrNotFound)
	}
	if res.Error != nil {
		return fmt.Errorf("set verified email: %w", translate(res.Error))
	}
	return nil
}

// setting is one of jwtauth's own settings, kept in the database so that
// every instance (and every later start) sees it.
type setting struct {
	Name      string    `gorm:"column:name;primaryKey"`
	Value     string    `gorm:"column:value"`
	CreatedAt time.Time `gorm:"column:createdAt"`
	UpdatedAt time.Time `gorm:"column:updatedAt"`
}

func (setting) TableName() string { return "jwtauthSettings" }

// verificationRequiredSince names the moment an instance first started
// with email verification required.
const verificationRequiredSince = "emailVerificationRequiredSince"

// VerificationRequiredSince records at as the moment email verification
// became required, unless a moment is already recorded, and returns the
// recorded one: instances starting together agree on the first.
func VerificationRequiredSince(ctx context.Context, db *gorm.DB, at time.Time) (time.Time, error) {
	db, done := on(ctx, db)
	defer done()
	row := setting{Name: verificationRequiredSince, Value: at.UTC().Format(time.RFC3339Nano)}
	if err := db.Clauses(clause.OnConflict{DoNothing: true}).Create(&row).Error; err != nil {
		return time.Time{}, fmt.Errorf("record verification required: %w", translate(err))
	}
	var got setting
	if err := db.Where("name = ?", verificationRequiredSince).Take(&got).Error; err != nil {
		return time.Time{}, fmt.Errorf("read verification required: %w", translate(err))
	}
	since, err := time.Parse(time.RFC3339Nano, got.Value)
	if err != nil {
		return time.Time{}, fmt.Errorf("read verification required: %q: %w", got.Value, err)
	}
	return since, nil
}

// ForgetVerificationRequired clears the moment email verification became
// required: it is not, now, and turning it on again starts afresh.
func ForgetVerificationRequired(ctx context.Context, db *gorm.DB) error {
	db, done := on(ctx, db)
	defer done()
	err := db.Where("name = ?", verificationRequiredSince).Delete(&setting{}).Error
	if err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
		return fmt.Errorf("forget verification required: %w", translate(err))
	}
	return nil
}
