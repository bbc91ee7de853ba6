package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
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
//
// It also knows when Close closed the handle, so that a call made after
// (a request or a background job still running at shutdown) fails with
// ErrClosed by value: database/sql does not export its own error for that.
type deadline struct {
	d      atomic.Int64
	closed atomic.Bool
}

func (*deadline) Name() string { return deadlineName }

// Initialize hooks a check after every kind of statement, for a call that
// was already on its way when the handle closed.
func (p *deadline) Initialize(db *gorm.DB) error {
	cb := db.Callback()
	errs := []error{
		cb.Create().Register(deadlineName, p.markClosed),
		cb.Update().Register(deadlineName, p.markClosed),
		cb.Delete().Register(deadlineName, p.markClosed),
		cb.Query().Register(deadlineName, p.markClosed),
		cb.Row().Register(deadlineName, p.markClosed),
		cb.Raw().Register(deadlineName, p.markClosed),
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("register closed check: %w", err)
	}
	return nil
}

// errClosed is what every call on a closed handle returns.
var errClosed = fmt.Errorf("%w: %w", ErrUnavailable, ErrClosed)

// markClosed gives a statement that failed on a closed handle ErrClosed.
// Whatever the failure looked like (database/sql's "database is closed",
// a connection cut under the statement), the cause is that Close ran.
func (p *deadline) markClosed(db *gorm.DB) {
	if db.Error != nil && p.closed.Load() && !errors.Is(db.Error, ErrClosed) {
		db.Error = fmt.Errorf("%w: %w", errClosed, db.Error)
	}
}

func deadlineOf(db *gorm.DB) *deadline {
	p, _ := db.Config.Plugins[deadlineName].(*deadline)
	return p
}

// SetTimeout bounds each call made through db, a statement or a whole
// transaction, to d (0: no bound but the caller's context). Migrations
// are not bounded: a large table may take long to alter.
func SetTimeout(db *gorm.DB, d time.Duration) {
	if p := deadlineOf(db); p != nil {
		p.d.Store(int64(d))
	}
}

// isClosed reports whether Close has closed db.
func isClosed(db *gorm.DB) bool {
	p := deadlineOf(db)
	return p != nil && p.closed.Load()
}

// on returns db working under ctx, bounded by the handle's timeout, and
// the function that releases the bound; store functions call it once and
// defer the release. On a closed handle, every statement and transaction
// of the returned db fails with ErrClosed without reaching database/sql.
func on(ctx context.Context, db *gorm.DB) (*gorm.DB, context.CancelFunc) {
	p := deadlineOf(db)
	if p == nil {
		return db.WithContext(ctx), func() {}
	}
	if p.closed.Load() {
		db = db.WithContext(ctx)
		db.Statement.ConnPool = closedPool{}
		return db, func() {}
	}
	if d := p.d.Load(); d > 0 {
		ctx, cancel := context.WithTimeout(ctx, time.Duration(d))
		return db.WithContext(ctx), cancel
	}
	return db.WithContext(ctx), func() {}
}

// closedPool stands in for the connection pool of a closed handle.
type closedPool struct{}

func (closedPool) PrepareContext(context.Context, string) (*sql.Stmt, error) { return nil, errClosed }

func (closedPool) ExecContext(context.Context, string, ...any) (sql.Result, error) {
	return nil, errClosed
}

func (closedPool) QueryContext(context.Context, string, ...any) (*sql.Rows, error) {
	return nil, errClosed
}

// QueryRowContext cannot carry an error of its own in a *sql.Row; the
// store reads rows through QueryContext (Scan, Find), never through Row.
func (closedPool) QueryRowContext(context.Context, string, ...any) *sql.Row { return nil }

func (closedPool) BeginTx(context.Context, *sql.TxOptions) (*sql.Tx, error) { return nil, errClosed }
