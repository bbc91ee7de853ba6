package store

import (
	"context"
	"sync/atomic"
	"time"

	"gorm.io/gorm"
)

const deadlineName = "jwtauth:deadline"

// deadline bounds how long one call into the database may take, kept on
// the handle (as a GORM plugin) so that every store function finds it
// without a parameter of its own. A stalled server (a stopped process, a
// saturated disk, a network path that drops packets) then costs a request
// a few seconds and a 503, not minutes: go-sql-driver/mysql closes the
// connection when the context ends, and pgx sets a past deadline on it.
type deadline struct{ d atomic.Int64 }

func (*deadline) Name() string              { return deadlineName }
func (*deadline) Initialize(*gorm.DB) error { return nil }

// SetTimeout bounds each call made through db, a statement or a whole
// transaction, to d (0: no bound but the caller's context). Migrations
// are not bounded: a large table may take long to alter.
func SetTimeout(db *gorm.DB, d time.Duration) {
	if p, ok := db.Config.Plugins[deadlineName].(*deadline); ok {
		p.d.Store(int64(d))
	}
}

// on returns db working under ctx, bounded by the handle's timeout, and
// the function that releases the bound; store functions call it once and
// defer the release.
func on(ctx context.Context, db *gorm.DB) (*gorm.DB, context.CancelFunc) {
	if p, ok := db.Config.Plugins[deadlineName].(*deadline); ok {
		if d := p.d.Load(); d > 0 {
			ctx, cancel := context.WithTimeout(ctx, time.Duration(d))
			return db.WithContext(ctx), cancel
		}
	}
	return db.WithContext(ctx), func() {}
}
