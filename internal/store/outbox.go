package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// OutboxMail is one message waiting in the outbox, or sent from it. A
// message is written here in the same transaction as the change that
// caused it (a reset asked for, an address changed), so that it exists if
// and only if that change does; a sender then delivers it, however many
// restarts, outages or instances come in between.
//
// A row is pending while SentAt is nil: it is due at NextAttemptAt, unless
// a sender holds it (ClaimedBy, until ClaimedUntil). A sender that dies
// while holding rows only delays them: once ClaimedUntil passes, another
// claims them again.
type OutboxMail struct {
	ID        int64   `gorm:"column:id;primaryKey"`
	Recipient string  `gorm:"column:recipient"`
	Subject   string  `gorm:"column:subject"`
	TextBody  string  `gorm:"column:textBody"`
	HTMLBody  *string `gorm:"column:htmlBody"`
	// MessageID is unique and made once, by EnqueueMail, so that every
	// attempt to send the message carries the same Message-ID header and a
	// message sent twice (see ClaimMail) is recognisably one message.
	MessageID string `gorm:"column:messageId"`
	// Attempts counts the failed deliveries so far.
	Attempts      int        `gorm:"column:attempts"`
	NextAttemptAt *time.Time `gorm:"column:nextAttemptAt"`
	ClaimedBy     *string    `gorm:"column:claimedBy"`
	ClaimedUntil  *time.Time `gorm:"column:claimedUntil"`
	SentAt        *time.Time `gorm:"column:sentAt"`
	LastError     *string    `gorm:"column:lastError"`
	CreatedAt     time.Time  `gorm:"column:createdAt"`
	UpdatedAt     time.Time  `gorm:"column:updatedAt"`
}

// TableName names jwtauth's outbox table.
func (OutboxMail) TableName() string { return "mailOutbox" }

// MaxMailError is the most characters of a delivery error kept in
// lastError: enough for an SMTP server's answer, not for a runaway one.
const MaxMailError = 1000

// EnqueueMail stores m as due now, with a fresh MessageID unless it has
// one. Run it on the transaction of the change the message is about: the
// message is then stored if and only if that change commits.
func EnqueueMail(ctx context.Context, db *gorm.DB, m *OutboxMail) error {
	db, done := on(ctx, db)
	defer done()
	if m.MessageID == "" {
		m.MessageID = newMessageID()
	}
	now := db.NowFunc()
	m.NextAttemptAt = &now
	m.SentAt, m.ClaimedBy, m.ClaimedUntil = nil, nil, nil
	if err := db.Create(m).Error; err != nil {
		return fmt.Errorf("enqueue mail: %w", translate(err))
	}
	return nil
}

// newMessageID is 128 random bits in hex: unique without coordination
// between instances.
func newMessageID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// ClaimMail hands sender up to limit due messages (pending, NextAttemptAt
// reached, and held by no sender or by one whose lease ended), oldest due
// first, and holds them for sender until now+lease. Run it in a
// transaction (see Transaction): of several senders claiming at once, on
// any number of instances, each due message goes to one of them.
//
// On MySQL/MariaDB and PostgreSQL the rows are read with SELECT ... FOR
// UPDATE SKIP LOCKED, so that concurrent senders take disjoint batches
// without waiting for each other; on SQLite, where write transactions run
// one at a time (immediate transactions, see Open), the plain read and
// the update cannot interleave with another sender's.
//
// A lease only bounds how long a sender is trusted to finish: a sender
// that takes longer than lease over one message (its SMTP timeout must be
// shorter) can see it claimed and sent by another. Instances' clocks must
// agree to well within lease.
func ClaimMail(ctx context.Context, db *gorm.DB, sender string, now time.Time, lease time.Duration, limit int) ([]OutboxMail, error) {
	db, done := on(ctx, db)
	defer done()
	now = now.UTC().Truncate(time.Second)
	q := db.Where("? IS NULL AND ? IS NOT NULL AND ? <= ? AND (? IS NULL OR ? <= ?)",
		col("sentAt"), col("nextAttemptAt"), col("nextAttemptAt"), now,
		col("claimedUntil"), col("claimedUntil"), now).
		Order(clause.OrderBy{Columns: []clause.OrderByColumn{{Column: col("nextAttemptAt")}, {Column: col("id")}}}).
		Limit(limit)
	if db.Dialector.Name() != DriverSQLite {
		q = q.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate, Options: clause.LockingOptionsSkipLocked})
	}
	var rows []OutboxMail
	if err := q.Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("claim mail: %w", translate(err))
	}
	if len(rows) == 0 {
		return nil, nil
	}
	ids := make([]int64, len(rows))
	for i := range rows {
		ids[i] = rows[i].ID
	}
	until := now.Add(lease)
	res := db.Model(&OutboxMail{}).Where("id IN ?", ids).
		Updates(map[string]any{"claimedBy": sender, "claimedUntil": until, "updatedAt": db.NowFunc()})
	if res.Error != nil {
		return nil, fmt.Errorf("claim mail: %w", translate(res.Error))
	}
	for i := range rows {
		rows[i].ClaimedBy, rows[i].ClaimedUntil = &sender, &until
	}
	return rows, nil
}

// MarkMailSent records that the message went out at sentAt, and reports
// whether this call did so (false: it was already marked). It does not
// ask who holds the message: once an SMTP server took it, it is sent.
func MarkMailSent(ctx context.Context, db *gorm.DB, id int64, sentAt time.Time) (bool, error) {
	db, done := on(ctx, db)
	defer done()
	res := db.Model(&OutboxMail{}).Where("id = ? AND ? IS NULL", id, col("sentAt")).
		Updates(map[string]any{
			"sentAt": sentAt.UTC().Truncate(time.Second), "nextAttemptAt": nil,
			"claimedBy": nil, "claimedUntil": nil, "updatedAt": db.NowFunc(),
		})
	if res.Error != nil {
		return false, fmt.Errorf("mark mail sent: %w", translate(res.Error))
	}
	return res.RowsAffected == 1, nil
}

// MailRetry is the back-off between failed deliveries of one message:
// Base after the first failure, doubling with each one after, at most Max.
type MailRetry struct {
	Base, Max time.Duration
}

// After is how long to wait after the given number of failed attempts
// (1 for the first failure).
func (r MailRetry) After(attempts int) time.Duration {
	d := r.Base
	for i := 1; i < attempts && d < r.Max; i++ {
		d *= 2
	}
	return min(d, r.Max)
}

// MarkMailFailed records a failed delivery of a message sender holds:
// the error (cut to MaxMailError characters), one attempt more, the next
// attempt after retry's back-off from now, and the claim released. It
// reports false, changing nothing, when sender no longer holds the message
// (its lease ended and another sender claimed it, or it was sent).
func MarkMailFailed(ctx context.Context, db *gorm.DB, m OutboxMail, sender, cause string, now time.Time, retry MailRetry) (bool, error) {
	db, done := on(ctx, db)
	defer done()
	attempts := m.Attempts + 1
	next := now.UTC().Truncate(time.Second).Add(retry.After(attempts))
	res := db.Model(&OutboxMail{}).
		Where("id = ? AND ? = ? AND ? IS NULL", m.ID, col("claimedBy"), sender, col("sentAt")).
		Updates(map[string]any{
			"attempts": gorm.Expr("? + 1", col("attempts")), "lastError": truncateRunes(cause, MaxMailError),
			"nextAttemptAt": next, "claimedBy": nil, "claimedUntil": nil, "updatedAt": db.NowFunc(),
		})
	if res.Error != nil {
		return false, fmt.Errorf("mark mail failed: %w", translate(res.Error))
	}
	return res.RowsAffected == 1, nil
}

// ReleaseMail gives back messages sender holds but did not try to send
// (it is stopping), so that any sender may claim them at once rather than
// after the lease. Attempts and the due time stay as they were.
func ReleaseMail(ctx context.Context, db *gorm.DB, sender string, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	db, done := on(ctx, db)
	defer done()
	err := db.Model(&OutboxMail{}).
		Where("id IN ? AND ? = ? AND ? IS NULL", ids, col("claimedBy"), sender, col("sentAt")).
		Updates(map[string]any{"claimedBy": nil, "claimedUntil": nil, "updatedAt": db.NowFunc()}).Error
	if err != nil {
		return fmt.Errorf("release mail: %w", translate(err))
	}
	return nil
}

// PruneSentMail deletes messages sent before cutoff, and reports how many;
// pending ones stay whatever their age.
func PruneSentMail(ctx context.Context, db *gorm.DB, cutoff time.Time) (int64, error) {
	db, done := on(ctx, db)
	defer done()
	res := db.Where("? IS NOT NULL AND ? < ?", col("sentAt"), col("sentAt"), cutoff.UTC()).Delete(&OutboxMail{})
	if res.Error != nil {
		return 0, fmt.Errorf("prune sent mail: %w", translate(res.Error))
	}
	return res.RowsAffected, nil
}

// truncateRunes cuts s to at most n characters, never inside one, as
// text every engine stores: valid UTF-8 without NUL bytes.
func truncateRunes(s string, n int) string {
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n])
}
